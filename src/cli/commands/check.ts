import type { Command } from 'commander';
import { translateDirectory } from '../offline';
import { parseFormat, printData } from '../output';

/**
 * Like `glooctl check`: every resource that is Rejected or has warnings, and every file that does not
 * parse. Exits 1 when there is any, so that CI can gate on it.
 */
export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('report broken resources; exits 1 when there are any')
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (options: { configDir: string; output: string }) => {
      const format = parseFormat(options.output, ['table', 'json']);
      const { reports } = await translateDirectory(options.configDir);
      const problems = reports.filter((report) => report.state !== 'Accepted');
      if (format === 'json') printData({ ok: problems.length === 0, problems }, 'json');
      else {
        for (const problem of problems) {
          const what =
            problem.kind === 'File'
              ? `file ${problem.name}`
              : `${problem.kind} ${problem.namespace}/${problem.name}`;
          process.stdout.write(
            `${problem.state}: ${what}\n${problem.reasons.map((reason) => `  - ${reason}\n`).join('')}`,
          );
        }
        const counted = reports.filter((report) => report.kind !== 'File').length;
        process.stdout.write(
          problems.length === 0
            ? `No problems detected (${counted} resources checked).\n`
            : `${problems.length} resource(s) need attention.\n`,
        );
      }
      if (problems.length > 0) process.exitCode = 1;
    });
}

import type { Command } from 'commander';
import { redactDiscoveredSecrets } from '../../xds/redact';
import { discoverDirectory } from '../discovery';
import { parseFormat, printData, printTable } from '../output';

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description(
      'run function discovery once, print the functions found per upstream, and record them for serve/translate',
    )
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('-o, --output <format>', 'json, yaml or table', 'json')
    .action(async (options: { configDir: string; output: string }) => {
      const format = parseFormat(options.output, ['json', 'yaml', 'table']);
      const discovered = await discoverDirectory(options.configDir);
      if (format === 'table') {
        printTable(
          ['UPSTREAM', 'DISCOVERER', 'FUNCTIONS', 'ERROR'],
          [...discovered].map(([id, found]) => [
            id,
            found.discoverer,
            String(found.functions.length),
            found.error ?? '',
          ]),
        );
      } else {
        const shown = [...discovered].map(([id, found]) => [id, redactDiscoveredSecrets(found)]);
        printData(Object.fromEntries(shown), format);
      }
      for (const [id, found] of discovered) {
        if (found.error)
          process.stderr.write(
            `sluice: discovery of ${id} failed (last known functions kept): ${found.error}\n`,
          );
      }
    });
}

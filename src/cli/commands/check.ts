import type { Command } from 'commander';
import { withClusterTranslation, type ClusterReadOptions } from '../cluster';
import { checkSluiceDeployment, rejectedByControlPlane } from '../cluster-health';
import { addKubeOptions, addSluiceNamespaceOption } from '../kube-options';
import { UserError } from '../errors';
import { translateDirectory, type ResourceReportRow } from '../offline';
import { parseFormat, printData } from '../output';

interface CheckOptions extends ClusterReadOptions {
  configDir: string;
  output: string;
  exclude?: string;
}

/** Cluster checks that `--exclude` may skip, as `glooctl check -x` does. */
const EXCLUDABLE = ['deployment'];

function excludedChecks(exclude: string | undefined): Set<string> {
  const names = (exclude ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !EXCLUDABLE.includes(name));
  if (unknown.length > 0) {
    throw new UserError(
      `--exclude ${unknown.join(',')}: checks that can be skipped: ${EXCLUDABLE.join(', ')}`,
    );
  }
  return new Set(names);
}

interface CheckResult {
  /** Every resource (and broken file) translation reported on, problems or not. */
  reports: ResourceReportRow[];
  /** Problems beyond the translation's: the cluster's (`--kube`). */
  clusterProblems: ResourceReportRow[];
}

/**
 * Like `glooctl check`: every resource that is Rejected or has warnings, and every file that does not
 * parse; with `--kube`, also whether Sluice runs and what its statuses say. Exits 1 when there is any
 * problem, so that CI can gate on it.
 */
export function registerCheck(program: Command): void {
  const check = program
    .command('check')
    .description('report broken resources; exits 1 when there are any')
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.');
  addSluiceNamespaceOption(
    addKubeOptions(
      check,
      'check the resources in Kubernetes, and that the Sluice Deployment is ready, instead of a directory',
    ),
  )
    .option(
      '-x, --exclude <checks>',
      `with --kube: cluster checks to skip, comma-separated (${EXCLUDABLE.join(', ')}), e.g. when Sluice runs outside the cluster`,
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (options: CheckOptions) => {
      const format = parseFormat(options.output, ['table', 'json']);
      const excluded = excludedChecks(options.exclude);
      const { reports, clusterProblems } = options.kube
        ? await checkCluster(options, excluded)
        : { reports: (await translateDirectory(options.configDir)).reports, clusterProblems: [] };
      const problems = [...reports.filter((report) => report.state !== 'Accepted'), ...clusterProblems];
      if (format === 'json') printData({ ok: problems.length === 0, problems }, 'json');
      else printProblems(problems, reports.filter((report) => report.kind !== 'File').length);
      if (problems.length > 0) process.exitCode = 1;
    });
}

function checkCluster(options: CheckOptions, excluded: Set<string>): Promise<CheckResult> {
  return withClusterTranslation(options, async (cluster, { client }) => {
    const deployment = excluded.has('deployment')
      ? {}
      : await checkSluiceDeployment(client, options.sluiceNamespace);
    if (deployment.note) process.stderr.write(`sluice: ${deployment.note}\n`);
    return {
      reports: cluster.reports,
      clusterProblems: [
        ...(deployment.problem ? [deployment.problem] : []),
        ...rejectedByControlPlane(cluster),
      ],
    };
  });
}

function printProblems(problems: ResourceReportRow[], checked: number): void {
  for (const problem of problems) {
    const what =
      problem.kind === 'File'
        ? `file ${problem.name}`
        : `${problem.kind} ${problem.namespace}/${problem.name}`;
    process.stdout.write(
      `${problem.state}: ${what}\n${problem.reasons.map((reason) => `  - ${reason}\n`).join('')}`,
    );
  }
  process.stdout.write(
    problems.length === 0
      ? `No problems detected (${checked} resources checked).\n`
      : `${problems.length} resource(s) need attention.\n`,
  );
}

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { translateDirectory, type OfflineResult, type ResourceReportRow } from '../../src/cli/offline';
import type { Json } from '../../src/translator/plugin';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { sluice } from '../helpers/sluice-cli';
import { invalidForEnvoyReasons, xdsProblems } from './envoy-rules';

/**
 * The bad-input corpus: each entry of cases/ (a file, or a directory of files) is one malformed input.
 * Its first lines say which resource must report it (`Kind/name`, or `File` for a file that names no
 * resource) and a piece of the reason, e.g.
 *
 *   # reported: VirtualService/regex-lookahead
 *   # reason: spec.virtualHost.routes[0].matchers[0].regex: invalid regex
 *
 * Each case is copied into a fresh directory beside valid.yaml and goes through the file store, the
 * validator, the translator and the xDS encoder exactly as `sluice check` runs them. Inputs too big to
 * keep in the repository are generated below with the same header.
 */
const CASES_DIR = path.join(__dirname, 'cases');
const VALID_YAML = fs.readFileSync(path.join(__dirname, 'valid.yaml'));
const VALID_DOMAIN = 'valid.example.com';
const VALID_PREFIX = '/valid';
const NEIGHBOURS = ['Upstream/valid-upstream', 'VirtualService/valid'];

interface CorpusCase {
  name: string;
  /** File name -> content, written beside valid.yaml. */
  files: Record<string, Buffer>;
  /** `Kind/name` of the resource that must report the problem, or `File`. */
  reported: string;
  reason: string;
}

function header(files: Buffer[], field: string): string {
  for (const file of files) {
    const line = file
      .toString('latin1')
      .split('\n')
      .find((text) => text.startsWith(`# ${field}: `));
    if (line) return line.slice(`# ${field}: `.length);
  }
  throw new Error(`no "# ${field}:" line`);
}

function corpusCase(name: string, files: Record<string, Buffer>): CorpusCase {
  const contents = Object.values(files);
  return { name, files, reported: header(contents, 'reported'), reason: header(contents, 'reason') };
}

function committedCases(): CorpusCase[] {
  return fs
    .readdirSync(CASES_DIR)
    .filter((name) => !name.startsWith('.'))
    .sort()
    .map((name) => {
      const full = path.join(CASES_DIR, name);
      const names = fs.statSync(full).isDirectory() ? fs.readdirSync(full).sort() : [''];
      return corpusCase(
        name,
        Object.fromEntries(names.map((file) => [file || name, fs.readFileSync(path.join(full, file))])),
      );
    });
}

function generated(name: string, reported: string, reason: string, body: string): CorpusCase {
  const text = `# reported: ${reported}\n# reason: ${reason}\n${body}`;
  return corpusCase(name, { [`${name}.yaml`]: Buffer.from(text) });
}

const DEPTH = 10_000;
const ROUTES = 10_000;
const FIVE_MB = 'x'.repeat(5 * 1024 * 1024);

function virtualService(name: string, routes: string): string {
  return `apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  virtualHost:
    domains: [${name}.example.com]
    routes:
${routes}`;
}

/** Inputs too big to keep in the repository. */
function generatedCases(): CorpusCase[] {
  const manyRoutes = Array.from(
    { length: ROUTES },
    (_, index) =>
      `    - {matchers: [{prefix: /r${index}}], routeAction: {single: {upstream: {name: valid-upstream}}}}\n`,
  ).join('');
  const deepBlock = Array.from({ length: 1000 }, (_, level) => `${' '.repeat(level + 2)}nested:\n`).join('');
  return [
    generated(
      'g1-five-megabyte-body',
      'VirtualService/big-body',
      'directResponseAction.body',
      virtualService(
        'big-body',
        `    - {matchers: [{prefix: /big}], directResponseAction: {status: 200, body: "${FIVE_MB}"}}\n`,
      ),
    ),
    generated(
      'g2-five-megabyte-header-value',
      'VirtualService/big-header',
      'spec.virtualHost.routes[0].options.headerManipulation.responseHeadersToAdd[0].header.value',
      virtualService(
        'big-header',
        '    - matchers: [{prefix: /big}]\n' +
          '      routeAction: {single: {upstream: {name: valid-upstream}}}\n' +
          `      options: {headerManipulation: {responseHeadersToAdd: [{header: {key: x-big, value: "${FIVE_MB}"}}]}}\n`,
      ),
    ),
    generated(
      'g3-deep-flow-nesting',
      'Upstream/deep-flow',
      'Maximum call stack size exceeded',
      `apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: deep-flow}\n` +
        `spec: {static: {hosts: ${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}}\n`,
    ),
    generated(
      'g4-deep-json-nesting',
      'File',
      'Maximum call stack size exceeded',
      `{"spec": ${'{"a": '.repeat(DEPTH)}1${'}'.repeat(DEPTH)}}\n`,
    ),
    generated(
      'g5-deep-block-nesting',
      'Upstream/deep-block',
      'Maximum call stack size exceeded',
      `apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: deep-block}\nspec:\n${deepBlock}`,
    ),
    generated(
      'g6-ten-thousand-routes-one-bad',
      'VirtualService/many-routes',
      `spec.virtualHost.routes[${ROUTES}].matchers[0].regex: invalid regex`,
      virtualService(
        'many-routes',
        `${manyRoutes}    - {matchers: [{regex: "/(?=x)"}], directResponseAction: {status: 200}}\n`,
      ),
    ),
  ];
}

const tempDirs: string[] = [];

function caseDirectory(corpus: CorpusCase | undefined): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-corpus-'));
  tempDirs.push(dir);
  fs.writeFileSync(path.join(dir, 'valid.yaml'), VALID_YAML);
  for (const [name, content] of Object.entries(corpus?.files ?? {})) {
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function rowsOf(result: OfflineResult, reported: string): ResourceReportRow[] {
  return result.reports.filter((row) =>
    reported === 'File' ? row.kind === 'File' : `${row.kind}/${row.name}` === reported,
  );
}

/** Proxies whose encoded snapshot routes valid.example.com/valid to a cluster that it also serves. */
function proxiesServingTheValidRoute(result: OfflineResult): string[] {
  return [...result.snapshots].flatMap(([proxy, snapshot]) => {
    const clusters = snapshot.get(TYPE_URLS.cluster);
    const served = [...(snapshot.get(TYPE_URLS.route)?.values() ?? [])].some((config) =>
      ((config.json.virtualHosts ?? []) as Json[]).some(
        (virtualHost) =>
          (virtualHost.domains as string[]).includes(VALID_DOMAIN) &&
          ((virtualHost.routes ?? []) as Json[]).some((route) => {
            const { match, route: action } = route as { match?: Json; route?: Json };
            return match?.prefix === VALID_PREFIX && clusters?.has(String(action?.cluster));
          }),
      ),
    );
    return served ? [proxy] : [];
  });
}

describe('the bad-input corpus', () => {
  const cases = [...committedCases(), ...generatedCases()];

  it('keeps at least 50 malformed inputs in test/corpus/cases', () => {
    expect(committedCases().length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((corpus) => [corpus.name, corpus] as const))(
    '%s: reported by name, neighbours still served, xDS valid',
    async (_name, corpus) => {
      const result = await translateDirectory(caseDirectory(corpus));

      const reported = rowsOf(result, corpus.reported).filter((row) => row.state !== 'Accepted');
      expect(reported.flatMap((row) => row.reasons)).toContainEqual(expect.stringContaining(corpus.reason));
      for (const neighbour of NEIGHBOURS) {
        expect(rowsOf(result, neighbour).map((row) => [row.state, ...row.reasons])).toEqual([['Accepted']]);
      }
      expect(proxiesServingTheValidRoute(result)).not.toEqual([]);
      expect(xdsProblems(result.snapshots)).toEqual([]);
      expect(invalidForEnvoyReasons(result.reports.flatMap((row) => row.reasons))).toEqual([]);
    },
  );
});

describe('sluice check on the corpus', () => {
  const byName = new Map(committedCases().map((corpus) => [corpus.name, corpus]));

  it('exits 0 on the valid neighbours alone', async () => {
    const checked = await sluice(['check', '--config-dir', caseDirectory(undefined)]);
    expect(checked).toMatchObject({ code: 0, stdout: expect.stringContaining('No problems detected') });
  });

  it.each(['01-tab-indentation.yaml', '44-regex-lookahead.yaml', '61-duplicate-name-across-files'])(
    'exits 1 on %s and says what is wrong',
    async (name) => {
      const corpus = byName.get(name) as CorpusCase;
      const checked = await sluice(['check', '--config-dir', caseDirectory(corpus)]);
      expect(checked.code).toBe(1);
      expect(checked.stdout).toContain(corpus.reason);
      expect(checked.stdout).toContain('need attention');
    },
  );
});

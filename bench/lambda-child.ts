/**
 * Lambda benchmark, child side (forked by bench/lambda.ts with --expose-gc, so its memory is its own):
 * 1. the real function discovery (`discoverAll`) against the loopback Lambda API the parent serves;
 * 2. the real pipeline (`loadSnapshot` -> `translate` -> `buildXdsSnapshots`) for VirtualServices whose
 *    routes go to the discovered functions.
 * Reports each result to the parent over IPC as soon as it has it, so a timeout loses only the case in
 * progress.
 */
import { performance } from 'perf_hooks';
import pino from 'pino';
import { loadSnapshot } from '../src/api/load';
import type { Resource } from '../src/api/resource';
import { buildXdsSnapshots } from '../src/control-plane/xds-snapshots';
import { discoverAll } from '../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../src/discovery/fds/discovered';
import type { StoreContents, StoredResource } from '../src/store/store';
import { lambdaFunctions } from '../src/translator/plugins/aws-lambda/functions';
import { translate } from '../src/translator/translate';
import { ResourceEncoder } from '../src/xds/encode';
import { countResources, reportProblems, totalBytes, type StageTimes } from './pipeline';
import { median } from './stats';

const NS = 'default';
const UPSTREAM = 'aws-east';
const UPSTREAM_ID = `${NS}/${UPSTREAM}`;

export interface LambdaCaseSpec {
  label: string;
  /** Routes in the one VirtualService. */
  routes: number;
  /** Discovered functions (logical names) the upstream has: the first `functions` in name order. */
  functions: number;
  /** Route k goes to a distinct function (true) or to function k mod `functions` (false). */
  distinct: boolean;
  reps: number;
  /**
   * Only run if the prediction from the cases before (ms for all repetitions) is at most this; otherwise
   * report it as not run (the parent extrapolates). Undefined: always run.
   */
  budgetMs?: number;
}

export interface LambdaJob {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Functions the parent created (each with `versions` versions and `aliases` aliases). */
  functions: number;
  versions: number;
  aliases: number;
  /** Discovery runs (the second and later get the previous result, as the poller does). */
  discoveryRuns: number;
  /** Skip further discovery runs once one took longer than this. */
  discoveryRepeatUnderMs: number;
  cases: LambdaCaseSpec[];
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface DiscoveryRun {
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Logical names found for the upstream. */
  found: number;
  distinctNames: number;
  /** Expected logical names (NAME, NAME:VERSION, NAME:ALIAS) missing from the result. */
  missing: number;
  error?: string;
  before: MemorySample;
  /** Right after the run (garbage not yet collected). */
  after: MemorySample;
  /** Highest RSS sampled every 20 ms during the run. */
  peakRssSampled: number;
  /** Heap used after a full GC, with the result referenced. */
  heapRetained: number;
  /** JSON of the discovered map (what `discovered.json` persists). */
  jsonBytes: number;
}

export interface LambdaCaseResult {
  label: string;
  routes: number;
  functions: number;
  distinct: boolean;
  runs: StageTimes[];
  median: StageTimes;
  counts: Record<string, number>;
  bytes: number;
  /** Bytes of the largest RouteConfiguration. */
  routeConfigBytes: number;
  problems: string[];
  rssAfter: number;
  heapRetained: number;
  /** Median ms of one `lambdaFunctions(upstream, snapshot)` call (what each Lambda route does). */
  lambdaFunctionsMs: number;
}

export interface LambdaSkipped {
  label: string;
  routes: number;
  functions: number;
  predictedMs: number;
  budgetMs: number;
}

export type ChildMessage =
  | { type: 'baseline'; memory: MemorySample; startupMs: number }
  | { type: 'discovery-start'; run: number }
  | { type: 'discovery'; run: number; result: DiscoveryRun }
  | { type: 'case'; result: LambdaCaseResult }
  | { type: 'skipped'; skipped: LambdaSkipped }
  | { type: 'done'; maxRss: number }
  | { type: 'error'; error: string };

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
};

const memory = (): MemorySample => {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
};

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('not forked'));
    process.send(message, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

/** Waits for the parent's `go` (so it can snapshot its request counters before the run starts). */
function go(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if ((message as { type?: string }).type === 'go') {
        process.off('message', onMessage);
        resolve();
      }
    };
    process.on('message', onMessage);
  });
}

function stored(resource: unknown): StoredResource {
  return { resource: resource as Resource, location: {} };
}

/** Secret + aws Upstream, as a user writes them (and as the discovery test builds them). */
function awsResources(job: LambdaJob): StoredResource[] {
  return [
    stored({
      apiVersion: 'sluice.dev/v1',
      kind: 'Secret',
      metadata: { name: 'aws-creds', namespace: NS },
      type: 'aws',
      data: { accessKeyId: job.accessKeyId, secretAccessKey: job.secretAccessKey },
    }),
    stored({
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: { name: UPSTREAM, namespace: NS },
      spec: {
        aws: {
          region: job.region,
          endpoint: job.endpoint,
          secretRef: { name: 'aws-creds', namespace: NS },
        },
      },
    }),
  ];
}

export function functionName(i: number): string {
  return `fn-${String(i).padStart(5, '0')}`;
}

export function aliasName(a: number): string {
  return ['live', 'stable', 'canary', 'beta'][a] ?? `alias-${a}`;
}

function expectedNames(job: LambdaJob): string[] {
  const out: string[] = [];
  for (let i = 0; i < job.functions; i++) {
    const name = functionName(i);
    out.push(name);
    for (let v = 1; v <= job.versions; v++) out.push(`${name}:${v}`);
    for (let a = 0; a < job.aliases; a++) out.push(`${name}:${aliasName(a)}`);
  }
  return out;
}

async function runDiscovery(
  contents: StoreContents,
  previous: Map<string, DiscoveredFunctions>,
  expected: readonly string[],
): Promise<{ result: DiscoveryRun; discovered: Map<string, DiscoveredFunctions> }> {
  const logger = pino({ level: 'silent' });
  gc();
  const before = memory();
  let peakRssSampled = before.rss;
  const sampler = setInterval(() => {
    peakRssSampled = Math.max(peakRssSampled, process.memoryUsage().rss);
  }, 20);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // The snapshot is built inside the timed section, as `sluice discover` does.
  const { snapshot } = loadSnapshot(contents);
  const discovered = await discoverAll(snapshot, previous, logger);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const after = memory();
  peakRssSampled = Math.max(peakRssSampled, after.rss);
  gc();
  const heapRetained = process.memoryUsage().heapUsed;
  const entry = discovered.get(UPSTREAM_ID);
  const names = (entry?.functions ?? []).map((fn) => String(fn.logicalName));
  const have = new Set(names);
  return {
    discovered,
    result: {
      wallMs,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      found: names.length,
      distinctNames: have.size,
      missing: expected.filter((name) => !have.has(name)).length,
      error: entry ? entry.error : `no discovery result for ${UPSTREAM_ID}`,
      before,
      after,
      peakRssSampled,
      heapRetained,
      jsonBytes: Buffer.byteLength(JSON.stringify(Object.fromEntries(discovered))),
    },
  };
}

/** The discovered map restricted to the first `count` functions (in name order). */
function restricted(
  discovered: ReadonlyMap<string, DiscoveredFunctions>,
  count: number,
): Map<string, DiscoveredFunctions> {
  const entry = discovered.get(UPSTREAM_ID);
  if (!entry) throw new Error(`no discovery result for ${UPSTREAM_ID}`);
  if (entry.functions.length < count)
    throw new Error(`only ${entry.functions.length} functions discovered, ${count} wanted`);
  return new Map([[UPSTREAM_ID, { ...entry, functions: entry.functions.slice(0, count) }]]);
}

/** Which of `functions` names route k goes to: distinct names spread evenly (mixing $LATEST, versions, aliases). */
function targetIndex(k: number, spec: LambdaCaseSpec): number {
  if (!spec.distinct) return k % spec.functions;
  const stride = Math.floor(spec.functions / spec.routes);
  return k * stride + (k % stride);
}

function caseContents(job: LambdaJob, spec: LambdaCaseSpec, names: readonly string[]): StoreContents {
  if (spec.distinct && spec.routes > spec.functions)
    throw new Error(`${spec.label}: ${spec.routes} distinct routes need as many functions`);
  const routes: Record<string, unknown>[] = [];
  for (let k = 0; k < spec.routes; k++) {
    routes.push({
      matchers: [{ prefix: `/lambda/${k}/` }],
      routeAction: {
        single: { upstream: { name: UPSTREAM, namespace: NS }, function: names[targetIndex(k, spec)] },
      },
    });
  }
  return {
    resources: [
      ...awsResources(job),
      stored({
        apiVersion: 'sluice.dev/v1',
        kind: 'VirtualService',
        metadata: { name: 'lambdas', namespace: NS },
        spec: { virtualHost: { domains: ['lambda.example.com'], routes } },
      }),
    ],
    errors: [],
  };
}

function runCase(
  job: LambdaJob,
  spec: LambdaCaseSpec,
  discoveredAll: ReadonlyMap<string, DiscoveredFunctions>,
): LambdaCaseResult {
  const discovered = restricted(discoveredAll, spec.functions);
  const names = (discovered.get(UPSTREAM_ID) as DiscoveredFunctions).functions.map((fn) =>
    String(fn.logicalName),
  );
  const contents = caseContents(job, spec, names);

  // The per-route cost the aws-lambda plugin pays: its function table, rebuilt for each route.
  const probe = loadSnapshot(contents, new Map(), discovered).snapshot;
  const upstream = [...probe.upstreams.values()][0];
  // Three warm-up calls, then up to 25 timed ones (at most ~1.5 s of them); the median is reported.
  for (let i = 0; i < 3; i++) lambdaFunctions(upstream, probe);
  const perCall: number[] = [];
  const probeStart = performance.now();
  for (let i = 0; i < 25 && (i < 5 || performance.now() - probeStart < 1500); i++) {
    const t = performance.now();
    lambdaFunctions(upstream, probe);
    perCall.push(performance.now() - t);
  }

  const runs: StageTimes[] = [];
  let last: { translation: ReturnType<typeof translate>; snapshots: ReturnType<typeof buildXdsSnapshots> } =
    undefined as never;
  for (let rep = 0; rep < spec.reps; rep++) {
    last = undefined as never;
    gc();
    const t0 = performance.now();
    const loaded = loadSnapshot(contents, new Map(), discovered);
    const t1 = performance.now();
    const translation = translate(loaded.snapshot, loaded.reports);
    const t2 = performance.now();
    const snapshots = buildXdsSnapshots(
      translation.envoy,
      new ResourceEncoder(),
      translation.reports,
      new Map(),
    );
    const t3 = performance.now();
    runs.push({ load: t1 - t0, translate: t2 - t1, build: t3 - t2, total: t3 - t0 });
    last = { translation, snapshots };
    process.stderr.write(
      `  lambda ${spec.label} rep ${rep + 1}/${spec.reps}: load ${(t1 - t0).toFixed(0)} ms, translate ${(t2 - t1).toFixed(0)} ms, build ${(t3 - t2).toFixed(0)} ms\n`,
    );
  }
  const rssAfter = process.memoryUsage().rss;
  gc();
  const heapRetained = process.memoryUsage().heapUsed;
  let routeConfigBytes = 0;
  for (const snapshot of last.snapshots.values())
    for (const [typeUrl, byName] of snapshot)
      if (typeUrl.endsWith('RouteConfiguration'))
        for (const r of byName.values()) routeConfigBytes = Math.max(routeConfigBytes, r.bytes.length);
  const med = (pick: (t: StageTimes) => number) => median(runs.map(pick));
  return {
    label: spec.label,
    routes: spec.routes,
    functions: spec.functions,
    distinct: spec.distinct,
    runs,
    median: {
      load: med((t) => t.load),
      translate: med((t) => t.translate),
      build: med((t) => t.build),
      total: med((t) => t.total),
    },
    counts: countResources(last.snapshots),
    bytes: totalBytes(last.snapshots),
    routeConfigBytes,
    problems: reportProblems(last.translation).slice(0, 5),
    rssAfter,
    heapRetained,
    lambdaFunctionsMs: median(perCall),
  };
}

/**
 * Predicted ms for all repetitions of `spec` from the cases already measured: load + build scale with
 * routes; translate = routes x (the per-route cost measured minus its `lambdaFunctions` part + the
 * `lambdaFunctions` cost, which scales with the number of functions).
 */
export function predictMs(spec: LambdaCaseSpec, measured: readonly LambdaCaseResult[]): number {
  const byRoutes = [...measured].sort((a, b) => b.routes - a.routes)[0];
  const byFunctions = [...measured].sort((a, b) => b.functions - a.functions)[0];
  if (!byRoutes || !byFunctions) return Infinity;
  const perRoute = (byRoutes.median.load + byRoutes.median.build) / byRoutes.routes;
  const translatePerRouteBase = Math.max(
    0,
    byRoutes.median.translate / byRoutes.routes - byRoutes.lambdaFunctionsMs,
  );
  const lambdaFunctionsMs = byFunctions.lambdaFunctionsMs * (spec.functions / byFunctions.functions);
  return spec.reps * spec.routes * (perRoute + translatePerRouteBase + lambdaFunctionsMs);
}

async function main(job: LambdaJob): Promise<void> {
  gc();
  // performance.now() counts from process start: node start-up + loading the modules (AWS SDK included).
  await send({ type: 'baseline', memory: memory(), startupMs: performance.now() });
  const contents: StoreContents = { resources: awsResources(job), errors: [] };
  const expected = expectedNames(job);
  let discovered = new Map<string, DiscoveredFunctions>();
  for (let run = 1; run <= job.discoveryRuns; run++) {
    const started = go();
    await send({ type: 'discovery-start', run });
    await started;
    const { result, discovered: found } = await runDiscovery(contents, discovered, expected);
    discovered = found;
    await send({ type: 'discovery', run, result });
    if (result.error || result.wallMs > job.discoveryRepeatUnderMs) break;
  }
  const found = discovered.get(UPSTREAM_ID);
  if (!found || found.functions.length === 0) throw new Error('discovery found no functions');
  const measured: LambdaCaseResult[] = [];
  for (const spec of job.cases) {
    if (spec.budgetMs !== undefined) {
      const predictedMs = predictMs(spec, measured);
      if (predictedMs > spec.budgetMs) {
        await send({
          type: 'skipped',
          skipped: {
            label: spec.label,
            routes: spec.routes,
            functions: spec.functions,
            predictedMs,
            budgetMs: spec.budgetMs,
          },
        });
        continue;
      }
    }
    const result = runCase(job, spec, discovered);
    measured.push(result);
    await send({ type: 'case', result });
  }
  await send({ type: 'done', maxRss: process.resourceUsage().maxRSS * 1024 });
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2]) as LambdaJob;
  main(job).then(
    () => process.exit(0),
    (error: unknown) => {
      const message = (error as Error).stack ?? String(error);
      if (process.send) process.send({ type: 'error', error: message }, () => process.exit(1));
      else process.exit(1);
    },
  );
}

/**
 * AWS Lambda benchmark, parent side: serves the loopback Lambda API (test/helpers/lambda-api-server)
 * with FUNCTIONS functions (each VERSIONS published versions and ALIASES aliases), forks
 * bench/lambda-child.js to discover them with the real discoverer and to translate routes to them, and
 * renders the BENCHMARKS.md section. The fake server runs in this process, so the child's time and
 * memory are discovery's (the two processes still share the machine's 2 cores).
 */
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
import { LambdaApiServer } from '../test/helpers/lambda-api-server';
import type {
  ChildMessage,
  DiscoveryRun,
  LambdaCaseResult,
  LambdaCaseSpec,
  LambdaJob,
  LambdaSkipped,
  MemorySample,
} from './lambda-child';
import { aliasName, functionName } from './lambda-child';
import { mb, ms, progress, ratio, table } from './stats';
import type { TranslateResult } from './translate-child';

const FUNCTIONS = 5000;
const VERSIONS = 3;
const ALIASES = 2;
const NAMES = FUNCTIONS * (1 + VERSIONS + ALIASES);
const FULL_ROUTES = 15000;
const REGION = 'us-east-2';
const ACCOUNT = '210987654321';
/** The full-size translation (15,000 routes x 30,000 functions) runs only if predicted under this. */
const FULL_BUDGET_MS = 120_000;
/** Set to 1 to run the full-size translation whatever its predicted time. */
const FORCE_FULL = process.env.SLUICE_BENCH_LAMBDA_FULL === '1';
const DISCOVERY_TIMEOUT_MS = 240_000;
const TRANSLATION_TIMEOUT_MS = FORCE_FULL ? 1_200_000 : 300_000;
const OPERATIONS = ['ListFunctions', 'ListVersionsByFunction', 'ListAliases'] as const;
const PAGE = 50;

type Counts = Record<(typeof OPERATIONS)[number] | 'total' | 'failed', number>;

export interface DiscoverySummary {
  run: number;
  child: DiscoveryRun;
  calls: Counts;
  /** CPU time of this (the fake server's) process during the run: SigV4 checks and JSON answers. */
  serverCpuMs: number;
}

export interface PartialDiscovery {
  run: number;
  elapsedMs: number;
  calls: Counts;
  /** Share of the per-function calls done when the run was stopped. */
  progress: number;
}

export interface LambdaSummary {
  functions: number;
  versions: number;
  aliases: number;
  populateMs: number;
  baseline?: { memory: MemorySample; startupMs: number };
  discovery: DiscoverySummary[];
  partialDiscovery?: PartialDiscovery;
  cases: LambdaCaseResult[];
  skipped: LambdaSkipped[];
  maxRss?: number;
  errors: string[];
  forcedFull: boolean;
}

function counts(server: LambdaApiServer): Counts {
  const out = { total: server.requests.length, failed: 0 } as Counts;
  for (const op of OPERATIONS) out[op] = server.count(op);
  out.failed = server.requests.filter((r) => r.status !== 200).length;
  return out;
}

function diff(a: Counts, b: Counts): Counts {
  const out = {} as Counts;
  for (const k of Object.keys(a) as Array<keyof Counts>) out[k] = b[k] - a[k];
  return out;
}

function populate(server: LambdaApiServer): void {
  for (let i = 0; i < FUNCTIONS; i++) {
    const name = functionName(i);
    server.addFunction(name);
    for (let v = 0; v < VERSIONS; v++) server.publishVersion(name);
    // live -> newest version, stable -> the one before, ...
    for (let a = 0; a < ALIASES; a++) server.addAlias(name, aliasName(a), String(Math.max(1, VERSIONS - a)));
  }
}

function cases(): LambdaCaseSpec[] {
  return [
    { label: '500 routes, 3,000 functions', routes: 500, functions: 3000, distinct: true, reps: 3 },
    { label: '500 routes, 30,000 functions', routes: 500, functions: NAMES, distinct: true, reps: 2 },
    {
      label: '15,000 routes, 600 functions (each used by 25 routes)',
      routes: FULL_ROUTES,
      functions: 600,
      distinct: false,
      reps: 2,
    },
    {
      label: `${FULL_ROUTES.toLocaleString('en-US')} routes, ${NAMES.toLocaleString('en-US')} functions (target size)`,
      routes: FULL_ROUTES,
      functions: NAMES,
      distinct: true,
      reps: 1,
      ...(FORCE_FULL ? {} : { budgetMs: FULL_BUDGET_MS }),
    },
  ];
}

export async function runLambdaBench(): Promise<LambdaSummary> {
  const summary: LambdaSummary = {
    functions: FUNCTIONS,
    versions: VERSIONS,
    aliases: ALIASES,
    populateMs: 0,
    discovery: [],
    cases: [],
    skipped: [],
    errors: [],
    forcedFull: FORCE_FULL,
  };
  const server = new LambdaApiServer({ region: REGION, accountId: ACCOUNT });
  await server.start();
  try {
    const t0 = Date.now();
    populate(server);
    summary.populateMs = Date.now() - t0;
    progress(
      `lambda: fake Lambda API with ${FUNCTIONS} functions x (${VERSIONS} versions + ${ALIASES} aliases) ` +
        `populated in ${summary.populateMs} ms`,
    );
    const { accessKeyId, secretAccessKey } = server.credentials();
    const job: LambdaJob = {
      endpoint: server.endpoint(),
      region: REGION,
      accessKeyId,
      secretAccessKey,
      functions: FUNCTIONS,
      versions: VERSIONS,
      aliases: ALIASES,
      discoveryRuns: 2,
      discoveryRepeatUnderMs: 60_000,
      cases: cases(),
    };
    await runChild(job, server, summary);
  } catch (error) {
    summary.errors.push((error as Error).stack ?? String(error));
    progress(`lambda: FAILED: ${(error as Error).message}`);
  } finally {
    await server.stop();
  }
  return summary;
}

function runChild(job: LambdaJob, server: LambdaApiServer, summary: LambdaSummary): Promise<void> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(path.join(__dirname, 'lambda-child.js'), [JSON.stringify(job)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let phase: { run: number; started: number; calls: Counts; cpu: NodeJS.CpuUsage } | undefined;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (error) reject(error);
      else resolve();
    };
    const arm = (timeoutMs: number, what: string) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (phase) {
          const calls = diff(phase.calls, counts(server));
          summary.partialDiscovery = {
            run: phase.run,
            elapsedMs: Date.now() - phase.started,
            calls,
            progress: (calls.ListVersionsByFunction + calls.ListAliases) / (2 * FUNCTIONS),
          };
        }
        finish(new Error(`${what}: timed out after ${timeoutMs / 1000} s`));
      }, timeoutMs);
    };
    arm(60_000, 'lambda child start-up');
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'baseline':
          summary.baseline = { memory: message.memory, startupMs: message.startupMs };
          break;
        case 'discovery-start':
          phase = { run: message.run, started: Date.now(), calls: counts(server), cpu: process.cpuUsage() };
          arm(DISCOVERY_TIMEOUT_MS, `discovery run ${message.run}`);
          child.send({ type: 'go' });
          progress(
            `lambda: discovery run ${message.run} (${FUNCTIONS} functions${message.run === 1 ? ', fresh child process' : ', same child, previous result given'})`,
          );
          break;
        case 'discovery': {
          const start = phase as NonNullable<typeof phase>;
          const cpu = process.cpuUsage(start.cpu);
          const calls = diff(start.calls, counts(server));
          phase = undefined;
          summary.discovery.push({
            run: message.run,
            child: message.result,
            calls,
            serverCpuMs: (cpu.user + cpu.system) / 1000,
          });
          progress(
            `  discovery run ${message.run}: ${ms(message.result.wallMs)} ms, ${message.result.found} names, ` +
              `${calls.total} API calls, peak RSS ${mb(message.result.peakRssSampled)} MB` +
              (message.result.error ? `, error: ${message.result.error}` : ''),
          );
          arm(TRANSLATION_TIMEOUT_MS, 'lambda translation');
          break;
        }
        case 'case':
          summary.cases.push(message.result);
          progress(
            `  lambda ${message.result.label}: median total ${ms(message.result.median.total)} ms ` +
              `(translate ${ms(message.result.median.translate)}), lambdaFunctions() ${ms(message.result.lambdaFunctionsMs)} ms/call`,
          );
          break;
        case 'skipped':
          summary.skipped.push(message.skipped);
          progress(
            `  lambda ${message.skipped.label}: not run, predicted ${ms(message.skipped.predictedMs / 1000)} s ` +
              `> budget ${message.skipped.budgetMs / 1000} s (SLUICE_BENCH_LAMBDA_FULL=1 runs it)`,
          );
          break;
        case 'done':
          summary.maxRss = message.maxRss;
          finish();
          break;
        case 'error':
          finish(new Error(message.error));
          break;
      }
    });
    child.on('exit', (code) => finish(new Error(`lambda child exited with ${code} before reporting`)));
  });
}

// ------------------------------------------------------------------------------------- rendering

const num = (n: number): string => n.toLocaleString('en-US');
const sec = (millis: number): string => `${(millis / 1000).toFixed(1)} s`;

interface FullFigures {
  load: number;
  translate: number;
  build: number;
  total: number;
  measured: boolean;
  /** How the figures were obtained (for the table). */
  how: string;
}

/** The 15,000 x 30,000 case: measured, or extrapolated from the smaller cases (labelled). */
function fullFigures(summary: LambdaSummary): FullFigures | undefined {
  const full = summary.cases.find((c) => c.routes === FULL_ROUTES && c.functions === NAMES && c.distinct);
  if (full) return { ...full.median, measured: true, how: `measured (${full.runs.length} run)` };
  const reuse = summary.cases.find((c) => c.routes === FULL_ROUTES && c.functions < NAMES);
  const wide = summary.cases.find((c) => c.functions === NAMES);
  if (!reuse || !wide) return undefined;
  // Translate per route is linear in routes at a fixed number of functions (compare the 15,000-route case),
  // so the 500-route pipeline measurement at the full function count scales by routes.
  const translate = (wide.median.translate / wide.routes) * FULL_ROUTES;
  const viaProbe =
    reuse.median.translate + FULL_ROUTES * Math.max(0, wide.lambdaFunctionsMs - reuse.lambdaFunctionsMs);
  return {
    load: reuse.median.load,
    translate,
    build: reuse.median.build,
    total: reuse.median.load + translate + reuse.median.build,
    measured: false,
    how:
      `**extrapolated, not measured**: load and build of the 15,000-route case with 600 functions (they do not depend on ` +
      `the number of functions), translate = the measured translate of ${wide.label} x ${num(FULL_ROUTES / wide.routes)}. ` +
      `Cross-check from the per-call probe: the 15,000-route translate with 600 functions + 15,000 x the extra ` +
      `\`lambdaFunctions()\` cost at ${num(NAMES)} functions (${ms(wide.lambdaFunctionsMs)} - ${ms(reuse.lambdaFunctionsMs)} ms) = ` +
      `${sec(viaProbe)} for translate`,
  };
}

function discoveryTable(summary: LambdaSummary): string {
  const rows = summary.discovery.map((d) => {
    const c = d.child;
    const perFunction = c.wallMs / summary.functions;
    return [
      `${d.run}${d.run > 1 ? ' (with the previous result, as the poller runs it)' : ''}`,
      sec(c.wallMs),
      `${num(d.calls.ListFunctions)} / ${num(d.calls.ListVersionsByFunction)} / ${num(d.calls.ListAliases)} (${num(d.calls.total)})`,
      d.calls.failed ? num(d.calls.failed) : '0',
      `${((d.calls.total * 1000) / c.wallMs).toFixed(0)}`,
      ms(perFunction),
      `${num(c.found)}${c.missing ? ` (${num(c.missing)} missing)` : ''}`,
      ms(c.cpuUserMs + c.cpuSystemMs),
      ms(d.serverCpuMs),
      `${mb(c.before.rss)} -> ${mb(c.after.rss)} (peak ${mb(c.peakRssSampled)})`,
      `+${mb(c.after.heapUsed - c.before.heapUsed)}`,
      `+${mb(c.heapRetained - c.before.heapUsed)}`,
      `${(c.jsonBytes / 1024 / 1024).toFixed(1)}`,
    ];
  });
  return table(
    [
      'run',
      'wall time',
      'API calls: ListFunctions / ListVersionsByFunction / ListAliases (total)',
      'failed calls',
      'calls/s',
      'ms per function',
      'logical names found',
      'discovery CPU ms',
      'fake API CPU ms',
      'child RSS MB before -> after',
      'heap delta MB',
      'heap retained MB (after GC)',
      'discovered.json MB',
    ],
    rows,
  );
}

function translationTable(summary: LambdaSummary, full: FullFigures | undefined): string {
  const rows = summary.cases.map((c) => [
    c.label,
    String(c.runs.length),
    `${c.counts.Cluster ?? 0} / ${c.counts.ClusterLoadAssignment ?? 0} / ${c.counts.Listener ?? 0} / ${c.counts.RouteConfiguration ?? 0}`,
    num(c.routeConfigBytes),
    ms(c.median.load),
    ms(c.median.translate),
    ms(c.median.build),
    ms(c.median.total),
    ms(c.median.total / c.routes),
    ms(c.lambdaFunctionsMs),
    mb(c.rssAfter),
    mb(c.heapRetained),
  ]);
  for (const s of summary.skipped) {
    rows.push([
      `${s.label}: **not run** (predicted ${sec(s.predictedMs)} > budget ${sec(s.budgetMs)})`,
      '0',
      '',
      '',
      full && !full.measured ? `${ms(full.load)} (extrap.)` : '',
      full && !full.measured ? `**${ms(full.translate)} (extrapolated)**` : '',
      full && !full.measured ? `${ms(full.build)} (extrap.)` : '',
      full && !full.measured ? `**${ms(full.total)} (extrapolated)**` : '',
      full && !full.measured ? `${ms(full.total / FULL_ROUTES)} (extrap.)` : '',
      '',
      '',
      '',
    ]);
  }
  return table(
    [
      'case',
      'reps',
      'CDS / EDS / LDS / RDS',
      'RouteConfiguration bytes',
      'load',
      'translate',
      'build (encode)',
      'total',
      'ms per route',
      '`lambdaFunctions()` per call',
      'child RSS after MB',
      'child heap after GC MB',
    ],
    rows,
  );
}

export function lambdaSection(summary: LambdaSummary, core: TranslateResult | undefined): string {
  const out: string[] = [];
  out.push('## 4. AWS Lambda: discovery and translation');
  out.push('');
  out.push(
    `Setup: the loopback Lambda API of the tests (test/helpers/lambda-api-server.ts: SigV4-checked REST, pages of ${PAGE}) ` +
      `in the bench process, with ${num(summary.functions)} functions, each with ${summary.versions} published versions and ` +
      `${summary.aliases} aliases, so ${num(NAMES)} logical names (NAME, NAME:1..${summary.versions}, NAME:live, NAME:stable); ` +
      `populated in ${summary.populateMs} ms. A forked child (\`--expose-gc\`) runs the real \`discoverAll\` ` +
      '(src/discovery/fds/discover-upstream.ts: the aws-lambda discoverer with the unmodified `@aws-sdk/client-lambda`) on a ' +
      '`loadSnapshot` of an aws Secret + an aws Upstream `{region, endpoint, secretRef}`, then the translation cases. ' +
      'Loopback calls have no network latency, so wall time is CPU time on both sides (SigV4 signing and checking, JSON), ' +
      'and the fake API shares the 2 cores with the discovery.',
  );
  if (summary.baseline)
    out.push(
      '',
      `Child start-up (node + modules, AWS SDK included): ${ms(summary.baseline.startupMs)} ms, ` +
        `RSS ${mb(summary.baseline.memory.rss)} MB, heap ${mb(summary.baseline.memory.heapUsed)} MB.`,
    );
  out.push('');
  out.push('### 4.1 Discovery');
  out.push('');
  if (summary.discovery.length) {
    out.push(discoveryTable(summary));
    out.push('');
    const expectedCalls = Math.ceil(summary.functions / PAGE) + 2 * summary.functions;
    out.push(
      `Expected calls for ${num(summary.functions)} functions: ${num(Math.ceil(summary.functions / PAGE))} ListFunctions pages ` +
        `+ one ListVersionsByFunction and one ListAliases per function = ${num(expectedCalls)}. "discovery CPU" = user + ` +
        'system CPU of the child during the run; "fake API CPU" = the same for the bench process serving the API. ' +
        '"heap retained" = heap after a full GC with the discovered map referenced, minus the heap before the run.',
    );
  } else out.push('Discovery did not complete.');
  if (summary.partialDiscovery) {
    const p = summary.partialDiscovery;
    out.push('');
    out.push(
      `Discovery run ${p.run} was stopped after ${sec(p.elapsedMs)} with ${num(p.calls.total)} calls made ` +
        `(${(100 * p.progress).toFixed(0)}% of the per-function calls); **extrapolated, not measured**: ` +
        `${p.progress > 0 ? sec(p.elapsedMs / p.progress) : 'n/a'} for all ${num(summary.functions)} functions.`,
    );
  }
  const full = fullFigures(summary);
  out.push('');
  out.push('### 4.2 Translation of routes to discovered functions');
  out.push('');
  out.push(
    'Input: the Secret, the aws Upstream `aws-east` and one VirtualService whose routes each have a `prefix` matcher and ' +
      '`routeAction.single: {upstream: {name: aws-east}, function: NAME}`; NAME is a distinct logical name per route ' +
      "(spread evenly over the upstream's names, so a mix of $LATEST, versions and aliases) unless the case says otherwise. " +
      'The upstream has the first N discovered names (N = "functions"). Pipeline as in section 1: ' +
      '`loadSnapshot(contents, new Map(), discovered)` -> `translate` -> `buildXdsSnapshots` with a fresh `ResourceEncoder`; ' +
      'medians, ms. "`lambdaFunctions()` per call" = one call of the aws-lambda plugin\'s function table builder ' +
      '(src/translator/plugins/aws-lambda/functions.ts) for that upstream; the plugin calls it once per Lambda route. ' +
      'RSS and heap are absolute figures of the child (they include the discovered map and the earlier cases).',
  );
  out.push('');
  out.push(translationTable(summary, full));
  for (const c of summary.cases)
    if (c.problems.length) out.push('', `${c.label}: translation reported: ${c.problems.join('; ')}`);
  if (full) {
    out.push('');
    out.push(
      `Target size (${num(FULL_ROUTES)} routes to distinct names of ${num(NAMES)} discovered functions): ${full.how}.`,
    );
  }
  if (full && core) {
    out.push('');
    out.push(
      `### 4.3 Compared with the core translation (section 1, ${core.label}: 10,000 static upstreams + 10,000 routes, same run)`,
    );
    out.push('');
    const label = full.measured
      ? '15,000 Lambda routes (measured)'
      : '15,000 Lambda routes (**extrapolated**)';
    const stages = ['load', 'translate', 'build', 'total'] as const;
    out.push(
      table(
        ['stage', 'core 10,000 + 10,000', label, 'ratio', 'ratio per route (/ 15,000 vs / 10,000)'],
        stages.map((s) => [
          s,
          ms(core.median[s]),
          ms(full[s]),
          ratio(full[s], core.median[s]),
          ratio(full[s] / FULL_ROUTES, core.median[s] / 10000),
        ]),
      ),
    );
  }
  out.push('');
  out.push('### 4.4 Interpretation');
  out.push('');
  out.push(...interpretation(summary, full, core).map((line) => `- ${line}`));
  if (summary.errors.length) {
    out.push('');
    out.push('Errors:');
    for (const e of summary.errors) out.push('', '```', e, '```');
  }
  return out.join('\n');
}

function interpretation(
  summary: LambdaSummary,
  full: FullFigures | undefined,
  core: TranslateResult | undefined,
): string[] {
  const lines: string[] = [];
  const first = summary.discovery[0];
  if (first) {
    const c = first.child;
    lines.push(
      `Discovery of ${num(summary.functions)} functions took ${sec(c.wallMs)} on loopback and made ${num(first.calls.total)} API calls, ` +
        `${num(first.calls.ListVersionsByFunction + first.calls.ListAliases)} of them per function (two per function, at most 4 in flight). ` +
        `It found ${num(c.found)} logical names (expected ${num(NAMES)}${c.missing ? `, ${num(c.missing)} missing` : ', none missing'}). ` +
        `Against real AWS each call costs a network round trip: at 4 calls in flight and e.g. 30 ms per call, the per-function calls alone ` +
        `would take ~${sec(((first.calls.ListVersionsByFunction + first.calls.ListAliases) * 30) / 4)} per poll (default poll interval 60 s), ` +
        "before any throttling by Lambda's control-plane rate limits. ListFunctions with `FunctionVersion=ALL` returns every " +
        `version in the listing itself (${num(Math.ceil((summary.functions * (1 + summary.versions)) / PAGE))} pages here), ` +
        `which would remove the ${num(first.calls.ListVersionsByFunction)} ListVersionsByFunction calls; only ListAliases needs a call per function.`,
    );
    lines.push(
      `Memory: the discovery child grew from ${mb(c.before.rss)} MB to ${mb(c.after.rss)} MB RSS (peak ${mb(c.peakRssSampled)} MB sampled); ` +
        `the discovered map retains ~${mb(c.heapRetained - c.before.heapUsed)} MB of heap (${(c.jsonBytes / 1024 / 1024).toFixed(1)} MB as JSON), ` +
        `while the run's transient heap reached +${mb(c.after.heapUsed - c.before.heapUsed)} MB before collection. ` +
        `The fake API spent ${sec(first.serverCpuMs)} CPU answering; the discoverer itself ${sec(c.cpuUserMs + c.cpuSystemMs)} CPU (SDK signing, parsing).`,
    );
  }
  const small = summary.cases.find((c) => c.routes === 500 && c.functions < NAMES);
  const wide = summary.cases.find((c) => c.routes === 500 && c.functions === NAMES);
  if (small && wide) {
    lines.push(
      `Translation cost per Lambda route grows with the number of functions on the upstream: the same 500 routes translate in ` +
        `${ms(small.median.translate)} ms with ${num(small.functions)} functions and ${ms(wide.median.translate)} ms with ` +
        `${num(wide.functions)} (${ratio(wide.median.translate, small.median.translate)} for 10x the functions). The cause: ` +
        '`lambdaDestination` (src/translator/plugins/aws-lambda/index.ts) calls `lambdaFunctions(upstream, snapshot)` for every ' +
        'route, which rebuilds a Map of every hand-written and discovered function (iterating and copying each with ' +
        `\`{ ...fn, source }\`) only to look up one name: ${ms(wide.lambdaFunctionsMs)} ms per call at ` +
        `${num(wide.functions)} functions, ${ms(small.lambdaFunctionsMs)} ms at ${num(small.functions)}, so translate is ` +
        'O(routes x functions).',
    );
  }
  if (full) {
    lines.push(
      `At the target size (${num(FULL_ROUTES)} routes, ${num(NAMES)} functions) the pipeline takes ${sec(full.total)}` +
        `${full.measured ? '' : ' (**extrapolated**)'}, of which translate ${sec(full.translate)}` +
        (core
          ? `: ${ratio(full.total, core.median.total)} the core 10,000 + 10,000 figure (${ms(core.median.total)} ms), ` +
            `${ratio(full.total / FULL_ROUTES, core.median.total / 10000)} per route.`
          : '.'),
    );
    const reuse = summary.cases.find((c) => c.routes === FULL_ROUTES && c.functions < NAMES);
    if (reuse)
      lines.push(
        `With only ${num(reuse.functions)} functions, the same ${num(reuse.routes)} Lambda routes take ${ms(reuse.median.total)} ms ` +
          `(load ${ms(reuse.median.load)}, translate ${ms(reuse.median.translate)}, build ${ms(reuse.median.build)}); even there ` +
          `the per-route table alone accounts for ~${num(reuse.routes)} x ${ms(reuse.lambdaFunctionsMs)} ms = ` +
          `${sec(reuse.routes * reuse.lambdaFunctionsMs)} by the separate per-call probe, i.e. most of the translate stage ` +
          '(probe and pipeline are timed apart on a noisy machine, so the two do not subtract exactly)' +
          `${core ? `; the core's translate stage for 10,000 routes takes ${ms(core.median.translate)} ms` : ''}. ` +
          `Build is not a problem: one RouteConfiguration of ${num(reuse.routeConfigBytes)} bytes ` +
          `(~${Math.round(reuse.routeConfigBytes / reuse.routes)} bytes per route, each carrying its own aws_lambda PerRouteConfig Any with ` +
          'the ARN and, with a secretRef, a copy of the credentials) encodes in ' +
          `${ms(reuse.median.build)} ms. Its size is above the 4 MiB default receive limit of common gRPC libraries, which matters ` +
          'for clients that keep that default.',
      );
    lines.push(
      'Fix (src/translator/plugins/aws-lambda): build the function table once per upstream per translation instead of per route, ' +
        'e.g. memoise `lambdaFunctions` in a WeakMap keyed by the Upstream object, holding the table with the ' +
        '`snapshot.discovered` entry it was built from (rebuilt when that entry changes). Translate then becomes ' +
        'O(routes + functions); the same cache can hold the parsed `lambdaEndpoint` and the secret lookup, which are also redone per route. ' +
        'Until then, any change to the discovered map (a function published or aliased in AWS) or to any upstream or secret ' +
        'invalidates every memoised virtual host (TranslationMemo stamp) and re-runs this quadratic translate synchronously ' +
        'on the event loop that serves xDS.',
    );
  }
  const firstRun = summary.discovery[0];
  if (firstRun)
    lines.push(
      `Discovery CPU: ${sec(firstRun.child.cpuUserMs + firstRun.child.cpuSystemMs)} of CPU per poll for ${num(summary.functions)} functions, ` +
        `spent almost entirely in the AWS SDK (request building, SigV4 signing, response parsing: ~${ms((firstRun.child.cpuUserMs + firstRun.child.cpuSystemMs) / firstRun.calls.total)} ms per call), ` +
        'in the control plane process. At the default 60 s poll that is a steady share of one core, and it is proportional to the ' +
        'number of calls, so taking the versions from `ListFunctions FunctionVersion=ALL` (400 pages instead of 5,000 calls) would cut it roughly in proportion.',
    );
  lines.push(
    'The machine is shared and noisy (2 cores; the fake API and the discoverer compete for them); compare ratios within one run.',
  );
  return lines;
}

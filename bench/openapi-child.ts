/**
 * OpenAPI benchmark, child side (forked by bench/openapi.ts with --expose-gc, so the memory figures are
 * discovery's and translation's, not the document servers'). One scenario per process:
 * - `github`: GitHub's REST description behind one static upstream: cold discoveries, re-polls of
 *   unchanged content (without and with an ETag), where a cold discovery spends its time, and one
 *   `routeAction.functions` route translated and encoded;
 * - `fleet`: many static upstreams with a generated document each: a full discovery pass as
 *   `sluice discover` runs it (`discoverAll`) and as `serve` starts it (`FdsService`), a re-poll, and one
 *   `routeAction.functions` route per upstream translated and encoded.
 * Every figure goes to the parent as soon as it is measured, so a timeout loses only the step in progress.
 */
import { createHash } from 'crypto';
import { performance } from 'perf_hooks';
import SwaggerParser from '@apidevtools/swagger-parser';
import pino from 'pino';
import { loadSnapshot } from '../src/api/load';
import type { Resource } from '../src/api/resource';
import { buildXdsSnapshots } from '../src/control-plane/xds-snapshots';
import { DISCOVERY_LABEL } from '../src/discovery/fds/discoverer';
import { discoverAll } from '../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../src/discovery/fds/discovered';
import { MemoryDiscoveryState } from '../src/discovery/fds/discovery-state';
import { FdsService } from '../src/discovery/fds/fds-service';
import { fetchDocument } from '../src/discovery/fds/openapi/fetch-document';
import { DEFAULT_OPENAPI_PATHS } from '../src/discovery/fds/openapi';
import { operationsOf, type ApiDocument } from '../src/discovery/fds/openapi/operations';
import type { StoreContents } from '../src/store/store';
import { translate } from '../src/translator/translate';
import { ResourceEncoder } from '../src/xds/encode';
import type { XdsSnapshot } from '../src/xds/resources';
import { countResources, reportProblems, type StageTimes } from './pipeline';
import { median } from './stats';

const NS = 'default';
const logger = pino({ level: 'silent' });

/** Requests the document servers answered, by outcome (kept by the parent, read over HTTP). */
export interface RequestCounts {
  documents: number;
  notModified: number;
  notFound: number;
  bytes: number;
}

interface ScenarioJob {
  countersUrl: string;
  /** Where every server serves its document. */
  documentPath: string;
  /** Cold discovery passes (each with new upstream names, so the discoverer remembers nothing). */
  coldRuns: number;
  /** Re-polls of unchanged content after the first cold pass, given its result as the poller does. */
  repolls: number;
  /** Timed pipeline runs after the first (cold) one. */
  translationReps: number;
}

export interface GithubJob extends ScenarioJob {
  scenario: 'github';
  /** The server without ETags, and the one that sends them and answers If-None-Match with 304. */
  port: number;
  etagPort: number;
  breakdownReps: number;
}

export interface FleetJob extends ScenarioJob {
  scenario: 'fleet';
  ports: number[];
  /** Documents (the first ones) the per-step breakdown measures, once each. */
  breakdownDocuments: number;
}

export type OpenApiJob = GithubJob | FleetJob;

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface DiscoveryPass {
  wallMs: number;
  cpuMs: number;
  upstreams: number;
  functions: number;
  errors: string[];
  requests: RequestCounts;
  before: MemorySample;
  /** Right after the pass (garbage not yet collected). */
  after: MemorySample;
  /**
   * Highest RSS sampled every 10 ms during the pass, or the process's lifetime maxRSS when the pass raised it
   * (the sampler cannot run during synchronous stretches such as a dereference).
   */
  peakRss: number;
  /** Heap used after a full GC with the result referenced. */
  heapRetained: number;
}

/** Medians over the repetitions of the steps a cold discovery of one document takes, ms. */
export interface DiscoveryBreakdown {
  /** One probe of a path without a document (a 404). */
  probeMissing: number;
  fetch: number;
  jsonParse: number;
  dereference: number;
  operations: number;
  sha256: number;
  documentBytes: number;
  /** Operations in the document (what discovery should find). */
  operationCount: number;
}

export interface TranslationFigures {
  /** The first run in the process: Envoy protos loaded and compiled, input parsed, code not yet optimised. */
  cold: StageTimes;
  runs: StageTimes[];
  median: StageTimes;
  counts: Record<string, number>;
  routes: number;
  /** Route match kinds: exact path, uri_template, RE2 regex, prefix. */
  matchKinds: Record<string, number>;
  /** Routes with a per-route filter config (fixed query parameters added by Lua). */
  perFilterConfigRoutes: number;
  routeConfigBytes: number;
  warnings: number;
  firstProblems: string[];
  rssAfter: number;
  heapRetained: number;
}

export interface ScenarioFigures {
  startup?: { ms: number; memory: MemorySample };
  cold?: DiscoveryPass[];
  repoll?: DiscoveryPass[];
  etagCold?: DiscoveryPass[];
  etagRepoll?: DiscoveryPass[];
  poller?: DiscoveryPass;
  breakdown?: DiscoveryBreakdown;
  translation?: TranslationFigures;
  maxRss?: number;
}

export type ChildMessage =
  { type: 'figures'; figures: ScenarioFigures } | { type: 'done' } | { type: 'error'; error: string };

function collectGarbage(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
}

const sample = (): MemorySample => {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
};

function report(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send
      ? process.send(message, (error: Error | null) => (error ? reject(error) : resolve()))
      : reject(new Error('openapi-child runs forked by bench/openapi.ts')),
  );
}

async function requestCounts(url: string): Promise<RequestCounts> {
  return (await (await fetch(url)).json()) as RequestCounts;
}

function store(resources: unknown[]): StoreContents {
  return {
    resources: resources.map((resource) => ({ resource: resource as Resource, location: {} })),
    errors: [],
  };
}

/** A static upstream on a loopback port, opted in to discovery by label (the default fdsMode). */
function serviceUpstream(name: string, port: number): unknown {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: { name, namespace: NS, labels: { [DISCOVERY_LABEL]: 'enabled' } },
    spec: { static: { hosts: [{ address: '127.0.0.1', port }] } },
  };
}

/** One VirtualService with a `routeAction.functions` route per upstream, under /NAME/ (or / for one). */
function functionsVirtualService(upstreams: string[]): unknown {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name: 'apis', namespace: NS },
    spec: {
      virtualHost: {
        domains: ['api.example.com'],
        routes: upstreams.map((name) => ({
          matchers: [{ prefix: upstreams.length === 1 ? '/' : `/${name}/` }],
          routeAction: { functions: { upstream: { name } } },
        })),
      },
    },
  };
}

function summarise(
  discovered: ReadonlyMap<string, DiscoveredFunctions>,
): Pick<DiscoveryPass, 'upstreams' | 'functions' | 'errors'> {
  const entries = [...discovered.values()];
  return {
    upstreams: entries.length,
    functions: entries.reduce((sum, entry) => sum + entry.functions.length, 0),
    errors: entries.flatMap((entry) => (entry.error ? [entry.error] : [])),
  };
}

/** Runs one discovery pass with memory sampling and the servers' request counts around it. */
async function measurePass(
  countersUrl: string,
  pass: () => Promise<Map<string, DiscoveredFunctions>>,
): Promise<{ pass: DiscoveryPass; discovered: Map<string, DiscoveredFunctions> }> {
  collectGarbage();
  const countsBefore = await requestCounts(countersUrl);
  const before = sample();
  const lifetimePeak = () => process.resourceUsage().maxRSS * 1024;
  const lifetimePeakBefore = lifetimePeak();
  let peakRss = before.rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const discovered = await pass();
  const wallMs = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  clearInterval(sampler);
  const after = sample();
  const lifetimePeakAfter = lifetimePeak();
  peakRss = Math.max(peakRss, after.rss, lifetimePeakAfter > lifetimePeakBefore ? lifetimePeakAfter : 0);
  collectGarbage();
  const heapRetained = process.memoryUsage().heapUsed;
  const countsAfter = await requestCounts(countersUrl);
  const requests = Object.fromEntries(
    Object.entries(countsAfter).map(([key, value]) => [
      key,
      value - countsBefore[key as keyof RequestCounts],
    ]),
  ) as unknown as RequestCounts;
  return {
    discovered,
    pass: {
      wallMs,
      cpuMs: (user + system) / 1000,
      ...summarise(discovered),
      requests,
      before,
      after,
      peakRss,
      heapRetained,
    },
  };
}

/** `sluice discover`'s pass over the upstreams of `contents`. */
function discoverPass(
  contents: StoreContents,
  previous: ReadonlyMap<string, DiscoveredFunctions> = new Map(),
) {
  return () => discoverAll(loadSnapshot(contents).snapshot, previous, logger);
}

/** `serve`'s start: FdsService polls every upstream at once; done when each has a result. */
function pollerPass(contents: StoreContents, upstreams: number) {
  return () =>
    new Promise<Map<string, DiscoveredFunctions>>((resolve) => {
      const service = new FdsService({
        state: new MemoryDiscoveryState(),
        logger,
        onChange: (discovered) => {
          if (discovered.size < upstreams) return;
          service.stop();
          resolve(new Map(discovered));
        },
      });
      service.update(loadSnapshot(contents).snapshot);
    });
}

function routeConfigurations(snapshots: ReadonlyMap<string, XdsSnapshot>) {
  return [...snapshots.values()].flatMap((snapshot) =>
    [...snapshot]
      .filter(([typeUrl]) => typeUrl.endsWith('RouteConfiguration'))
      .flatMap(([, byName]) => [...byName.values()]),
  );
}

interface EnvoyRoute {
  match: Record<string, unknown>;
  typedPerFilterConfig?: Record<string, unknown>;
}

const MATCH_KINDS = ['path', 'pathMatchPolicy', 'safeRegex', 'prefix'] as const;

/**
 * The real pipeline (load with the discovered map -> translate -> build with a fresh encoder): one cold run,
 * then `reps` timed ones.
 */
function measureTranslation(
  contents: StoreContents,
  discovered: ReadonlyMap<string, DiscoveredFunctions>,
  reps: number,
): TranslationFigures {
  const runs: StageTimes[] = [];
  let result: { translation: ReturnType<typeof translate>; snapshots: Map<string, XdsSnapshot> } | undefined;
  for (let rep = 0; rep <= reps; rep++) {
    result = undefined;
    collectGarbage();
    const marks = [performance.now()];
    const loaded = loadSnapshot(contents, new Map(), discovered);
    marks.push(performance.now());
    const translation = translate(loaded.snapshot, loaded.reports);
    marks.push(performance.now());
    const snapshots = buildXdsSnapshots(
      translation.envoy,
      new ResourceEncoder(),
      translation.reports,
      new Map(),
    );
    marks.push(performance.now());
    const [load, translateMs, build] = [1, 2, 3].map((i) => marks[i] - marks[i - 1]);
    runs.push({ load, translate: translateMs, build, total: marks[3] - marks[0] });
    result = { translation, snapshots };
  }
  const cold = runs.shift() as StageTimes;
  const { translation, snapshots } = result as NonNullable<typeof result>;
  const rssAfter = process.memoryUsage().rss;
  collectGarbage();
  const heapRetained = process.memoryUsage().heapUsed;
  const configs = routeConfigurations(snapshots);
  const routes = configs.flatMap((config) =>
    ((config.json.virtualHosts ?? []) as Array<{ routes?: EnvoyRoute[] }>).flatMap(
      (host) => host.routes ?? [],
    ),
  );
  const matchKinds: Record<string, number> = {};
  for (const route of routes) {
    const kind = MATCH_KINDS.find((key) => route.match[key] !== undefined) ?? 'other';
    matchKinds[kind] = (matchKinds[kind] ?? 0) + 1;
  }
  const problems = reportProblems(translation);
  const stages = ['load', 'translate', 'build', 'total'] as const;
  return {
    cold,
    runs,
    median: Object.fromEntries(
      stages.map((stage) => [stage, median(runs.map((run) => run[stage]))]),
    ) as Record<(typeof stages)[number], number>,
    counts: countResources(snapshots),
    routes: routes.length,
    matchKinds,
    perFilterConfigRoutes: routes.filter((route) => route.typedPerFilterConfig).length,
    routeConfigBytes: Math.max(0, ...configs.map((config) => config.bytes.length)),
    warnings: problems.length,
    firstProblems: problems.slice(0, 5),
    rssAfter,
    heapRetained,
  };
}

/** Ms `step` takes on `input`. */
async function timed<T>(input: T, step: (input: T) => unknown): Promise<number> {
  const started = performance.now();
  await step(input);
  return performance.now() - started;
}

/**
 * The steps of a cold discovery one by one, with the functions the discoverer itself uses, `reps` times
 * for each document; medians over all of them.
 */
async function breakdown(urls: string[], reps: number): Promise<DiscoveryBreakdown> {
  const samples: Record<Exclude<keyof DiscoveryBreakdown, 'documentBytes' | 'operationCount'>, number[]> = {
    probeMissing: [],
    fetch: [],
    jsonParse: [],
    dereference: [],
    operations: [],
    sha256: [],
  };
  const bytes: number[] = [];
  const operationCounts: number[] = [];
  for (const url of urls) {
    for (let rep = 0; rep < reps; rep++) {
      const missing = new URL(DEFAULT_OPENAPI_PATHS[0], url).toString();
      samples.probeMissing.push(await timed(missing, (target) => fetchDocument(target, {})));
      samples.fetch.push(await timed(url, (target) => fetchDocument(target, {})));
      const body = (await fetchDocument(url, {})).body as string;
      samples.jsonParse.push(await timed(body, (text) => JSON.parse(text)));
      let document = JSON.parse(body) as ApiDocument;
      samples.dereference.push(
        await timed(document, async (parsed) => {
          document = (await SwaggerParser.dereference(parsed as never, {
            resolve: { external: false },
          })) as ApiDocument;
        }),
      );
      let operations: unknown[] = [];
      samples.operations.push(
        await timed(document, (dereferenced) => (operations = operationsOf(dereferenced, url))),
      );
      samples.sha256.push(await timed(body, (text) => createHash('sha256').update(text).digest('hex')));
      bytes.push(Buffer.byteLength(body));
      operationCounts.push(operations.length);
    }
  }
  return {
    probeMissing: median(samples.probeMissing),
    fetch: median(samples.fetch),
    jsonParse: median(samples.jsonParse),
    dereference: median(samples.dereference),
    operations: median(samples.operations),
    sha256: median(samples.sha256),
    documentBytes: median(bytes),
    operationCount: median(operationCounts),
  };
}

const documentUrl = (job: ScenarioJob, port: number): string => `http://127.0.0.1:${port}${job.documentPath}`;

type PassSeries = 'cold' | 'repoll' | 'etagCold' | 'etagRepoll';

/**
 * `coldRuns` cold passes (run N on `contentsOf(N)`, new upstream names each run) and `job.repolls` re-polls
 * of the first. The re-polls come right after the first pass: a later pass's snapshot lacks its upstreams,
 * so the discoverer would forget them as deleted. Returns the first pass's result.
 */
async function coldAndRepolls(
  job: ScenarioJob,
  contentsOf: (run: number) => StoreContents,
  coldRuns: number,
  series: { cold: PassSeries; repoll: PassSeries },
): Promise<Map<string, DiscoveredFunctions>> {
  const cold: DiscoveryPass[] = [];
  const repoll: DiscoveryPass[] = [];
  const publish = (name: PassSeries, passes: DiscoveryPass[]) =>
    report({ type: 'figures', figures: { [name]: passes } as ScenarioFigures });
  const first = await measurePass(job.countersUrl, discoverPass(contentsOf(1)));
  cold.push(first.pass);
  await publish(series.cold, cold);
  for (let run = 0; run < job.repolls; run++) {
    repoll.push((await measurePass(job.countersUrl, discoverPass(contentsOf(1), first.discovered))).pass);
    await publish(series.repoll, repoll);
  }
  for (let run = 2; run <= coldRuns; run++) {
    cold.push((await measurePass(job.countersUrl, discoverPass(contentsOf(run)))).pass);
    await publish(series.cold, cold);
  }
  return first.discovered;
}

async function githubScenario(job: GithubJob): Promise<void> {
  const github = (run: number) => store([serviceUpstream(`github-${run}`, job.port)]);
  const discovered = await coldAndRepolls(job, github, job.coldRuns, { cold: 'cold', repoll: 'repoll' });
  const withEtag = () => store([serviceUpstream('github-etag', job.etagPort)]);
  await coldAndRepolls(job, withEtag, 1, { cold: 'etagCold', repoll: 'etagRepoll' });
  await report({
    type: 'figures',
    figures: { breakdown: await breakdown([documentUrl(job, job.port)], job.breakdownReps) },
  });
  const translation = measureTranslation(
    store([serviceUpstream('github-1', job.port), functionsVirtualService(['github-1'])]),
    discovered,
    job.translationReps,
  );
  await report({ type: 'figures', figures: { translation } });
}

async function fleetScenario(job: FleetJob): Promise<void> {
  const names = (prefix: string) =>
    job.ports.map((_, index) => `${prefix}-${String(index).padStart(3, '0')}`);
  const upstreams = (prefix: string) =>
    names(prefix).map((name, index) => serviceUpstream(name, job.ports[index]));
  const fleet = (run: number) => store(upstreams(`cold${run}`));
  const discovered = await coldAndRepolls(job, fleet, job.coldRuns, { cold: 'cold', repoll: 'repoll' });
  const poller = (await measurePass(job.countersUrl, pollerPass(store(upstreams('serve')), job.ports.length)))
    .pass;
  await report({ type: 'figures', figures: { poller } });
  const sampled = job.ports.slice(0, job.breakdownDocuments).map((port) => documentUrl(job, port));
  await report({ type: 'figures', figures: { breakdown: await breakdown(sampled, 1) } });
  const translation = measureTranslation(
    store([...upstreams('cold1'), functionsVirtualService(names('cold1'))]),
    discovered,
    job.translationReps,
  );
  await report({ type: 'figures', figures: { translation } });
}

async function main(job: OpenApiJob): Promise<void> {
  collectGarbage();
  // performance.now() counts from process start: node start-up and loading the modules.
  await report({ type: 'figures', figures: { startup: { ms: performance.now(), memory: sample() } } });
  if (job.scenario === 'github') await githubScenario(job);
  else await fleetScenario(job);
  await report({ type: 'figures', figures: { maxRss: process.resourceUsage().maxRSS * 1024 } });
  await report({ type: 'done' });
}

if (require.main === module) {
  main(JSON.parse(process.argv[2]) as OpenApiJob).then(
    () => process.exit(0),
    (error: unknown) =>
      report({ type: 'error', error: (error as Error).stack ?? String(error) }).finally(() =>
        process.exit(1),
      ),
  );
}

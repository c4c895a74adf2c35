/**
 * OpenAPI benchmark, parent side: serves OpenAPI documents from loopback HTTP servers (GitHub's REST
 * description, and a fleet of generated 200-operation services), forks bench/openapi-child.js once per
 * scenario to discover and translate them with the real code, and renders the BENCHMARKS.md section.
 * The servers run in this process, so the child's memory is discovery's (both share the 2 cores).
 */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type {
  ChildMessage,
  DiscoveryBreakdown,
  DiscoveryPass,
  OpenApiJob,
  RequestCounts,
  ScenarioFigures,
  TranslationFigures,
} from './openapi-child';
import { serviceDocument } from './openapi-gen';
import type { StageTimes } from './pipeline';
import { mb, median, ms, progress, ratio, table } from './stats';
import type { TranslateResult } from './translate-child';

const GITHUB_FILE = require.resolve('@octokit/openapi/generated/api.github.com.json');
/** The 10th of the default probe paths, so discovery goes through nine 404s first. */
const DOCUMENT_PATH = '/v3/api-docs';
const COUNTERS_PATH = '/__bench/counters';
const FLEET_UPSTREAMS = 100;
const FLEET_OPERATIONS = 200;
const GITHUB_BREAKDOWN_REPS = 3;
const FLEET_BREAKDOWN_DOCUMENTS = 10;
const CHILD_TIMEOUT_MS = 120_000;

export interface OpenApiSummary {
  github: ScenarioFigures;
  fleet: ScenarioFigures;
  /** Generating the fleet's documents (in this process, not timed in the child). */
  generateMs: number;
  fleetDocumentBytes: number[];
  errors: string[];
}

/** Loopback servers that answer DOCUMENT_PATH with their document and everything else with a 404. */
class DocumentServers {
  readonly counts: RequestCounts = { documents: 0, notModified: 0, notFound: 0, bytes: 0 };
  private readonly servers: http.Server[] = [];

  /** Serves `document` on a new port; with `etag`, sends an ETag and answers a matching If-None-Match with 304. */
  async serve(document: Buffer, etag: boolean): Promise<number> {
    const tag = etag ? `"${document.length.toString(16)}-${this.servers.length}"` : undefined;
    const server = http.createServer((request, response) => {
      if (request.url === COUNTERS_PATH) {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(this.counts));
      } else if (request.url !== DOCUMENT_PATH) {
        this.counts.notFound++;
        response.statusCode = 404;
        response.end();
      } else if (tag && request.headers['if-none-match'] === tag) {
        this.counts.notModified++;
        response.statusCode = 304;
        response.end();
      } else {
        this.counts.documents++;
        this.counts.bytes += document.length;
        response.setHeader('content-type', 'application/json');
        if (tag) response.setHeader('etag', tag);
        response.end(document);
      }
    });
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  countersUrl(): string {
    return `http://127.0.0.1:${(this.servers[0].address() as AddressInfo).port}${COUNTERS_PATH}`;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
  }
}

/** Runs one scenario in a fresh child; figures arrive as they are measured and survive a failure. */
function runScenario(job: OpenApiJob, figures: ScenarioFigures): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'openapi-child.js'), [JSON.stringify(job)], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const timer = setTimeout(
      () => settle(new Error(`${job.scenario}: timed out after ${CHILD_TIMEOUT_MS / 1000} s`)),
      CHILD_TIMEOUT_MS,
    );
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (error) reject(error);
      else resolve();
    };
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'figures') {
        Object.assign(figures, message.figures);
        progress(`  openapi ${job.scenario}: ${Object.keys(message.figures).join(', ')}`);
      } else if (message.type === 'done') settle();
      else settle(new Error(`${job.scenario}: ${message.error}`));
    });
    child.on('exit', (code) =>
      settle(new Error(`${job.scenario}: child exited with ${code} before reporting`)),
    );
  });
}

async function withServers(
  run: (servers: DocumentServers) => Promise<void>,
  summary: OpenApiSummary,
): Promise<void> {
  const servers = new DocumentServers();
  try {
    await run(servers);
  } catch (error) {
    summary.errors.push((error as Error).stack ?? String(error));
    progress(`openapi: FAILED: ${(error as Error).message}`);
  } finally {
    await servers.close();
  }
}

export async function runOpenApiBench(): Promise<OpenApiSummary> {
  const summary: OpenApiSummary = {
    github: {},
    fleet: {},
    generateMs: 0,
    fleetDocumentBytes: [],
    errors: [],
  };
  await withServers(async (servers) => {
    const document = fs.readFileSync(GITHUB_FILE);
    const port = await servers.serve(document, false);
    const etagPort = await servers.serve(document, true);
    progress(
      `openapi: GitHub's description (${(document.length / 1024 / 1024).toFixed(1)} MB) on ports ${port} and ${etagPort} (ETag)`,
    );
    await runScenario(
      {
        scenario: 'github',
        countersUrl: servers.countersUrl(),
        documentPath: DOCUMENT_PATH,
        port,
        etagPort,
        coldRuns: 3,
        repolls: 3,
        breakdownReps: GITHUB_BREAKDOWN_REPS,
        translationReps: 9,
      },
      summary.github,
    );
  }, summary);
  await withServers(async (servers) => {
    const started = Date.now();
    const documents = Array.from({ length: FLEET_UPSTREAMS }, (_, service) =>
      Buffer.from(JSON.stringify(serviceDocument(service, FLEET_OPERATIONS))),
    );
    summary.generateMs = Date.now() - started;
    summary.fleetDocumentBytes = documents.map((document) => document.length);
    const ports = await Promise.all(documents.map((document) => servers.serve(document, false)));
    progress(
      `openapi: ${FLEET_UPSTREAMS} services x ${FLEET_OPERATIONS} operations generated in ${summary.generateMs} ms`,
    );
    await runScenario(
      {
        scenario: 'fleet',
        countersUrl: servers.countersUrl(),
        documentPath: DOCUMENT_PATH,
        ports,
        coldRuns: 2,
        repolls: 3,
        breakdownDocuments: FLEET_BREAKDOWN_DOCUMENTS,
        translationReps: 3,
      },
      summary.fleet,
    );
  }, summary);
  return summary;
}

// ------------------------------------------------------------------------------------- rendering

const num = (n: number): string => n.toLocaleString('en-US');
const megabytes = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const microseconds = (millis: number): string => (millis * 1000).toFixed(0);
const first = <T>(runs: T[] | undefined): T | undefined => runs?.[0];
const medianOf = (
  runs: DiscoveryPass[] | undefined,
  pick: (run: DiscoveryPass) => number,
): number | undefined => (runs?.length ? median(runs.map(pick)) : undefined);
const medianWall = (runs: DiscoveryPass[] | undefined) => medianOf(runs, (run) => run.wallMs);
const medianCpu = (runs: DiscoveryPass[] | undefined) => medianOf(runs, (run) => run.cpuMs);

function discoveryRow(label: string, runs: DiscoveryPass[]): string[] {
  const pass = runs[0];
  const r = pass.requests;
  return [
    label,
    String(runs.length),
    `**${ms(medianWall(runs) ?? NaN)}**`,
    runs.map((run) => ms(run.wallMs)).join(', '),
    ms(medianCpu(runs) ?? NaN),
    `${num(r.documents)} / ${num(r.notModified)} / ${num(r.notFound)}`,
    megabytes(r.bytes),
    `${num(pass.functions)}${pass.errors.length ? ` (${pass.errors.length} errors: ${pass.errors[0]})` : ''}`,
    `${mb(pass.before.rss)} -> ${mb(pass.after.rss)} (peak ${mb(pass.peakRss)})`,
    `+${mb(pass.after.heapUsed - pass.before.heapUsed)}`,
    megabytes(pass.heapRetained),
  ];
}

function discoveryTable(rows: Array<[string, DiscoveryPass[] | undefined]>): string {
  return table(
    [
      'pass',
      'runs',
      'wall ms (median)',
      'each run, ms',
      'child CPU ms (median)',
      'responses 200 / 304 / 404',
      'MB received',
      'functions',
      'child RSS MB before -> after (first run)',
      'heap growth MB (before GC)',
      'child heap after GC MB',
    ],
    rows.flatMap(([label, runs]) => (runs?.length ? [discoveryRow(label, runs)] : [])),
  );
}

/** The document's share of a cold discovery: fetched, parsed twice (probe, then parseFound), dereferenced, hashed. */
const documentStepsMs = (b: DiscoveryBreakdown): number =>
  b.fetch + 2 * b.jsonParse + b.dereference + b.operations + b.sha256;

function breakdownTable(breakdown: DiscoveryBreakdown, measuredMs: number | undefined): string {
  const asDiscovered = documentStepsMs(breakdown);
  return table(
    ['step (as the discoverer calls it)', 'ms (median)'],
    [
      [
        '`fetchDocument` of a path without a document (a 404, connecting first if no connection is open; a cold ' +
          'discovery makes ~11, 8 in flight at once)',
        ms(breakdown.probeMissing),
      ],
      ['`fetchDocument` (undici GET over loopback, body read and decoded to a string)', ms(breakdown.fetch)],
      ['`JSON.parse` of the body', ms(breakdown.jsonParse)],
      ['`SwaggerParser.dereference` (swagger-parser, `resolve.external: false`)', ms(breakdown.dereference)],
      ['`operationsOf` (operations -> REST functions)', ms(breakdown.operations)],
      ['sha256 of the body (content hash kept for re-polls)', ms(breakdown.sha256)],
      [
        'fetch + 2 x `JSON.parse` + dereference + operations + sha256 (what one cold discovery does besides the 404s)',
        `${ms(asDiscovered)}${measuredMs === undefined ? '' : ` (measured: ${ms(measuredMs)})`}`,
      ],
    ],
  );
}

function translationTable(label: string, t: TranslationFigures): string {
  const kinds = ['path', 'pathMatchPolicy', 'safeRegex']
    .map((kind) => num(t.matchKinds[kind] ?? 0))
    .join(' / ');
  const stages = (times: StageTimes) => `${ms(times.load)} / ${ms(times.translate)} / ${ms(times.build)}`;
  return table(
    [
      'case',
      'routes (exact / uri_template / RE2)',
      'routes with a Lua per-route config',
      'CDS / EDS / LDS / RDS',
      'RouteConfiguration bytes',
      'first run: load / translate / build',
      'reps',
      'load',
      'translate',
      'build (encode)',
      'total',
      'each run total, ms',
      'µs per route (translate + build)',
      'child RSS after MB',
      'heap after GC MB',
    ],
    [
      [
        label,
        `${num(t.routes)} (${kinds})`,
        num(t.perFilterConfigRoutes),
        ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']
          .map((k) => t.counts[k] ?? 0)
          .join(' / '),
        num(t.routeConfigBytes),
        stages(t.cold),
        String(t.runs.length),
        ms(t.median.load),
        `**${ms(t.median.translate)}**`,
        ms(t.median.build),
        `**${ms(t.median.total)}**`,
        t.runs.map((run) => ms(run.total)).join(', '),
        microseconds((t.median.translate + t.median.build) / Math.max(1, t.routes)),
        mb(t.rssAfter),
        mb(t.heapRetained),
      ],
    ],
  );
}

interface ScenarioPart {
  heading: string;
  setup: string;
  passes: Array<[string, DiscoveryPass[] | undefined]>;
  breakdownIntro: string;
  breakdown?: DiscoveryBreakdown;
  /** The measured figure the sum of the breakdown's steps is set against. */
  measuredMs?: number;
  translationIntro: string;
  translationLabel: string;
  translation?: TranslationFigures;
}

function scenarioPart(part: ScenarioPart): string[] {
  const out = [part.heading, '', part.setup, '', discoveryTable(part.passes)];
  if (part.breakdown) out.push('', part.breakdownIntro, '', breakdownTable(part.breakdown, part.measuredMs));
  if (part.translation) {
    out.push('', part.translationIntro, '', translationTable(part.translationLabel, part.translation));
    if (part.translation.warnings)
      out.push(
        '',
        `Translation reported ${part.translation.warnings} problems, first: ${part.translation.firstProblems.join('; ')}`,
      );
  }
  return out;
}

function githubPart(summary: OpenApiSummary): string[] {
  const g = summary.github;
  const b = g.breakdown;
  return scenarioPart({
    heading: "### 5.1 GitHub's REST description",
    setup:
      `Document: \`@octokit/openapi\` generated/api.github.com.json (OpenAPI 3.0, ` +
      `${b ? `${megabytes(b.documentBytes)} MB, ${num(b.operationCount)} operations` : 'not measured'}), served by two ` +
      'servers: one without an ETag (a re-poll downloads it and compares its sha256) and one that sends an ETag and answers ' +
      'a matching If-None-Match with 304. Each cold run uses a new upstream name, so the discoverer has no memory of it; ' +
      're-polls follow the first cold run and pass its result, as the poller does. Memory columns are from the first ' +
      'run of each row; ' +
      '"child heap after GC" = heap used after a full GC with the pass\'s result referenced (absolute, so it includes what ' +
      'earlier rows left referenced).',
    passes: [
      ['cold discovery: probe + fetch + parse + dereference + operations (server without ETag)', g.cold],
      ['re-poll, unchanged content, no ETag (download + sha256, not parsed)', g.repoll],
      ['cold discovery, server with ETag', g.etagCold],
      ['re-poll, unchanged content, ETag (304)', g.etagRepoll],
    ],
    breakdownIntro: `Where a cold discovery's time goes: each step alone, median of ${GITHUB_BREAKDOWN_REPS} runs.`,
    breakdown: b,
    measuredMs: medianWall(g.cold),
    translationIntro:
      "Translation: the upstream (first cold run's discovered functions) and one VirtualService with one route " +
      '`{matchers: [{prefix: /}], routeAction: {functions: {upstream: {name: github-1}}}}`, which expands to one Envoy ' +
      'route per operation. Medians of the runs after the first, ms. "load" is cached by resource object after the ' +
      'first run, as in `serve` when the store has not changed.',
    translationLabel: 'GitHub, 1 functions route',
    translation: g.translation,
  });
}

function fleetPart(summary: OpenApiSummary): string[] {
  const f = summary.fleet;
  const bytes = summary.fleetDocumentBytes;
  const coldMs = medianWall(f.cold);
  return scenarioPart({
    heading: `### 5.2 ${FLEET_UPSTREAMS} services, ${FLEET_OPERATIONS} operations each`,
    setup:
      `${FLEET_UPSTREAMS} static upstreams, each a loopback server (own port) with a distinct generated OpenAPI 3.0 ` +
      `document (bench/openapi-gen.ts: ${FLEET_OPERATIONS / 10} resources x 10 operations: list, create, search, get, ` +
      'replace, patch, delete, history, an action with a required one-value query parameter, an export with a ' +
      '`{id}/export.{format}` segment; shared parameters, responses and schemas by $ref; a server URL with a base path), ' +
      `${bytes.length ? `${num(Math.min(...bytes))} to ${num(Math.max(...bytes))} bytes each, ` : ''}generated in ` +
      `${summary.generateMs} ms. Each cold run names the upstreams anew. \`FdsService\` start = what \`serve\` does when ` +
      'the upstreams appear: every upstream polled at once (the discoverer still allows 8 requests in flight over all), ' +
      'done when each has a result. Columns as in 5.1.',
    passes: [
      ['cold `discoverAll` (as `sluice discover`: 4 upstreams at a time)', f.cold],
      ['re-poll `discoverAll`, unchanged content, no ETag', f.repoll],
      ['cold `FdsService` start (as `serve`)', f.poller && [f.poller]],
    ],
    breakdownIntro:
      `Per document, each step alone (median over the first ${FLEET_BREAKDOWN_DOCUMENTS} documents); the measured ` +
      'figure is the cold `discoverAll` wall time divided by the number of upstreams.',
    breakdown: f.breakdown,
    measuredMs: coldMs === undefined ? undefined : coldMs / FLEET_UPSTREAMS,
    translationIntro:
      `Translation: the ${FLEET_UPSTREAMS} upstreams and one VirtualService with one \`routeAction.functions\` route per ` +
      `upstream under \`/NAME/\`, so ${num(FLEET_UPSTREAMS * FLEET_OPERATIONS)} Envoy routes in one virtual host. As in 5.1.`,
    translationLabel: `${FLEET_UPSTREAMS} functions routes`,
    translation: f.translation,
  });
}

const perRoute = (t: { translate: number; build: number }, routes: number): number =>
  (t.translate + t.build) / routes;

function interpretation(summary: OpenApiSummary, core: TranslateResult | undefined): string[] {
  const lines: string[] = [];
  const g = summary.github;
  const coldMs = medianWall(g.cold);
  const b = g.breakdown;
  const firstCold = first(g.cold);
  if (coldMs !== undefined && b && firstCold) {
    lines.push(
      `GitHub (${num(b.operationCount)} operations, ${megabytes(b.documentBytes)} MB): a cold discovery takes ${ms(coldMs)} ms on ` +
        `loopback; swagger-parser's dereference is the largest step (${ms(b.dereference)} ms alone), then \`JSON.parse\` ` +
        `(${ms(b.jsonParse)} ms), which a cold discovery does twice on the same body (\`probe\` parses it to check it is an ` +
        `OpenAPI document, \`parseFound\` parses it again), then the download (${ms(b.fetch)} ms) and the sha256 ` +
        `(${ms(b.sha256)} ms). Memory: RSS ${mb(firstCold.before.rss)} -> peak ${mb(firstCold.peakRss)} MB during the first ` +
        `pass, heap +${mb(firstCold.after.heapUsed - firstCold.before.heapUsed)} MB before GC, ` +
        `+${megabytes(firstCold.heapRetained - firstCold.before.heapUsed)} MB retained for ${num(firstCold.functions)} functions.`,
    );
  }
  const repollMs = medianWall(g.repoll);
  const etagMs = medianWall(g.etagRepoll);
  if (coldMs !== undefined && repollMs !== undefined && etagMs !== undefined) {
    lines.push(
      `Re-poll of unchanged content: ${ms(repollMs)} ms without an ETag (${ratio(repollMs, coldMs)} of a cold discovery: ` +
        `the body is downloaded and hashed but not parsed), ${ms(etagMs)} ms with one (a 304, nothing downloaded). ` +
        `At the default 30 s poll interval the no-ETag case costs about ${ms(medianCpu(g.repoll) ?? NaN)} ms ` +
        'of CPU per poll for this document.',
    );
    const repoll = first(g.repoll);
    if (repoll && firstCold && b && repoll.heapRetained - firstCold.heapRetained > b.documentBytes / 2) {
      lines.push(
        `After a no-ETag re-poll, ${megabytes(repoll.heapRetained - firstCold.heapRetained)} MB more heap stays referenced ` +
          "than after the cold pass, until the discoverer's next request (the next poll of any upstream): its " +
          'module-wide `p-limit` (3.x, with yocto-queue 0.1) keeps a reference to its last task after running it (the ' +
          "queue's tail node is not cleared when the queue empties), and through that task's resolve function the " +
          'fetched document, body string included. In a cold pass the last task is a 404 probe, so nothing large is kept.',
      );
    }
  }
  const gt = g.translation;
  const coreRoute = core && perRoute(core.median, core.n);
  if (gt) {
    lines.push(
      `GitHub's ${num(gt.routes)} routes translate and encode in ${ms(gt.median.translate + gt.median.build)} ms ` +
        `(translate ${ms(gt.median.translate)}, build ${ms(gt.median.build)}; first run in the process ` +
        `${ms(gt.cold.total)} ms with proto loading), ${microseconds(perRoute(gt.median, gt.routes))} µs per route` +
        (coreRoute
          ? `, ${ratio(perRoute(gt.median, gt.routes), coreRoute)} section 1's per-route cost (${core?.label}: ${microseconds(coreRoute)} µs)`
          : '') +
        `; one RouteConfiguration of ${num(gt.routeConfigBytes)} bytes.`,
    );
  }
  const f = summary.fleet;
  const fleetCold = medianWall(f.cold);
  const fb = f.breakdown;
  const firstFleet = first(f.cold);
  if (fleetCold !== undefined && fb && firstFleet) {
    const perUpstream = fleetCold / FLEET_UPSTREAMS;
    const steps = documentStepsMs(fb);
    lines.push(
      `${FLEET_UPSTREAMS} services: a cold \`discoverAll\` pass takes ${ms(fleetCold)} ms (${ms(perUpstream)} ms per upstream, ` +
        `child CPU ${ms(medianCpu(f.cold) ?? NaN)} ms) for ${num(firstFleet.functions)} functions, ` +
        `with ${num(firstFleet.requests.notFound)} 404 probes (${ms(fb.probeMissing)} ms each alone) besides the ` +
        `${num(firstFleet.requests.documents)} documents. Per ${num(fb.documentBytes)}-byte document the dereference ` +
        `(${ms(fb.dereference)} ms) is ${((100 * fb.dereference) / steps).toFixed(0)}% of the document steps' sum ` +
        `(${ms(steps)} ms); the rest of the ${ms(perUpstream)} ms per upstream is the 404 probes, loading the snapshot, ` +
        'garbage collection and waiting for the servers, which share the 2 cores. Parsing is synchronous on one ' +
        "thread, so concurrency only overlaps the requests; `serve`'s start (`FdsService`, every upstream at once) " +
        `took ${f.poller ? ms(f.poller.wallMs) : 'n/a'} ms.`,
    );
  }
  const fleetRepoll = medianWall(f.repoll);
  if (fleetRepoll !== undefined && fleetCold !== undefined)
    lines.push(
      `A re-poll of the ${FLEET_UPSTREAMS} unchanged documents takes ${ms(fleetRepoll)} ms (${ratio(fleetRepoll, fleetCold)} of a cold pass).`,
    );
  const ft = f.translation;
  if (ft) {
    const total = ft.median.translate + ft.median.build;
    lines.push(
      `${num(ft.routes)} function routes (${FLEET_UPSTREAMS} \`routeAction.functions\` routes) translate and encode in ` +
        `${ms(total)} ms (translate ${ms(ft.median.translate)}, build ${ms(ft.median.build)}), ` +
        `${microseconds(perRoute(ft.median, ft.routes))} µs per route` +
        (coreRoute
          ? ` (${ratio(perRoute(ft.median, ft.routes), coreRoute)} section 1's per-route cost)`
          : '') +
        `. The single RouteConfiguration is ${megabytes(ft.routeConfigBytes)} MB` +
        (ft.routeConfigBytes > 4 * 1024 * 1024
          ? ', above the 4 MiB default receive limit of common gRPC libraries (proxyless gRPC clients, for one)'
          : '') +
        `; the child's RSS after the runs was ${mb(ft.rssAfter)} MB (peak over its life ${mb(f.maxRss ?? NaN)} MB).`,
    );
  }
  lines.push(
    'The machine is shared and noisy (2 cores; the document servers and the child compete for them); compare ratios within one run.',
  );
  return lines;
}

export function openApiSection(summary: OpenApiSummary, core: TranslateResult | undefined): string {
  const out = ['## 5. OpenAPI discovery and routes', ''];
  const startup = summary.github.startup;
  out.push(
    'Setup: the documents are served by loopback HTTP servers in the bench process (node `http`, one port per upstream). ' +
      `Every path but \`${DOCUMENT_PATH}\` answers 404, so discovery, probing the default paths (Settings ` +
      '`discovery.openApiPaths` unset), finds the document at the 10th of 12 after nine 404s; the probes of one upstream ' +
      'run in parallel (8 requests in flight over all upstreams), so the two paths after it are usually requested too. ' +
      'A forked child (`--expose-gc`) per scenario runs the real discoverer (src/discovery/fds/openapi) through ' +
      '`discoverAll` on static upstreams labelled for discovery, then the real pipeline for a VirtualService of ' +
      '`routeAction.functions` routes (src/translator/envoy/function-routes.ts and the rest plugin): ' +
      '`loadSnapshot(contents, new Map(), discovered)` -> `translate` -> `buildXdsSnapshots` with a fresh `ResourceEncoder`.' +
      (startup
        ? ` Child start-up (node + modules): ${ms(startup.ms)} ms, RSS ${mb(startup.memory.rss)} MB, heap ${mb(startup.memory.heapUsed)} MB.`
        : ''),
  );
  out.push('', ...githubPart(summary), '', ...fleetPart(summary), '', '### 5.3 Interpretation', '');
  out.push(...interpretation(summary, core).map((line) => `- ${line}`));
  if (summary.errors.length) {
    out.push('', 'Errors:');
    for (const error of summary.errors) out.push('', '```', error, '```');
  }
  return out.join('\n');
}

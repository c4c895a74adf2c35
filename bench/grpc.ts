/**
 * gRPC benchmark, parent side: starts the 200-service server (grpc-backend.ts) in this process, forks
 * bench/grpc-child.js to discover it by server reflection and translate routes to it, then measures push
 * latency to proxyless clients (grpc-push.ts) with what the child discovered, and renders the
 * BENCHMARKS.md section.
 */
import { fork } from 'child_process';
import { once } from 'events';
import * as path from 'path';
import { startBackend, type Backend, type BackendFigures } from './grpc-backend';
import type {
  GrpcChildFigures,
  GrpcChildJob,
  GrpcChildMessage,
  ReflectionPass,
  TranslationCase,
} from './grpc-child';
import { DOMAIN } from './grpc-config';
import { medianOfChanges, runProxylessPush, type ProxylessPush } from './grpc-push';
import { mb, median, ms, progress, ratio, table } from './stats';
import type { TranslateResult } from './translate-child';

const PROXYLESS_STREAMS = 500;
const PUSH_CHANGES = 9;
const CHILD_TIMEOUT_MS = 90_000;
const CHILD_JOB: Omit<GrpcChildJob, 'port'> = {
  pairs: 7,
  breakdownReps: 5,
  translationReps: 15,
  warmUpRuns: 30,
};

export interface GrpcSummary {
  backend?: BackendFigures;
  discovery: Partial<GrpcChildFigures>;
  push?: ProxylessPush;
  wallMs: number;
  errors: string[];
}

/** Runs the child to its exit, keeping the figures it sent; rejects with its error or exit code. */
async function runChild(job: GrpcChildJob, figures: Partial<GrpcChildFigures>): Promise<void> {
  const child = fork(path.join(__dirname, 'grpc-child.js'), [JSON.stringify(job)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let outcome: GrpcChildMessage | undefined;
  child.on('message', (message: GrpcChildMessage) => {
    if (message.type === 'figures') {
      Object.assign(figures, message.figures);
      progress(`  grpc discovery: ${Object.keys(message.figures).join(', ')}`);
    } else outcome = message;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  if (outcome?.type === 'error') throw new Error(outcome.error);
  if (outcome?.type !== 'done')
    throw new Error(
      signal === 'SIGKILL'
        ? `grpc-child timed out after ${CHILD_TIMEOUT_MS / 1000} s`
        : `grpc-child exited with ${code ?? signal} before finishing`,
    );
}

export async function runGrpcBench(): Promise<GrpcSummary> {
  const started = Date.now();
  const summary: GrpcSummary = { discovery: {}, wallMs: NaN, errors: [] };
  const fail = (what: string, error: unknown) => {
    summary.errors.push(`${what}: ${(error as Error).stack ?? String(error)}`);
    progress(`grpc: ${what} FAILED: ${(error as Error).message}`);
  };
  let backend: Backend | undefined;
  try {
    backend = await startBackend();
    summary.backend = backend.figures;
    progress(
      `grpc: ${backend.figures.services} services, ${backend.figures.methods} methods on port ${backend.port}`,
    );
    await runChild({ port: backend.port, ...CHILD_JOB }, summary.discovery);
  } catch (error) {
    fail('discovery', error);
  }
  const discovered = summary.discovery.discovered;
  if (backend && discovered) {
    progress(`grpc: push to ${PROXYLESS_STREAMS} proxyless streams, ${PUSH_CHANGES} changes`);
    try {
      summary.push = await runProxylessPush(backend, discovered, PROXYLESS_STREAMS, PUSH_CHANGES);
    } catch (error) {
      fail('push', error);
    }
  }
  backend?.shutdown();
  summary.wallMs = Date.now() - started;
  return summary;
}

// ------------------------------------------------------------------------------------- rendering

const num = (n: number): string => n.toLocaleString('en-US');
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;
const microseconds = (millis: number): string => (millis * 1000).toFixed(0);
const medianWall = (passes: ReflectionPass[]) => median(passes.map((pass) => pass.wallMs));

function passRow(label: string, passes: ReflectionPass[]): string[] {
  const pass = passes[0];
  return [
    label,
    String(passes.length),
    `**${ms(medianWall(passes))}**`,
    passes.map((run) => ms(run.wallMs)).join(', '),
    ms(median(passes.map((run) => run.cpuMs))),
    `${num(pass.services)} / ${num(pass.methods)}${pass.error ? ` (error: ${pass.error})` : ''}`,
    `${num(pass.descriptorSetBytes)} (${num(pass.descriptorSetBase64)})`,
    `${mb(pass.before.rss)} -> ${mb(pass.after.rss)} (peak ${mb(pass.peakRss)})`,
    `+${mb(pass.after.heapUsed - pass.before.heapUsed)}`,
    mb(pass.heapRetained),
  ];
}

function discoveryPart(d: Partial<GrpcChildFigures> & Pick<GrpcChildFigures, 'first'>): string[] {
  const rows = [passRow('first discovery in the process (loads the reflection protos)', [d.first])];
  if (d.cold?.length) rows.push(passRow('discovery, no previous result', d.cold));
  if (d.repoll?.length)
    rows.push(
      passRow(
        're-poll, given the previous result (as the poller does); alternated with the row above',
        d.repoll,
      ),
    );
  const out = [
    'One `discoveryTargets` -> `discoverTarget` of the upstream (the real `grpc-reflection` discoverer: one ' +
      '`ServerReflectionInfo` stream, `list_services`, then `file_containing_symbol` for each service and ' +
      '`file_by_filename` for any import still missing, then the services and a FileDescriptorSet in dependency ' +
      'order). Memory columns are from the first run of each row; "heap after GC" = heap used after a full GC ' +
      "with the pass's result referenced.",
    '',
    table(
      [
        'pass',
        'runs',
        'wall ms (median)',
        'each run, ms',
        'child CPU ms (median)',
        'services / methods found',
        'descriptor set bytes (base64 chars)',
        'child RSS MB before -> after',
        'heap growth MB (before GC)',
        'child heap after GC MB',
      ],
      rows,
    ),
  ];
  const b = d.breakdown;
  if (b) {
    out.push(
      '',
      `Where the time goes: the same conversation step by step over \`ReflectionSession\` (the discoverer's ` +
        `reflection client), then \`reflectServices\` as a whole, median of ${CHILD_JOB.breakdownReps}, ms.`,
      '',
      table(
        ['step', 'ms'],
        [
          ['`list_services` on a new channel (includes connecting)', ms(b.listServices)],
          [
            `${num(b.symbolRequests)} \`file_containing_symbol\` requests, each after the previous answer (as discovery ` +
              `sends them); ${num(b.filesReceived)} files, ${kb(b.bytesReceived)} received`,
            ms(b.symbolsInTurn),
          ],
          [
            'the same requests written at once on the stream (answers still in order)',
            ms(b.symbolsPipelined),
          ],
          [
            `protobufjs \`FileDescriptorProto\` decode + \`toObject\` of every file received ` +
              `(${num(b.filesReceived)}; ${num(b.distinctFiles)} distinct), as discovery decodes them`,
            ms(b.decodeReceived),
          ],
          [
            '`reflectServices` (the whole conversation, decoding, ordering, the descriptor set)',
            ms(b.reflectServices),
          ],
        ],
      ),
    );
  }
  return out;
}

const gatewayLabel = (t: TranslationCase) =>
  t.gateway === 'envoy' ? 'Envoy (default gateway)' : 'proxyless (grpcProxyless Gateway: api_listener)';

/** One row per figure, one column per gateway kind. */
const TRANSLATION_ROWS: ReadonlyArray<[string, (t: TranslationCase) => string]> = [
  ['Envoy routes', (t) => num(t.routes)],
  [
    'CDS / EDS / LDS / RDS',
    (t) =>
      ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']
        .map((kind) => t.counts[kind] ?? 0)
        .join(' / '),
  ],
  ['RouteConfiguration / Listener bytes', (t) => `${num(t.routeConfigBytes)} / ${num(t.listenerBytes)}`],
  [
    'first run (the Envoy one is the first in the process: Envoy protos loaded): load / translate / build',
    (t) => `${ms(t.cold.load)} / ${ms(t.cold.translate)} / ${ms(t.cold.build)}`,
  ],
  [
    `median of ${CHILD_JOB.translationReps} runs: load / translate / build (encode)`,
    (t) => `${ms(t.median.load)} / **${ms(t.median.translate)}** / ${ms(t.median.build)}`,
  ],
  ['... total', (t) => `**${ms(t.median.total)}**`],
  ['each run total', (t) => t.runs.map((run) => ms(run.total)).join(', ')],
  [
    'µs per route (translate + build)',
    (t) => microseconds((t.median.translate + t.median.build) / Math.max(1, t.routes)),
  ],
  [
    `JIT-warm (median of the last 10 of ${CHILD_JOB.warmUpRuns} more runs): translate / build / total`,
    (t) => `${ms(t.warm.translate)} / ${ms(t.warm.build)} / ${ms(t.warm.total)}`,
  ],
];

function translationPart({ translations, translationMemory }: TranslationFigures): string[] {
  const out = [
    "The upstream (with the first discovery's result, as `serve` passes it: `loadSnapshot(contents, lastGood, " +
      'discovered)`) and one VirtualService: a header-matched canary route to one method (with a timeout), then ' +
      '`{matchers: [{prefix: /}], routeAction: {functions: {upstream: grpc-api}}}`, one exact-path route per method. ' +
      'Real pipeline with a fresh `ResourceEncoder` each run (every resource encoded); medians of the ' +
      `${CHILD_JOB.translationReps} runs after the first, ms, as in a process that translates now and then (\`serve\` ` +
      'on a change), whose translator code V8 has not fully optimised yet. The two kinds run alternately, so both ' +
      'get the same share of the warm-up. "load" is cached by resource object after the first run, as in `serve` ' +
      'when the store has not changed.',
    '',
    table(
      ['', ...translations.map(gatewayLabel)],
      TRANSLATION_ROWS.map(([label, cell]) => [label, ...translations.map(cell)]),
    ),
    '',
    `Child RSS after the runs ${mb(translationMemory.rssAfter)} MB; heap after a full GC with both kinds' last ` +
      `results referenced ${mb(translationMemory.heapRetained)} MB.`,
  ];
  const problems = translations.flatMap((t) => t.problems);
  if (problems.length) out.push('', `Translation reported problems, first: ${problems.join('; ')}`);
  return out;
}

function pushPart(push: ProxylessPush): string[] {
  const bytes = push.resourceBytes;
  const out = [
    `A grpcProxyless Gateway serves the VirtualService of 6.2 (${num(push.routes)} routes): one api_listener Listener ` +
      `named after the domain (${num(bytes.Listener ?? 0)} bytes), whose HttpConnectionManager takes its routes over ` +
      `RDS (not inline) from one RouteConfiguration (${num(bytes.RouteConfiguration ?? 0)} bytes), one Cluster ` +
      `(${num(bytes.Cluster ?? 0)} bytes) and its ClusterLoadAssignment (${num(bytes.ClusterLoadAssignment ?? 0)} bytes). ` +
      'The real `AdsServer` + `SnapshotCache` (silent logger) run in the bench process. ' +
      `**Clients: ${num(push.streams)} raw ADS streams, not ${num(push.streams)} @grpc/grpc-js-xds channels** ` +
      '(as section 3 does): one process holds many channels but its grpc-js-xds XdsClient is a singleton, so every ' +
      'channel of a process shares one ADS stream, and 500 real clients are 500 processes. A forked process ' +
      '(bench/grpc-clients.ts) opens the streams, each on its own connection and with its own node id, and each ' +
      "subscribes as grpc-js-xds does (SotW): LDS for the domain, then RDS for the Listener's RouteConfiguration, CDS " +
      "for the route's clusters, EDS for the clusters' endpoints, ACKing every response. Each distinct version is " +
      'decoded once for all streams (real clients each decode everything and build their routing tables, which these ' +
      'do not). Besides them, **one real @grpc/grpc-js-xds channel** (own bootstrap, so own XdsClient) dials ' +
      `\`xds:///${DOMAIN}\` and calls a method of the server, checking the config end to end; its ACK of each new ` +
      'RouteConfiguration is timed on the server (it connects after the other streams, and the server serves a ' +
      "proxy's streams in the order they connected, so its ACK is among the last). Each change sets the canary " +
      "route's timeout anew (re-translated " +
      'with the real pipeline and the same encoder); latency = from `cache.setSnapshot(...)` until a stream receives ' +
      'the new RouteConfiguration (`process.hrtime`, CLOCK_MONOTONIC, comparable across the processes), pooled over ' +
      `${push.changes.length} changes. Server, clients and the gRPC server share the 2 cores.`,
    '',
    table(
      [
        'streams',
        'initial sync (LDS -> EDS, all streams)',
        'real grpc-js-xds: first call',
        'changes',
        'setSnapshot call (median)',
        'p50',
        'p99',
        'max',
        'all ACKs at server (median)',
        'real grpc-js-xds ACK (median)',
        'server CPU per change (median)',
        'clients process CPU per change (median)',
        'missing',
        'status',
      ],
      [
        [
          num(push.streams),
          push.initialSync.ok
            ? `${ms(push.initialSync.ms)} ms`
            : `${push.initialSync.synced} synced: ${push.initialSync.error}`,
          push.check.ok ? `${ms(push.check.ms)} ms, ok` : `failed: ${push.check.error}`,
          String(push.changes.length),
          ms(medianOfChanges(push, (c) => c.setSnapshotMs)),
          `**${ms(push.p50)}**`,
          `**${ms(push.p99)}**`,
          ms(push.max),
          ms(medianOfChanges(push, (c) => c.allAckedMs)),
          ms(medianOfChanges(push, (c) => c.checkAckMs)),
          ms(medianOfChanges(push, (c) => c.serverCpuMs)),
          ms(medianOfChanges(push, (c) => c.clientsCpuMs)),
          String(push.missing),
          push.error ? `error: ${push.error}` : 'ok',
        ],
      ],
    ),
  ];
  const first = push.changes[0];
  if (first) {
    const perStream = first.bytesPerStream;
    const responses = Object.entries(first.responses)
      .map(([type, count]) => `${num(count)} ${type}`)
      .join(', ');
    out.push(
      '',
      `Bytes per push: ${perStream.map(num).join(' / ')} bytes per stream (the RDS response: the whole ` +
        `RouteConfiguration), ${((perStream[perStream.length - 1] * push.streams) / 1024 / 1024).toFixed(1)} MB over ` +
        `the ${num(push.streams)} streams; responses per change: ${responses || 'none'}. The snapshot diff of each ` +
        `change: ${[...new Set(push.changedTypes.map((types) => types.join(' + ')))].join('; ')} changed. ` +
        `NACKs: ${push.nacks}; stream errors: ${push.streamErrors}. Per change, ms (p50 / max over the streams): ` +
        push.changes
          .map((c) => {
            const arrived = c.latencies.filter((latency) => !Number.isNaN(latency));
            return `${ms(median(arrived))} / ${ms(Math.max(...arrived))}`;
          })
          .join(', ') +
        '.',
    );
  }
  out.push(
    '',
    `Re-translating each change (same encoder): ${push.pipeline.changes.map((t) => ms(t.total)).join(', ')} ms ` +
      `(initial ${ms(push.pipeline.initial.total)} ms); not in the latencies. Peak RSS of the bench process after this ` +
      `part: ${mb(push.maxRssAfter)} MB (it also holds the earlier sections' state).`,
  );
  return out;
}

function interpretation(summary: GrpcSummary, core: TranslateResult | undefined): string[] {
  const lines: string[] = [];
  const d = summary.discovery;
  const b = d.breakdown;
  if (d.cold?.length && d.first && b) {
    const wall = medianWall(d.cold);
    const roundTrips = b.symbolsInTurn + b.listServices;
    lines.push(
      `Discovering ${num(d.first.services)} services (${num(d.first.methods)} methods) takes ${ms(wall)} ms on ` +
        `loopback (child CPU ${ms(median(d.cold.map((p) => p.cpuMs)))} ms; the first in the process ` +
        `${ms(d.first.wallMs)} ms). In the step-by-step runs, which come later in the process with its code ` +
        `compiled, \`reflectServices\` takes ${ms(b.reflectServices)} ms, of which ${ms(roundTrips)} ms ` +
        `(${((100 * roundTrips) / b.reflectServices).toFixed(0)}%) is the ${num(b.symbolRequests + 1)} requests, ` +
        `each sent after the previous answer (${ms(b.symbolsInTurn / Math.max(1, b.symbolRequests))} ms per ` +
        `round trip; written at once the ${num(b.symbolRequests)} symbol requests take ${ms(b.symbolsPipelined)} ms, ` +
        `${ratio(b.symbolsPipelined, b.symbolsInTurn)}), and ${ms(b.decodeReceived)} ms decoding: @grpc/reflection ` +
        `answers each \`file_containing_symbol\` with the file and all its imports, so ${num(b.filesReceived)} files ` +
        `(${kb(b.bytesReceived)}) arrive for ${num(b.distinctFiles)} distinct ones, and each is decoded. The ` +
        `difference between ${ms(wall)} ms and ${ms(b.reflectServices)} ms is V8 warming up (the discovery passes ` +
        `run first) and the noise of the machine. The descriptor set is ${kb(d.first.descriptorSetBytes)}.`,
    );
  }
  if (d.repoll?.length && d.cold?.length) {
    lines.push(
      'A re-poll sends the same requests and does the same work (reflection has no ETag or version to ask ' +
        `"unchanged?"): ${ms(medianWall(d.repoll))} ms against ${ms(medianWall(d.cold))} ms ` +
        `(${ratio(medianWall(d.repoll), medianWall(d.cold))}, alternated runs); at the default 30 s interval that ` +
        'is cheap for one server.',
    );
  }
  const coreRoute = core && (core.median.translate + core.median.build) / core.n;
  for (const t of d.translations ?? []) {
    const work = t.median.translate + t.median.build;
    const perRoute = work / Math.max(1, t.routes);
    lines.push(
      `${t.gateway === 'envoy' ? 'Envoy' : 'Proxyless'}: ${num(t.routes)} routes translate and encode in ` +
        `${ms(work)} ms, ${microseconds(perRoute)} µs per route` +
        (coreRoute ? ` (${ratio(perRoute, coreRoute)} section 1's ${core?.label} per-route cost)` : '') +
        `; JIT-warm ${ms(t.warm.translate + t.warm.build)} ms (${ratio(t.warm.translate + t.warm.build, work)}). ` +
        `Translate, not encode, is the cost (build ${ms(t.median.build)} ms for one RouteConfiguration of ` +
        `${kb(t.routeConfigBytes)}).`,
    );
  }
  const push = summary.push;
  if (push?.changes.length) {
    const rds = push.resourceBytes.RouteConfiguration ?? 0;
    const serverCpu = medianOfChanges(push, (c) => c.serverCpuMs);
    const clientsCpu = medianOfChanges(push, (c) => c.clientsCpuMs);
    lines.push(
      `${num(push.streams)} proxyless streams get a changed route with p50 ${ms(push.p50)} ms, p99 ${ms(push.p99)} ms, ` +
        `max ${ms(push.max)} ms; the server had every ACK after ${ms(medianOfChanges(push, (c) => c.allAckedMs))} ms ` +
        `(median). Per change the server used ${ms(serverCpu)} ms of CPU (writing the response to every stream and ` +
        `reading the ACKs) and the clients' process ${ms(clientsCpu)} ms (receiving ${num(push.streams)} responses ` +
        `of ${kb(rds)} on as many connections)` +
        (clientsCpu > serverCpu
          ? ': with every client in one process sharing the 2 cores with the server, the clients side is the larger ' +
            'cost in these latencies; real clients receive on their own CPUs'
          : '') +
        '. The routes are not inline in the api_listener, so a route change sends only RDS, but the whole ' +
        `RouteConfiguration (${kb(rds)}, every method's route), not just the changed route.`,
    );
  }
  lines.push(
    'The machine is shared and noisy (2 cores; the gRPC server, the control plane and the clients compete for them); compare ratios within one run.',
  );
  return lines;
}

/** A subsection: its heading, then what `render` makes of the figures, or "Not measured." without them. */
function subsection<T>(heading: string, figures: T | undefined, render: (figures: T) => string[]): string[] {
  return [heading, '', ...(figures === undefined ? ['Not measured.'] : render(figures))];
}

type TranslationFigures = Pick<GrpcChildFigures, 'translations' | 'translationMemory'>;

export function grpcSection(summary: GrpcSummary, core: TranslateResult | undefined): string {
  const out = ['## 6. gRPC discovery and proxyless push', ''];
  const backend = summary.backend;
  const startup = summary.discovery.startup;
  out.push(
    backend
      ? `Server: @grpc/grpc-js on 127.0.0.1 in the bench process with ${num(backend.services)} services ` +
          `(${num(backend.methods)} methods), each in its own package and .proto file importing a shared file and ` +
          '`google/protobuf/timestamp.proto`, with 4 to 6 methods of every streaming kind (unary `Get`, `Update`, ' +
          '`Delete`; server-streaming `List`; client-streaming `Upload`; bidi `Watch`), messages with nested types, ' +
          `maps, a oneof and an enum: ${num(backend.protoFiles)} files (${kb(backend.protoBytes)}) generated into a temp ` +
          `dir and loaded with @grpc/proto-loader in ${ms(backend.generateMs)} ms, and @grpc/reflection's ` +
          `\`ReflectionService\` (v1 and v1alpha), whose index took ${ms(backend.reflectionSetupMs)} ms to build. ` +
          'Discovery and translation run in a forked child (`--expose-gc`)' +
          (startup
            ? ` (start-up ${ms(startup.ms)} ms, RSS ${mb(startup.memory.rss)} MB, heap ${mb(startup.memory.heapUsed)} MB)`
            : '') +
          `. The section took ${(summary.wallMs / 1000).toFixed(0)} s.`
      : 'The server did not start.',
  );
  const { first, translations, translationMemory } = summary.discovery;
  out.push(
    '',
    ...subsection(
      '### 6.1 Discovery by server reflection',
      first && { ...summary.discovery, first },
      discoveryPart,
    ),
    '',
    ...subsection(
      '### 6.2 Translation of routes to the discovered methods',
      translations && translationMemory && { translations, translationMemory },
      translationPart,
    ),
    '',
    ...subsection('### 6.3 Push to proxyless gRPC clients after a route change', summary.push, pushPart),
  );
  out.push('', '### 6.4 Interpretation', '', ...interpretation(summary, core).map((line) => `- ${line}`));
  if (summary.errors.length) {
    out.push('', 'Errors:');
    for (const error of summary.errors) out.push('', '```', error, '```');
  }
  return out.join('\n');
}

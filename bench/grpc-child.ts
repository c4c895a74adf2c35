/**
 * gRPC benchmark, discovery side (forked by bench/grpc.ts with --expose-gc, so memory figures are
 * discovery's and translation's, not the server's): server reflection of the bench server through the
 * real discoverer (`discoveryTargets` -> `discoverTarget`), where its time goes, and the translation of a
 * `routeAction.functions` VirtualService to the discovered services. Figures go to the parent as soon as
 * they are measured, so a timeout loses only the step in progress.
 */
import { performance } from 'perf_hooks';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';
import { loadSnapshot } from '../src/api/load';
import type { ApiSnapshot } from '../src/api/snapshot';
import type { DiscoveredFunctions } from '../src/discovery/fds/discovered';
import {
  discoverTarget,
  discoveryTargets,
  type DiscoveryTarget,
} from '../src/discovery/fds/discover-upstream';
import { reflectServices } from '../src/discovery/fds/grpc-reflection/reflect';
import { ReflectionSession } from '../src/discovery/fds/grpc-reflection/reflection-client';
import { ResourceEncoder } from '../src/xds/encode';
import { TYPE_URLS } from '../src/xds/type-urls';
import { grpcContents, UPSTREAM_KEY, type GatewayKind } from './grpc-config';
import {
  countResources,
  reportProblems,
  runPipeline,
  type PipelineResult,
  type StageTimes,
} from './pipeline';
import { median } from './stats';

const logger = pino({ level: 'silent' });

export interface GrpcChildJob {
  port: number;
  /**
   * Discoveries after the first one in the process, each without a previous result and then given it (as
   * the poller re-polls), alternated so that both kinds see the same warm-up.
   */
  pairs: number;
  breakdownReps: number;
  /** Timed pipeline runs per gateway kind after the first (cold) one. */
  translationReps: number;
  /** Further runs after those, until the JIT has compiled the translator's hot code. */
  warmUpRuns: number;
}

/** The last runs of the warm-up whose median is the JIT-warm figure. */
const WARM_SAMPLE = 10;

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface ReflectionPass {
  wallMs: number;
  cpuMs: number;
  services: number;
  methods: number;
  descriptorSetBytes: number;
  /** Base64 in the discovered entry (what `serve` keeps and persists). */
  descriptorSetBase64: number;
  error?: string;
  before: MemorySample;
  /** Right after the pass, garbage not yet collected. */
  after: MemorySample;
  /** Highest RSS sampled every 5 ms during the pass. */
  peakRss: number;
  /** Heap used after a full GC with the result referenced. */
  heapRetained: number;
}

/** One reflection conversation taken apart, medians over the repetitions, ms. */
export interface ReflectionBreakdown {
  /** `list_services`, on a new channel (so with the connection set-up). */
  listServices: number;
  /** One `file_containing_symbol` per service, each waiting for the previous answer (what discovery does). */
  symbolsInTurn: number;
  /** The same requests all written at once on the stream (answers still in order). */
  symbolsPipelined: number;
  /** protobufjs `FileDescriptorProto` decode + `toObject` of every file received, as discovery decodes them. */
  decodeReceived: number;
  /** `reflectServices` as a whole: the conversation, decoding, ordering and the descriptor set. */
  reflectServices: number;
  symbolRequests: number;
  filesReceived: number;
  bytesReceived: number;
  distinctFiles: number;
}

export interface TranslationCase {
  gateway: GatewayKind;
  /** The first run in the process (Envoy protos loaded and compiled). */
  cold: StageTimes;
  runs: StageTimes[];
  median: StageTimes;
  /** Median of the last WARM_SAMPLE runs of the warm-up. */
  warm: StageTimes;
  warmUpRuns: number;
  counts: Record<string, number>;
  routes: number;
  routeConfigBytes: number;
  listenerBytes: number;
  problems: string[];
}

export interface GrpcChildFigures {
  startup: { ms: number; memory: MemorySample };
  first: ReflectionPass;
  cold: ReflectionPass[];
  repoll: ReflectionPass[];
  breakdown: ReflectionBreakdown;
  translations: TranslationCase[];
  /** After the translation runs: RSS, and heap used after a full GC with both kinds' last results referenced. */
  translationMemory: { rssAfter: number; heapRetained: number };
  /** The first discovery's result, which the parent's push benchmark translates. */
  discovered: DiscoveredFunctions;
  maxRss: number;
}

export type GrpcChildMessage =
  | { type: 'figures'; figures: Partial<GrpcChildFigures> }
  | { type: 'done' }
  | { type: 'error'; error: string };

/** The collector `--expose-gc` provides, run twice: the first pass can leave objects for the second. */
const collectGarbage = (): void => [1, 2].forEach(() => (globalThis as { gc?: () => void }).gc?.());

const memory = (usage = process.memoryUsage()): MemorySample => ({
  rss: usage.rss,
  heapUsed: usage.heapUsed,
});

function send(message: GrpcChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('grpc-child runs forked by bench/grpc.ts'));
    process.send(message, (error: Error | null) => (error ? reject(error) : resolve()));
  });
}

const publish = (figures: Partial<GrpcChildFigures>) => send({ type: 'figures', figures });

/** One `discoverTarget` with CPU, wall time and memory around it. */
async function reflectionPass(
  target: DiscoveryTarget,
  snapshot: ApiSnapshot,
  previous: DiscoveredFunctions | undefined,
): Promise<{ pass: ReflectionPass; discovered: DiscoveredFunctions }> {
  collectGarbage();
  const before = memory();
  let peakRss = before.rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const discovered = await discoverTarget(target, snapshot, previous, logger);
  const wallMs = performance.now() - started;
  const { user, system } = process.cpuUsage(cpu);
  clearInterval(sampler);
  const after = memory();
  collectGarbage();
  const services = discovered.functions as Array<{ methods?: unknown[] }>;
  const base64 = discovered.descriptorSet ?? '';
  return {
    discovered,
    pass: {
      wallMs,
      cpuMs: (user + system) / 1000,
      services: services.length,
      methods: services.reduce((sum, service) => sum + (service.methods?.length ?? 0), 0),
      descriptorSetBytes: Buffer.byteLength(base64, 'base64'),
      descriptorSetBase64: base64.length,
      error: discovered.error,
      before,
      after,
      peakRss: Math.max(peakRss, after.rss),
      heapRetained: process.memoryUsage().heapUsed,
    },
  };
}

/** Milliseconds `work` takes, and its result. */
async function clock<T>(work: () => T | Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

async function breakdownOnce(address: string): Promise<ReflectionBreakdown> {
  const credentials = grpc.credentials.createInsecure();
  const session = new ReflectionSession('v1', address, credentials, {
    deadline: new Date(Date.now() + 30_000),
  });
  try {
    const [listServices, listed] = await clock(() => session.listServices());
    const names = listed.filter((name) => !name.startsWith('grpc.'));
    const [symbolsInTurn, raws] = await clock(async () => {
      const received: Buffer[] = [];
      for (const name of names) received.push(...(await session.fileContainingSymbol(name)));
      return received;
    });
    const [symbolsPipelined] = await clock(() =>
      Promise.all(names.map((name) => session.fileContainingSymbol(name))),
    );
    const [decodeReceived, decoded] = await clock(() =>
      raws.map((raw) => FileDescriptorProto.toObject(FileDescriptorProto.decode(raw), { arrays: true })),
    );
    const [reflectMs] = await clock(() => reflectServices({ address, credentials, timeoutMs: 30_000 }));
    return {
      listServices,
      symbolsInTurn,
      symbolsPipelined,
      decodeReceived,
      reflectServices: reflectMs,
      symbolRequests: names.length,
      filesReceived: raws.length,
      bytesReceived: raws.reduce((sum, raw) => sum + raw.length, 0),
      distinctFiles: new Set(decoded.map((file) => file.name as string)).size,
    };
  } finally {
    session.close();
  }
}

/** Medians of every figure over `reps` conversations. */
async function breakdown(address: string, reps: number): Promise<ReflectionBreakdown> {
  const samples: ReflectionBreakdown[] = [];
  for (let rep = 0; rep < reps; rep++) samples.push(await breakdownOnce(address));
  const keys = Object.keys(samples[0]) as Array<keyof ReflectionBreakdown>;
  return Object.fromEntries(
    keys.map((key) => [key, median(samples.map((sample) => sample[key]))]),
  ) as unknown as ReflectionBreakdown;
}

const STAGES = ['load', 'translate', 'build', 'total'] as const;
const GATEWAY_KINDS: readonly GatewayKind[] = ['envoy', 'proxyless'];

const medianTimes = (runs: StageTimes[]): StageTimes =>
  Object.fromEntries(
    STAGES.map((stage) => [stage, median(runs.map((run) => run[stage]))]),
  ) as unknown as StageTimes;

/** What one kind's last pipeline run produced, and the times of all its runs. */
function translationCase(
  gateway: GatewayKind,
  times: StageTimes[],
  result: PipelineResult,
  job: GrpcChildJob,
): TranslationCase {
  const resources = [...result.snapshots.values()].flatMap((snapshot) => [...snapshot]);
  const ofType = (typeUrl: string) =>
    resources.filter(([type]) => type === typeUrl).flatMap(([, byName]) => [...byName.values()]);
  const routeConfigs = ofType(TYPE_URLS.route);
  const [cold, ...runs] = times;
  const timed = runs.slice(0, job.translationReps);
  return {
    gateway,
    cold,
    runs: timed,
    median: medianTimes(timed),
    warm: medianTimes(runs.slice(-WARM_SAMPLE)),
    warmUpRuns: job.warmUpRuns,
    counts: countResources(result.snapshots),
    routes: routeConfigs
      .flatMap((config) => (config.json.virtualHosts ?? []) as Array<{ routes?: unknown[] }>)
      .reduce((sum, host) => sum + (host.routes?.length ?? 0), 0),
    routeConfigBytes: routeConfigs.reduce((sum, config) => sum + config.bytes.length, 0),
    listenerBytes: ofType(TYPE_URLS.listener).reduce((sum, listener) => sum + listener.bytes.length, 0),
    problems: reportProblems(result.translation).slice(0, 5),
  };
}

/**
 * The pipeline for both gateway kinds, alternated run by run so that both get the same share of V8's
 * warm-up, with a fresh encoder each run (every resource encoded): one first run each, `translationReps`
 * timed ones (a process that translates now and then, as `serve` does on changes), then `warmUpRuns`.
 */
function translations(job: GrpcChildJob, discovered: DiscoveredFunctions): Partial<GrpcChildFigures> {
  const discoveredMap = new Map([[UPSTREAM_KEY, discovered]]);
  const kinds = GATEWAY_KINDS.map((gateway) => ({
    gateway,
    contents: grpcContents(job.port, gateway),
    times: [] as StageTimes[],
    last: undefined as PipelineResult | undefined,
  }));
  for (let rep = 0; rep <= job.translationReps + job.warmUpRuns; rep++) {
    for (const kind of kinds) {
      kind.last = undefined;
      collectGarbage();
      kind.last = runPipeline(kind.contents, new ResourceEncoder(), new Map(), discoveredMap);
      kind.times.push(kind.last.times);
    }
  }
  const rssAfter = process.memoryUsage().rss;
  collectGarbage();
  return {
    translations: kinds.map((kind) =>
      translationCase(kind.gateway, kind.times, kind.last as PipelineResult, job),
    ),
    translationMemory: { rssAfter, heapRetained: process.memoryUsage().heapUsed },
  };
}

async function main(job: GrpcChildJob): Promise<void> {
  collectGarbage();
  // performance.now() counts from process start: node start-up and loading the modules.
  await publish({ startup: { ms: performance.now(), memory: memory() } });
  const snapshot = loadSnapshot(grpcContents(job.port, 'envoy')).snapshot;
  const [target, ...others] = discoveryTargets(snapshot);
  if (!target || others.length)
    throw new Error(`expected one discovery target, got ${others.length + (target ? 1 : 0)}`);
  const first = await reflectionPass(target, snapshot, undefined);
  if (first.pass.error) throw new Error(`discovery failed: ${first.pass.error}`);
  await publish({ first: first.pass, discovered: first.discovered });
  const cold: ReflectionPass[] = [];
  const repoll: ReflectionPass[] = [];
  for (let pair = 0; pair < job.pairs; pair++) {
    cold.push((await reflectionPass(target, snapshot, undefined)).pass);
    repoll.push((await reflectionPass(target, snapshot, first.discovered)).pass);
    await publish({ cold, repoll });
  }
  await publish({ breakdown: await breakdown(`127.0.0.1:${job.port}`, job.breakdownReps) });
  await publish(translations(job, first.discovered));
  await publish({ maxRss: process.resourceUsage().maxRSS * 1024 });
  await send({ type: 'done' });
}

if (require.main === module) {
  main(JSON.parse(process.argv[2]) as GrpcChildJob).then(
    () => process.exit(0),
    (error: unknown) =>
      send({ type: 'error', error: (error as Error).stack ?? String(error) }).finally(() => process.exit(1)),
  );
}

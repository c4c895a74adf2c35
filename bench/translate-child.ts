/**
 * One translation benchmark in a fresh process (forked by run.ts with --expose-gc), so RSS belongs to
 * this size alone. Sends one TranslateResult to the parent over IPC and exits.
 */
import { performance, PerformanceObserver, type PerformanceEntry } from 'perf_hooks';
import type * as protobuf from 'protobufjs';
import { setTimeout as sleep } from 'timers/promises';
import { envoyType } from '../src/xds/envoy-protos';
import { ResourceEncoder, versionOf } from '../src/xds/encode';
import { encodeValid } from '../src/xds/pgv';
import { toEncodable } from '../src/xds/proto-json';
import type { XdsResource, XdsSnapshot } from '../src/xds/resources';
import { diffSnapshots } from '../src/xds/snapshot-cache';
import { messageNameOf } from '../src/xds/type-urls';
import { generateContents, withChangedRoute, type GenOptions } from './gen';
import { countResources, reportProblems, runPipeline, totalBytes, type StageTimes } from './pipeline';
import { median } from './stats';

export interface TranslateJob {
  label: string;
  gen: GenOptions;
  reps: number;
  floor: boolean;
  incrementalReps: number;
}

export interface MemoryFigures {
  /** Peak RSS of the whole process (process.resourceUsage().maxRSS). */
  maxRss: number;
  /** RSS after loading the protos and warming up, before generating the input. */
  baselineRss: number;
  /** RSS and heap right after the first full pipeline run (result still referenced). */
  rssAfterFirst: number;
  heapAfterFirst: number;
  /** Heap used after a full GC while the input and one result are referenced. */
  heapRetained: number;
  /** Heap used after a full GC at baseline (protos loaded, nothing generated). */
  heapBaseline: number;
}

export interface FloorFigures {
  resources: number;
  bytes: number;
  /** Resources whose Type.encode(fromObject(toEncodable(json))) bytes differ from the pipeline's. */
  mismatches: number;
  prepareMs: number;
  /** Median over reps of encoding every prepared message (Type.encode(msg).finish()). */
  encodeMs: number;
  encodeRuns: number[];
  /** Median cost over all resources of each step of a new encoding (ResourceEncoder.encode), measured separately. */
  breakdown: {
    /** encodeValid: the PGV rules and proto3 JSON -> wire bytes, in one walk. */
    encode: number;
    /** versionOf: the hash of the bytes. */
    version: number;
  };
}

/** Main-thread GC pauses (ms) that fell inside each stage of each repetition. */
export interface GcPauses {
  translate: number[];
  build: number[];
}

export interface IncrementalFigures {
  runs: StageTimes[];
  median: StageTimes;
  /** Resources that differ (by version) from the previous snapshot, per run. */
  changed: number[];
  changedBytes: number[];
}

export interface TranslateResult {
  label: string;
  n: number;
  counts: Record<string, number>;
  bytes: number;
  problems: string[];
  coldFirstRun: StageTimes;
  runs: StageTimes[];
  median: StageTimes;
  gcPauses: GcPauses;
  memory: MemoryFigures;
  floor?: FloorFigures;
  incremental?: IncrementalFigures;
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
};

function medianTimes(runs: readonly StageTimes[]): StageTimes {
  return {
    load: median(runs.map((r) => r.load)),
    translate: median(runs.map((r) => r.translate)),
    build: median(runs.map((r) => r.build)),
    total: median(runs.map((r) => r.total)),
  };
}

function allResources(snapshots: ReadonlyMap<string, XdsSnapshot>): XdsResource[] {
  const seen = new Set<XdsResource>();
  for (const snapshot of snapshots.values())
    for (const byName of snapshot.values()) for (const r of byName.values()) seen.add(r);
  return [...seen];
}

function timeEach<T>(items: readonly T[], reps: number, fn: (item: T) => unknown): number {
  const runs: number[] = [];
  let sink = 0;
  for (let rep = 0; rep < reps; rep++) {
    const t0 = performance.now();
    for (const item of items) if (fn(item)) sink++;
    runs.push(performance.now() - t0);
  }
  if (sink < 0) process.stderr.write('');
  return median(runs);
}

function measureFloor(resources: readonly XdsResource[], reps: number): FloorFigures {
  const t0 = performance.now();
  const prepared = resources.map((r) => {
    const type = envoyType(messageNameOf(r.typeUrl));
    return { resource: r, type, message: type.fromObject(toEncodable(type, r.json)) as protobuf.Message };
  });
  const prepareMs = performance.now() - t0;
  let mismatches = 0;
  let bytes = 0;
  for (const p of prepared) {
    const encoded = p.type.encode(p.message).finish();
    bytes += encoded.length;
    if (
      Buffer.compare(
        Buffer.from(encoded.buffer, encoded.byteOffset, encoded.length),
        Buffer.from(p.resource.bytes),
      ) !== 0
    )
      mismatches++;
  }
  gc();
  const encodeRuns: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const start = performance.now();
    let total = 0;
    for (const p of prepared) total += p.type.encode(p.message).finish().length;
    encodeRuns.push(performance.now() - start);
    if (total !== bytes) mismatches++;
  }
  const typed = resources.map((r) => ({ r, type: envoyType(messageNameOf(r.typeUrl)) }));
  const breakdownReps = 3;
  const breakdown = {
    encode: timeEach(typed, breakdownReps, (t) => encodeValid(t.type, t.r.json)?.length),
    version: timeEach(typed, breakdownReps, (t) => versionOf(t.r.bytes)),
  };
  return {
    resources: resources.length,
    bytes,
    mismatches,
    prepareMs,
    encodeMs: median(encodeRuns),
    encodeRuns,
    breakdown,
  };
}

/** Sums the GC pauses observed between `from` and `to` (performance.now() times). */
function pausesWithin(pauses: readonly PerformanceEntry[], from: number, to: number): number {
  let sum = 0;
  for (const pause of pauses) if (pause.startTime >= from && pause.startTime < to) sum += pause.duration;
  return sum;
}

async function run(job: TranslateJob): Promise<TranslateResult> {
  const pauses: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => pauses.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  // Warm-up: loads the Envoy protos, compiles validators and encoders, JITs the pipeline.
  const warm = generateContents({ ...job.gen, n: 100 });
  const coldFirstRun = runPipeline(warm, new ResourceEncoder()).times;
  for (let i = 0; i < 3; i++) runPipeline(warm, new ResourceEncoder());
  gc();
  const heapBaseline = process.memoryUsage().heapUsed;
  const baselineRss = process.memoryUsage().rss;

  const contents = generateContents(job.gen);
  const runs: StageTimes[] = [];
  const starts: ReturnType<typeof runPipeline>['starts'][] = [];
  let last = undefined as ReturnType<typeof runPipeline> | undefined;
  let encoder = new ResourceEncoder();
  let rssAfterFirst = 0;
  let heapAfterFirst = 0;
  for (let rep = 0; rep < job.reps; rep++) {
    // Each repetition starts from a fresh encoder; the previous one must not survive the collection.
    last = undefined;
    encoder = new ResourceEncoder();
    gc();
    const result = runPipeline(contents, encoder);
    if (rep === 0) {
      const mem = process.memoryUsage();
      rssAfterFirst = mem.rss;
      heapAfterFirst = mem.heapUsed;
    }
    runs.push(result.times);
    starts.push(result.starts);
    last = result;
    process.stderr.write(
      `  ${job.label} rep ${rep + 1}/${job.reps}: total ${result.times.total.toFixed(0)} ms\n`,
    );
  }
  if (!last) throw new Error('no repetitions');
  gc();
  const heapRetained = process.memoryUsage().heapUsed;
  // GC entries reach the observer asynchronously.
  await sleep(100);
  observer.disconnect();
  const result: TranslateResult = {
    label: job.label,
    n: job.gen.n,
    counts: countResources(last.snapshots),
    bytes: totalBytes(last.snapshots),
    problems: reportProblems(last.translation).slice(0, 10),
    coldFirstRun,
    runs,
    median: medianTimes(runs),
    gcPauses: {
      translate: starts.map((at) => pausesWithin(pauses, at.translate, at.build)),
      build: starts.map((at) => pausesWithin(pauses, at.build, at.end)),
    },
    memory: {
      maxRss: 0,
      baselineRss,
      rssAfterFirst,
      heapAfterFirst,
      heapRetained,
      heapBaseline,
    },
  };

  if (job.floor) {
    process.stderr.write(`  ${job.label}: protobufjs encode floor\n`);
    result.floor = measureFloor(allResources(last.snapshots), 7);
  }

  if (job.incrementalReps > 0) {
    process.stderr.write(`  ${job.label}: incremental (one route changed, same ResourceEncoder)\n`);
    const incRuns: StageTimes[] = [];
    const changed: number[] = [];
    const changedBytes: number[] = [];
    let previous = last.snapshots;
    // A route in the middle of the fourth VirtualService (with a timeout, so the change is a value change).
    const k = Math.min(job.gen.n - 1, Math.floor((job.gen.n * 35) / 100) + 2);
    for (let rep = 0; rep < job.incrementalReps; rep++) {
      const changedContents = withChangedRoute(contents, job.gen, k, rep + 1);
      gc();
      const next = runPipeline(changedContents, encoder, previous);
      incRuns.push(next.times);
      let count = 0;
      let bytes = 0;
      for (const [key, snapshot] of next.snapshots) {
        const diff = diffSnapshots(previous.get(key), snapshot);
        for (const [type, changes] of diff) {
          for (const name of [...changes.added, ...changes.changed]) {
            count++;
            bytes += snapshot.get(type)?.get(name)?.bytes.length ?? 0;
          }
          count += changes.removed.size;
        }
      }
      changed.push(count);
      changedBytes.push(bytes);
      previous = next.snapshots;
    }
    result.incremental = { runs: incRuns, median: medianTimes(incRuns), changed, changedBytes };
  }
  result.memory.maxRss = process.resourceUsage().maxRSS * 1024;
  return result;
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2]) as TranslateJob;
  run(job).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (error: unknown) =>
      process.send?.({ ok: false, error: (error as Error).stack ?? String(error) }, () => process.exit(1)),
  );
}

/**
 * xDS push latency: the real AdsServer over a SnapshotCache on 127.0.0.1:0, many ADS streams opened
 * by a forked client process (ads-clients.ts), one route changed with the real pipeline, and the time
 * from `cache.setSnapshot` to each stream receiving the new version.
 */
import pino from 'pino';
import { Metrics } from '../src/admin/metrics';
import { AdsServer } from '../src/xds/ads-server';
import { ResourceEncoder } from '../src/xds/encode';
import type { XdsResource, XdsSnapshot } from '../src/xds/resources';
import { SnapshotCache } from '../src/xds/snapshot-cache';
import { TYPE_URLS, type TypeUrl } from '../src/xds/type-urls';
import type { Logger } from '../src/logger';
import { AdsFleet } from './ads-fleet';
import { waitFor } from './child-ipc';
import { generateContents, withChangedRoute, type GenOptions } from './gen';
import { runPipeline, type StageTimes } from './pipeline';
import { percentile, progress } from './stats';

export interface PushRun {
  clients: number;
  sotw: number;
  delta: number;
  channels: number;
  ok: boolean;
  error?: string;
  /** Time until every stream had its initial RDS response. */
  initialSyncMs: number;
  /** Per change: milliseconds from setSnapshot to arrival, per stream (NaN if it never arrived). */
  latencies: number[][];
  /** Per change: how long the synchronous setSnapshot call (diff + push fan-out) took. */
  setSnapshotMs: number[];
  missing: number;
  p50: number;
  p99: number;
  max: number;
  sotwP99: number;
  deltaP99: number;
  /** Delta responses that carried the change: resources in each (expected 1) and removals (expected 0). */
  deltaResourceCounts: number[];
  deltaRemovedCounts: number[];
  deltaChangedNames: string[][];
  deltaInitialResources: number[];
  sotwResourcesPerResponse: number;
  sotwResponseBytes: number;
  deltaResponseBytes: number;
  streamErrors: number;
}

export interface PushSummary {
  label: string;
  gen: GenOptions;
  routeConfigs: string[];
  routeConfigBytes: number[];
  changedRouteConfig: string;
  pipeline: { initial: StageTimes; changes: StageTimes[] };
  runs: PushRun[];
  /** process.resourceUsage().maxRSS (bytes) of this (the server's) process after the scenario. */
  maxRssAfter: number;
}

const KEY = 'default~gateway-proxy';

function silentLogger(): Logger {
  return pino({ level: 'silent' }) as unknown as Logger;
}

/** A copy with fresh maps and resource objects, so no per-map or per-resource cache of the server is warm. */
function freshCopy(snapshot: XdsSnapshot, memo: Map<XdsResource, XdsResource>): XdsSnapshot {
  const out = new Map<TypeUrl, Map<string, XdsResource>>();
  for (const [type, byName] of snapshot) {
    const copy = new Map<string, XdsResource>();
    for (const [name, r] of byName) {
      let c = memo.get(r);
      if (!c) {
        c = { ...r };
        memo.set(r, c);
      }
      copy.set(name, c);
    }
    out.set(type, copy);
  }
  return out;
}

async function runClients(
  clients: number,
  snapshots: readonly XdsSnapshot[],
  names: string[],
  streamsPerChannel: number,
): Promise<PushRun> {
  const delta = Math.max(1, Math.round(clients / 10));
  const sotw = clients - delta;
  const memo = new Map<XdsResource, XdsResource>();
  const fresh = snapshots.map((s) => freshCopy(s, memo));
  const cache = new SnapshotCache();
  const server = new AdsServer({
    cache,
    metrics: new Metrics(),
    logger: silentLogger(),
    shutdownGraceMs: 2000,
  });
  const port = await server.start('127.0.0.1:0');
  let acks = 0;
  const offAck = server.onAck(() => {
    acks++;
  });
  cache.setSnapshot(KEY, fresh[0]);
  const fleet = new AdsFleet();
  const run: PushRun = {
    clients,
    sotw,
    delta,
    channels: Math.ceil(clients / streamsPerChannel),
    ok: false,
    initialSyncMs: NaN,
    latencies: [],
    setSnapshotMs: [],
    missing: 0,
    p50: NaN,
    p99: NaN,
    max: NaN,
    sotwP99: NaN,
    deltaP99: NaN,
    deltaResourceCounts: [],
    deltaRemovedCounts: [],
    deltaChangedNames: [],
    deltaInitialResources: [],
    sotwResourcesPerResponse: NaN,
    sotwResponseBytes: NaN,
    deltaResponseBytes: NaN,
    streamErrors: 0,
  };
  const sotwLat: number[] = [];
  const deltaLat: number[] = [];
  try {
    const ready = await fleet.open({
      address: `127.0.0.1:${port}`,
      sotw,
      delta,
      streamsPerChannel,
      typeUrl: TYPE_URLS.route,
      names,
      role: KEY,
      timeoutMs: 90_000,
    });
    run.initialSyncMs = ready.elapsedMs;
    run.deltaInitialResources = ready.deltaResources;
    if (!ready.ok)
      throw new Error(`initial sync: ${ready.got}/${ready.streams} streams; ${ready.error ?? ''}`);
    if (!(await waitFor(() => acks >= clients, 30_000)))
      throw new Error(`only ${acks}/${clients} initial ACKs`);
    progress(`  ${clients} streams (${sotw} SotW, ${delta} delta) synced in ${ready.elapsedMs} ms`);
    for (let seq = 1; seq < fresh.length; seq++) {
      acks = 0;
      const { latencies: lat, arrivals } = await fleet.measure(
        seq,
        () => {
          const t0 = process.hrtime.bigint();
          cache.setSnapshot(KEY, fresh[seq]);
          run.setSnapshotMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
          return t0;
        },
        30_000,
      );
      run.latencies.push(lat);
      lat.forEach((l, i) => {
        if (Number.isNaN(l)) run.missing++;
        else (arrivals.modes[i] === 'delta' ? deltaLat : sotwLat).push(l);
      });
      run.deltaResourceCounts.push(...arrivals.deltaResources);
      run.deltaRemovedCounts.push(...arrivals.deltaRemoved);
      if (seq === 1) run.deltaChangedNames = arrivals.deltaNames;
      run.sotwResourcesPerResponse = arrivals.sotwResources[0] ?? NaN;
      run.sotwResponseBytes = arrivals.sotwBytes;
      run.deltaResponseBytes = arrivals.deltaBytes;
      const finite = lat.filter((l) => !Number.isNaN(l));
      progress(
        `  ${clients} streams, change ${seq}: p50 ${percentile(finite, 50).toFixed(1)} ms, max ${Math.max(...finite).toFixed(1)} ms` +
          `${finite.length < lat.length ? `, ${lat.length - finite.length} missing` : ''}`,
      );
      await waitFor(() => acks >= clients, 20_000);
    }
    run.ok = run.missing === 0;
    if (run.missing > 0) run.error = `${run.missing} stream updates never arrived within 30 s`;
  } catch (error) {
    run.error = (error as Error).message;
    progress(`  ${clients} streams: ${run.error}`);
  } finally {
    const all = [...sotwLat, ...deltaLat];
    run.p50 = percentile(all, 50);
    run.p99 = percentile(all, 99);
    run.max = all.length ? Math.max(...all) : NaN;
    run.sotwP99 = percentile(sotwLat, 99);
    run.deltaP99 = percentile(deltaLat, 99);
    run.streamErrors = (await fleet.close()) ?? run.streamErrors;
    offAck();
    await server.stop();
  }
  return run;
}

/**
 * `gen` should use one Gateway per VirtualService, so that there are several RouteConfigurations and a
 * changed route changes exactly one of them.
 */
export async function runPushBench(
  label: string,
  gen: GenOptions,
  clientCounts: readonly number[],
  changes: number,
): Promise<PushSummary> {
  const contents = generateContents(gen);
  const encoder = new ResourceEncoder();
  runPipeline(generateContents({ ...gen, n: 100 }), new ResourceEncoder());
  const first = runPipeline(contents, encoder);
  const snapshots: XdsSnapshot[] = [];
  const initialSnapshot = first.snapshots.get(KEY);
  if (!initialSnapshot) throw new Error(`translation produced no snapshot for ${KEY}`);
  snapshots.push(initialSnapshot);
  const changeTimes: StageTimes[] = [];
  let previous = first.snapshots;
  const k = Math.floor((gen.n * 35) / 100) + 2; // a route in vs-003, changed in place
  for (let i = 1; i <= changes; i++) {
    const next = runPipeline(withChangedRoute(contents, gen, k, i), encoder, previous);
    changeTimes.push(next.times);
    const snap = next.snapshots.get(KEY);
    if (!snap) throw new Error('no snapshot');
    snapshots.push(snap);
    previous = next.snapshots;
  }
  const routes = initialSnapshot.get(TYPE_URLS.route) ?? new Map<string, XdsResource>();
  const names = [...routes.keys()].sort();
  const changedRouteConfig =
    names.find(
      (name) => routes.get(name)?.version !== snapshots[1].get(TYPE_URLS.route)?.get(name)?.version,
    ) ?? '(none)';
  const runs: PushRun[] = [];
  for (const count of clientCounts) {
    progress(`push latency (${label}): ${count} streams`);
    runs.push(await runClients(count, snapshots, names, 100));
  }
  return {
    label,
    gen,
    routeConfigs: names,
    routeConfigBytes: names.map((name) => routes.get(name)?.bytes.length ?? 0),
    changedRouteConfig,
    pipeline: { initial: first.times, changes: changeTimes },
    runs,
    maxRssAfter: process.resourceUsage().maxRSS * 1024,
  };
}

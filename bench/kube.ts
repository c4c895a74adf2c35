/**
 * Kubernetes benchmark, parent side: forks the loopback API server (kube-api-child.ts) holding N
 * Services of E endpoints each, starts the control plane on it twice in a forked process
 * (kube-sluice-child.ts: a first start, where Service discovery creates every Upstream, then a restart
 * with the Upstreams there), and on the restarted one measures how an EndpointSlice change written at
 * the API server reaches ADS streams opened by a forked client process (ads-fleet.ts), plus one
 * Envoy-like stream (kube-observer.ts) that shows which types are re-sent.
 */
import { TYPE_URLS } from '../src/xds/type-urls';
import { AdsFleet } from './ads-fleet';
import { ChildIpc, waitFor } from './child-ipc';
import type { ApiCommand, ApiEvent } from './kube-api-child';
import { EnvoyLikeStream } from './kube-observer';
import {
  PROXY_KEY,
  type MemoryFigures,
  type PublishedChange,
  type SluiceCommand,
  type SluiceEvent,
  type StartFigures,
} from './kube-sluice-child';
import { clusterOf, endpointsAfter, WATCHED, type KubeWorld } from './kube-world';
import { percentile, progress } from './stats';

const STREAMS = 1000;
const STREAMS_PER_CHANNEL = 100;
const CHANGES = 5;
/** Restarts after the first start (the Upstreams are there); the push is measured on the last. */
const RESTARTS = 3;
/** After a change reached every stream: how long to wait for anything else it might still send. */
const AFTER_CHANGE_MS = 500;

export interface KubeStart {
  label: string;
  figures?: StartFigures;
  /** API requests the control plane made from its start until it settled, by `verb resource`. */
  requests: Record<string, number>;
  stopMs: number;
  error?: string;
}

export interface KubeChange {
  /** Per stream, ms from the API server write to the new ClusterLoadAssignment; NaN if it never came. */
  latencies: number[];
  /** ms from the API server write to the snapshot carrying it (watch, debounce, translation). */
  publishedMs: number;
  snapshotChanges: PublishedChange['counts'][];
  /** xDS responses the server sent for this change, by type. */
  pushes: Record<string, number>;
  /** Responses the Envoy-like stream got for this change, by type. */
  observed: Record<string, number>;
  endpointsAfter: number;
}

export interface KubePush {
  streams: number;
  sotw: number;
  delta: number;
  channels: number;
  initialSyncMs: number;
  changes: KubeChange[];
  /** Resources in the SotW EDS response that carried a change (of the WATCHED subscribed). */
  sotwResources: number[];
  deltaResources: number[];
  streamErrors?: number;
  error?: string;
}

export interface KubeScale {
  world: KubeWorld;
  objects: number;
  seedMs: number;
  starts: KubeStart[];
  push?: KubePush;
  memoryAfterPush?: MemoryFigures;
  errors: string[];
}

type Api = ChildIpc<ApiCommand, ApiEvent>;
type Sluice = ChildIpc<SluiceCommand, SluiceEvent>;

function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after))
    if (n !== (before[key] ?? 0)) out[key] = n - (before[key] ?? 0);
  return out;
}

async function requests(api: Api): Promise<Record<string, number>> {
  return (await api.ask({ cmd: 'requests' }, 'requests', 10_000)).counts;
}

async function stopSluice(sluice: Sluice): Promise<number> {
  try {
    return (await sluice.ask({ cmd: 'stop' }, 'stopped', 30_000)).elapsedMs;
  } catch {
    return NaN;
  } finally {
    await waitFor(() => sluice.exited, 3_000);
    sluice.kill();
  }
}

/** Starts the control plane on the API server; `use` runs on it once started (the push measurement). */
async function startOnce(
  api: Api,
  kubeconfig: string,
  world: KubeWorld,
  label: string,
  use?: (sluice: Sluice, figures: StartFigures) => Promise<void>,
): Promise<KubeStart> {
  progress(`kube ${world.services.toLocaleString('en-US')} services: ${label}`);
  const before = await requests(api);
  const sluice: Sluice = new ChildIpc('kube-sluice-child.js', {
    args: [JSON.stringify({ kubeconfig, world })],
    execArgv: ['--expose-gc'],
  });
  const run: KubeStart = { label, requests: {}, stopMs: NaN };
  try {
    const started = await sluice.next('started', 300_000);
    run.requests = diffCounts(await requests(api), before);
    if (!started.figures) throw new Error(started.error ?? 'no figures');
    const f = started.figures;
    run.figures = f;
    progress(
      `  full snapshot in ${f.fullMs.toFixed(0)} ms (listed in ${f.loadMs.toFixed(0)} ms, serving at ${f.servingMs.toFixed(0)} ms, ` +
        `${f.translationsToFull} translations), settled at ${f.settledMs.toFixed(0)} ms; heap ${(f.atFull.heapUsed / 2 ** 20).toFixed(0)} MB, ` +
        `peak RSS ${(f.atFull.maxRss / 2 ** 20).toFixed(0)} MB`,
    );
    await use?.(sluice, f);
  } catch (error) {
    run.error = (error as Error).message;
    progress(`  ${label} failed: ${run.error}`);
  } finally {
    run.stopMs = await stopSluice(sluice);
  }
  return run;
}

async function measurePush(api: Api, sluice: Sluice, world: KubeWorld, f: StartFigures): Promise<KubePush> {
  const delta = STREAMS / 10;
  const push: KubePush = {
    streams: STREAMS,
    sotw: STREAMS - delta,
    delta,
    channels: Math.ceil(STREAMS / STREAMS_PER_CHANNEL),
    initialSyncMs: NaN,
    changes: [],
    sotwResources: [],
    deltaResources: [],
  };
  const watched = Array.from({ length: WATCHED }, (_, i) => clusterOf(world, i));
  const fleet = new AdsFleet();
  const envoy = new EnvoyLikeStream(f.xdsPort, PROXY_KEY, watched, f.routeConfigs);
  try {
    const ready = await fleet.open({
      address: `127.0.0.1:${f.xdsPort}`,
      sotw: push.sotw,
      delta,
      streamsPerChannel: STREAMS_PER_CHANNEL,
      typeUrl: TYPE_URLS.endpoint,
      names: watched,
      role: PROXY_KEY,
      timeoutMs: 90_000,
    });
    push.initialSyncMs = ready.elapsedMs;
    if (!ready.ok)
      throw new Error(`initial sync: ${ready.got}/${ready.streams} streams; ${ready.error ?? ''}`);
    if (!(await waitFor(() => envoy.synced, 30_000)))
      throw new Error('the Envoy-like stream got no full config');
    progress(`  ${STREAMS} streams synced in ${ready.elapsedMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, AFTER_CHANGE_MS));
    envoy.take();
    await sluice.ask({ cmd: 'changes' }, 'changes', 10_000);
    for (let seq = 1; seq <= CHANGES; seq++) {
      let written = 0n;
      const { latencies, arrivals } = await fleet.measure(
        seq,
        async () => (written = BigInt((await api.ask({ cmd: 'change', seq }, 'changed', 10_000)).at)),
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, AFTER_CHANGE_MS));
      const { changes, pushes } = await sluice.ask({ cmd: 'changes' }, 'changes', 10_000);
      push.changes.push({
        latencies,
        publishedMs: changes.length ? Number(BigInt(changes[0].at) - written) / 1e6 : NaN,
        snapshotChanges: changes.map((c) => c.counts),
        pushes,
        observed: envoy.take(),
        endpointsAfter: endpointsAfter(world, seq),
      });
      push.sotwResources.push(...arrivals.sotwResources);
      push.deltaResources.push(...arrivals.deltaResources);
      const got = latencies.filter((l) => !Number.isNaN(l));
      progress(
        `  change ${seq}: snapshot after ${push.changes[seq - 1].publishedMs.toFixed(1)} ms, streams p50 ${percentile(got, 50).toFixed(1)} ms, max ${Math.max(...got).toFixed(1)} ms` +
          `${got.length < latencies.length ? `, ${latencies.length - got.length} missing` : ''}; pushed ${JSON.stringify(pushes)}`,
      );
    }
  } catch (error) {
    push.error = (error as Error).message;
    progress(`  push failed: ${push.error}`);
  } finally {
    push.streamErrors = await fleet.close();
    await envoy.close();
  }
  return push;
}

async function runScale(world: KubeWorld, withPush: boolean): Promise<KubeScale> {
  const api: Api = new ChildIpc('kube-api-child.js');
  const scale: KubeScale = { world, objects: 0, seedMs: NaN, starts: [], errors: [] };
  try {
    const seeded = await api.ask({ cmd: 'seed', world }, 'seeded', 120_000);
    scale.objects = seeded.objects;
    scale.seedMs = seeded.elapsedMs;
    scale.starts.push(await startOnce(api, seeded.kubeconfig, world, 'first start'));
    for (let r = 1; r <= RESTARTS; r++) {
      const measure = withPush && r === RESTARTS;
      scale.starts.push(
        await startOnce(
          api,
          seeded.kubeconfig,
          world,
          `restart ${r}${measure ? ' (then the push measurement)' : ''}`,
          measure
            ? async (sluice, figures) => {
                scale.push = await measurePush(api, sluice, world, figures);
                scale.memoryAfterPush = (await sluice.ask({ cmd: 'memory' }, 'memory', 10_000)).memory;
              }
            : undefined,
        ),
      );
    }
  } catch (error) {
    scale.errors.push((error as Error).message);
    progress(`kube ${world.services} services failed: ${(error as Error).message}`);
  } finally {
    await api.ask({ cmd: 'close' }, 'closed', 10_000).catch(() => undefined);
    await waitFor(() => api.exited, 3_000);
    api.kill();
  }
  return scale;
}

export interface KubeSummary {
  scales: KubeScale[];
  streams: number;
  changes: number;
  wallMs: number;
}

/** The section's measurements: for each size, a first start, restarts, and the push on the last restart. */
export async function runKubeBench(sizes: readonly number[] = [1000, 10000]): Promise<KubeSummary> {
  const started = Date.now();
  const scales: KubeScale[] = [];
  for (const services of sizes) scales.push(await runScale({ services, endpoints: 5 }, true));
  return { scales, streams: STREAMS, changes: CHANGES, wallMs: Date.now() - started };
}

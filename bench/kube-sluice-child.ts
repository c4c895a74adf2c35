/**
 * The control plane on the Kubernetes store, as `serve --kube --no-leader-election` wires it
 * (`storeWithServices`, `startSluice`, Service discovery started as the sole replica), in a process of
 * its own (forked by kube.ts with `--expose-gc`) so that its time and memory are its own. It says when
 * the first full snapshot (every Service's cluster and ClusterLoadAssignment, every endpoint) was
 * published, and afterwards what each snapshot change touched and which xDS responses went out.
 */
import pino from 'pino';
import { Metrics } from '../src/admin/metrics';
import { startSluice, type RunningSluice } from '../src/control-plane/sluice-server';
import type { Logger } from '../src/logger';
import { KubeClient, loadKubeConfig } from '../src/store/kube/kube-client';
import type { ServiceDiscovery } from '../src/store/kube/service-discovery';
import { storeWithServices } from '../src/store/kube/store-with-services';
import type { XdsSnapshot } from '../src/xds/resources';
import type { SnapshotChange } from '../src/xds/snapshot-cache';
import { TYPE_URLS } from '../src/xds/type-urls';
import type { KubeWorld } from './kube-world';

/** The default gateway's proxy (there is no Gateway): what an Envoy with role `default~gateway-proxy` gets. */
export const PROXY_KEY = 'default~gateway-proxy';

export interface SluiceJob {
  kubeconfig: string;
  world: KubeWorld;
}

export interface MemoryFigures {
  /** process.resourceUsage().maxRSS so far, bytes. */
  maxRss: number;
  rss: number;
  /** heapUsed after a full GC, bytes. */
  heapUsed: number;
}

export interface StartFigures {
  /** From creating the store to `store.load()` resolving: every informer has listed. */
  loadMs: number;
  /** ... to `startSluice` resolving: first translation published, xDS and admin listening. */
  servingMs: number;
  /** ... to the first snapshot with every cluster, ClusterLoadAssignment and endpoint. */
  fullMs: number;
  /** ... to the last snapshot or status write before the loop stayed idle for QUIET_MS. */
  settledMs: number;
  translationsToFull: number;
  translationsToSettled: number;
  /** Sum of the translation durations (the loop's own histogram) up to the full snapshot, ms. */
  translatingMsToFull: number;
  clusters: number;
  assignments: number;
  endpoints: number;
  baseline: MemoryFigures;
  atFull: MemoryFigures;
  xdsPort: number;
  /** RouteConfiguration names of the proxy (what an Envoy asks RDS for). */
  routeConfigs: string[];
}

/** One published snapshot change: when (hrtime, ns) and how many resources of each type it touched. */
export interface PublishedChange {
  at: string;
  /** By type (short name), e.g. {ClusterLoadAssignment: 1}. */
  counts: Record<string, number>;
}

export type SluiceCommand = { cmd: 'changes' } | { cmd: 'memory' } | { cmd: 'stop' };

export type SluiceEvent =
  | { ev: 'started'; figures?: StartFigures; error?: string }
  | {
      ev: 'changes';
      /** Every snapshot change of the proxy since the last ask. */
      changes: PublishedChange[];
      /** xDS responses sent since the last ask, by type (short name). */
      pushes: Record<string, number>;
    }
  | { ev: 'memory'; memory: MemoryFigures }
  | { ev: 'stopped'; elapsedMs: number };

const QUIET_MS = 1000;
const FULL_TIMEOUT_MS = 240_000;

const silent = pino({ level: 'silent' }) as unknown as Logger;
const short = (typeUrl: string): string => typeUrl.split('.').pop() ?? typeUrl;
const sinceMs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function send(event: SluiceEvent): void {
  process.send?.(event);
}

function memory(): MemoryFigures {
  global.gc?.();
  global.gc?.();
  return {
    maxRss: process.resourceUsage().maxRSS * 1024,
    rss: process.memoryUsage().rss,
    heapUsed: process.memoryUsage().heapUsed,
  };
}

function endpointCount(snapshot: XdsSnapshot): number {
  let total = 0;
  for (const { json } of snapshot.get(TYPE_URLS.endpoint)?.values() ?? []) {
    for (const locality of (json.endpoints ?? []) as Array<{ lbEndpoints?: unknown[] }>) {
      total += locality.lbEndpoints?.length ?? 0;
    }
  }
  return total;
}

function isFull(snapshot: XdsSnapshot | undefined, world: KubeWorld): boolean {
  return (
    snapshot !== undefined &&
    (snapshot.get(TYPE_URLS.cluster)?.size ?? 0) >= world.services &&
    (snapshot.get(TYPE_URLS.endpoint)?.size ?? 0) >= world.services &&
    endpointCount(snapshot) >= world.services * world.endpoints
  );
}

async function counterTotal(metrics: Metrics, name: 'translations'): Promise<number> {
  return (await metrics[name].get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function pushesByType(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.pushes.get()).values) {
    const type = short(String(v.labels.type_url));
    out[type] = (out[type] ?? 0) + v.value;
  }
  return out;
}

async function translatingMs(metrics: Metrics): Promise<number> {
  const sum = (await metrics.translationSeconds.get()).values.find((v) => v.metricName?.endsWith('_sum'));
  return (sum?.value ?? NaN) * 1000;
}

/**
 * Resolves, once the loop has been idle (translations and their status writes done) with no snapshot
 * published for QUIET_MS, with when that began (hrtime).
 */
async function quiet(running: RunningSluice, lastPublished: () => bigint): Promise<bigint> {
  let lastBusy = 0n;
  for (;;) {
    let idle = false;
    void running.controlPlane.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = process.hrtime.bigint();
    if (!idle) lastBusy = now;
    const since = lastPublished() > lastBusy ? lastPublished() : lastBusy;
    if (now - since >= BigInt(QUIET_MS) * 1_000_000n) return since;
  }
}

class SluiceUnderTest {
  private running: RunningSluice | undefined;
  private discovery: ServiceDiscovery | undefined;
  private readonly metrics = new Metrics();
  private changes: PublishedChange[] = [];
  private pushesBefore: Record<string, number> = {};
  private lastPublished = 0n;

  async start(job: SluiceJob): Promise<StartFigures> {
    const baseline = memory();
    const config = await loadKubeConfig(job.kubeconfig);
    const t0 = process.hrtime.bigint();
    const { store, serviceDiscovery } = storeWithServices({ client: new KubeClient(config), logger: silent });
    await store.load();
    const loadMs = sinceMs(t0);
    let fullMs = NaN;
    let full: () => void = () => undefined;
    const fullPromise = new Promise<void>((resolve) => (full = resolve));
    const onChange = (change: SnapshotChange) => {
      if (change.key !== PROXY_KEY) return;
      const at = process.hrtime.bigint();
      this.lastPublished = at;
      if (Number.isNaN(fullMs)) {
        if (isFull(change.snapshot, job.world)) {
          fullMs = sinceMs(t0);
          full();
        }
        return;
      }
      const counts: PublishedChange['counts'] = {};
      for (const [type, c] of change.changes)
        counts[short(type)] = c.added.size + c.changed.size + c.removed.size;
      this.changes.push({ at: at.toString(), counts });
    };
    const running = await startSluice({
      store,
      logger: silent,
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      metrics: this.metrics,
    });
    this.running = running;
    const servingMs = sinceMs(t0);
    this.lastPublished = process.hrtime.bigint();
    // startSluice made the cache and published the first translation; later ones are followed here.
    running.cache.subscribe(onChange);
    const first = running.cache.getSnapshot(PROXY_KEY);
    if (isFull(first, job.world)) {
      fullMs = servingMs;
      full();
    }
    this.discovery = serviceDiscovery;
    serviceDiscovery.start();
    const timeout = setTimeout(() => full(), FULL_TIMEOUT_MS);
    await fullPromise;
    clearTimeout(timeout);
    if (Number.isNaN(fullMs)) throw new Error(`no full snapshot within ${FULL_TIMEOUT_MS} ms`);
    const translationsToFull = await counterTotal(this.metrics, 'translations');
    const translatingMsToFull = await translatingMs(this.metrics);
    const snapshot = running.cache.getSnapshot(PROXY_KEY) as XdsSnapshot;
    const atFull = memory();
    const settledMs = Math.max(fullMs, Number((await quiet(running, () => this.lastPublished)) - t0) / 1e6);
    this.pushesBefore = await pushesByType(this.metrics);
    return {
      loadMs,
      servingMs,
      fullMs,
      settledMs,
      translationsToFull,
      translationsToSettled: await counterTotal(this.metrics, 'translations'),
      translatingMsToFull,
      clusters: snapshot.get(TYPE_URLS.cluster)?.size ?? 0,
      assignments: snapshot.get(TYPE_URLS.endpoint)?.size ?? 0,
      endpoints: endpointCount(snapshot),
      baseline,
      atFull,
      xdsPort: running.xdsPort,
      routeConfigs: [...(snapshot.get(TYPE_URLS.route)?.keys() ?? [])],
    };
  }

  /** Snapshot changes and xDS responses since the last call. */
  async takeChanges(): Promise<Extract<SluiceEvent, { ev: 'changes' }>> {
    const now = await pushesByType(this.metrics);
    const pushes: Record<string, number> = {};
    for (const [type, count] of Object.entries(now)) pushes[type] = count - (this.pushesBefore[type] ?? 0);
    this.pushesBefore = now;
    const changes = this.changes;
    this.changes = [];
    return { ev: 'changes', changes, pushes };
  }

  async stop(): Promise<number> {
    const started = Date.now();
    await this.discovery?.stop();
    await this.running?.stop();
    return Date.now() - started;
  }
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2]) as SluiceJob;
  const sluice = new SluiceUnderTest();
  process.on('message', (command: SluiceCommand) => {
    if (command.cmd === 'changes') void sluice.takeChanges().then(send);
    else if (command.cmd === 'memory') send({ ev: 'memory', memory: memory() });
    else
      void sluice.stop().then(
        (elapsedMs) => {
          send({ ev: 'stopped', elapsedMs });
          setTimeout(() => process.exit(0), 50);
        },
        () => process.exit(1),
      );
  });
  process.on('disconnect', () => process.exit(0));
  sluice.start(job).then(
    (figures) => send({ ev: 'started', figures }),
    (error: Error) => send({ ev: 'started', error: error.stack ?? error.message }),
  );
}

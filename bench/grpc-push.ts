/**
 * Proxyless push latency: the real AdsServer over a SnapshotCache on 127.0.0.1:0 serving a grpcProxyless
 * Gateway's snapshot (translated with the real pipeline from the discovered services), many proxyless
 * client streams in a forked process (grpc-clients.ts) plus one real @grpc/grpc-js-xds channel, and the
 * canary route's timeout changed: the time from `cache.setSnapshot` until each stream has the new
 * RouteConfiguration.
 */
import { fork, type ChildProcess } from 'child_process';
import { once } from 'events';
import * as path from 'path';
import pino from 'pino';
import { Metrics } from '../src/admin/metrics';
import type { DiscoveredFunctions } from '../src/discovery/fds/discovered';
import type { Logger } from '../src/logger';
import { AdsServer, type XdsAckEvent } from '../src/xds/ads-server';
import { ResourceEncoder } from '../src/xds/encode';
import type { XdsSnapshot } from '../src/xds/resources';
import { diffSnapshots, SnapshotCache } from '../src/xds/snapshot-cache';
import { TYPE_URLS } from '../src/xds/type-urls';
import { UNARY_METHOD, type Backend } from './grpc-backend';
import { CHECK_NODE_ID, type ClientsCommand, type ClientsReply } from './grpc-clients';
import { DOMAIN, grpcContents, PROXY_KEY, UPSTREAM_KEY, withCanaryTimeout } from './grpc-config';
import { runPipeline, type StageTimes } from './pipeline';
import { median, percentile, progress } from './stats';

export interface PushChange {
  /** The synchronous `setSnapshot` call (diff, queueing the change on every stream). */
  setSnapshotMs: number;
  /** Per stream, ms from setSnapshot to the new RouteConfiguration's arrival (NaN if it did not arrive). */
  latencies: number[];
  /** Bytes each stream received for the change (distinct values). */
  bytesPerStream: number[];
  /** Responses received over all streams, by type. */
  responses: Record<string, number>;
  /** CPU of the server process from setSnapshot until every stream had ACKed the new version. */
  serverCpuMs: number;
  /** CPU of the clients' process from just before setSnapshot until every stream had the change. */
  clientsCpuMs: number;
  /** ms from setSnapshot until the server had every stream's ACK. */
  allAckedMs: number;
  /** ms from setSnapshot until the real @grpc/grpc-js-xds channel ACKed the new RouteConfiguration. */
  checkAckMs: number;
}

export interface ProxylessPush {
  streams: number;
  resourceBytes: Record<string, number>;
  routes: number;
  pipeline: { initial: StageTimes; changes: StageTimes[] };
  /** Types the snapshot diff reported changed, per change. */
  changedTypes: string[][];
  initialSync: { ok: boolean; ms: number; synced: number; error?: string };
  /** The real @grpc/grpc-js-xds channel's first call (xDS chain, connection to the server, the call). */
  check: { ok: boolean; ms: number; error?: string };
  changes: PushChange[];
  p50: number;
  p99: number;
  max: number;
  missing: number;
  nacks: number;
  streamErrors: number;
  /** process.resourceUsage().maxRSS of the server (bench) process after the scenario, bytes. */
  maxRssAfter: number;
  error?: string;
}

const SYNC_TIMEOUT_MS = 60_000;
const CHANGE_TIMEOUT_MS = 20_000;

/** The clients' process: each command is answered by exactly one reply. */
class ClientsProcess {
  private readonly child: ChildProcess = fork(path.join(__dirname, 'grpc-clients.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

  async ask<E extends ClientsReply['ev']>(
    command: ClientsCommand,
    expected: E,
    timeoutMs: number,
  ): Promise<Extract<ClientsReply, { ev: E }>> {
    this.child.send(command);
    const timeout = AbortSignal.timeout(timeoutMs);
    const [message] = (await once(this.child, 'message', { signal: timeout }).catch(() => {
      throw new Error(`clients: no reply to '${command.cmd}' within ${timeoutMs} ms`);
    })) as [ClientsReply];
    if (message.ev !== expected) throw new Error(`clients: '${message.ev}' in reply to '${command.cmd}'`);
    return message as Extract<ClientsReply, { ev: E }>;
  }

  async stop(): Promise<number> {
    try {
      return (await this.ask({ cmd: 'close' }, 'closed', 10_000)).streamErrors;
    } finally {
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }
}

/** ACKs the server has seen, by type; resolves waiters once a type has reached a count. */
class AckCounter {
  private readonly counts = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  seen(event: XdsAckEvent): void {
    this.counts.set(event.typeUrl, this.count(event.typeUrl) + 1);
    for (const waiter of [...this.waiters]) waiter();
  }

  count(typeUrl: string): number {
    return this.counts.get(typeUrl) ?? 0;
  }

  reset(typeUrl: string): void {
    this.counts.delete(typeUrl);
  }

  /** True once `typeUrl` has `count` ACKs, false after `timeoutMs`. */
  reached(typeUrl: string, count: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const settle = (reached: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(reached);
      };
      const check = () => this.count(typeUrl) >= count && settle(true);
      const timer = setTimeout(() => settle(false), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

const sinceMs = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/** The initial snapshot and one per change (the canary timeout set to 2 + change seconds), same encoder. */
function translateChanges(backend: Backend, discovered: DiscoveredFunctions, changes: number) {
  const discoveredMap = new Map([[UPSTREAM_KEY, discovered]]);
  const encoder = new ResourceEncoder();
  let contents = grpcContents(backend.port, 'proxyless');
  const first = runPipeline(contents, encoder, new Map(), discoveredMap);
  const snapshotOf = (snapshots: ReadonlyMap<string, XdsSnapshot>) => {
    const snapshot = snapshots.get(PROXY_KEY);
    if (!snapshot) throw new Error(`translation produced no snapshot for ${PROXY_KEY}`);
    return snapshot;
  };
  const snapshots = [snapshotOf(first.snapshots)];
  const times: StageTimes[] = [];
  const changedTypes: string[][] = [];
  let previous = first.snapshots;
  for (let change = 1; change <= changes; change++) {
    contents = withCanaryTimeout(contents, 2 + change);
    const next = runPipeline(contents, encoder, previous, discoveredMap);
    times.push(next.times);
    snapshots.push(snapshotOf(next.snapshots));
    changedTypes.push(
      [...diffSnapshots(snapshots.at(-2), snapshots[change]).keys()].map((t) => t.split('.').pop() as string),
    );
    previous = next.snapshots;
  }
  return { snapshots, pipeline: { initial: first.times, changes: times }, changedTypes };
}

/** The server side (the real AdsServer over a SnapshotCache, its ACKs counted) and the clients' process. */
class PushRig {
  nacks = 0;
  private readonly cache = new SnapshotCache();
  private readonly server = new AdsServer({
    cache: this.cache,
    metrics: new Metrics(),
    logger: pino({ level: 'silent' }) as unknown as Logger,
    shutdownGraceMs: 2000,
  });
  private readonly acks = new AckCounter();
  private readonly clients = new ClientsProcess();
  /** When the real @grpc/grpc-js-xds channel last ACKed a RouteConfiguration. */
  private checkAckAt: bigint | undefined;
  private readonly stopListening = [
    this.server.onAck((event) => {
      this.acks.seen(event);
      if (event.nodeId === CHECK_NODE_ID && event.typeUrl === TYPE_URLS.route)
        this.checkAckAt = process.hrtime.bigint();
    }),
    this.server.onNack(() => this.nacks++),
  ];

  /** Serves `initial`; resolves to the server's address. */
  async start(initial: XdsSnapshot): Promise<string> {
    this.cache.setSnapshot(PROXY_KEY, initial);
    return `127.0.0.1:${await this.server.start('127.0.0.1:0')}`;
  }

  async open(address: string, streams: number): Promise<ProxylessPush['initialSync']> {
    const opened = await this.clients.ask(
      { cmd: 'open', address, domain: DOMAIN, role: PROXY_KEY, streams, timeoutMs: SYNC_TIMEOUT_MS },
      'opened',
      SYNC_TIMEOUT_MS + 10_000,
    );
    return { ok: opened.ok, ms: opened.elapsedMs, synced: opened.synced, error: opened.error };
  }

  async check(address: string): Promise<ProxylessPush['check']> {
    const checked = await this.clients.ask(
      {
        cmd: 'check',
        address,
        target: `xds:///${DOMAIN}`,
        role: PROXY_KEY,
        methodPath: `/${UNARY_METHOD}`,
        timeoutMs: 15_000,
      },
      'checked',
      20_000,
    );
    return { ok: checked.ok, ms: checked.elapsedMs, error: checked.error };
  }

  /** Waits until every subscriber has ACKed its endpoints, the end of the LDS -> EDS chain. */
  async synced(subscribers: number): Promise<void> {
    if (!(await this.acks.reached(TYPE_URLS.endpoint, subscribers, 10_000)))
      throw new Error(`only ${this.acks.count(TYPE_URLS.endpoint)}/${subscribers} initial EDS ACKs`);
  }

  /** Sets `snapshot` and times its arrival on every stream, then waits for every RouteConfiguration ACK. */
  async change(snapshot: XdsSnapshot, subscribers: number): Promise<PushChange> {
    this.acks.reset(TYPE_URLS.route);
    this.checkAckAt = undefined;
    await this.clients.ask({ cmd: 'arm' }, 'armed', 10_000);
    const cpu = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    this.cache.setSnapshot(PROXY_KEY, snapshot);
    const setSnapshotMs = sinceMs(t0);
    const arrivals = await this.clients.ask(
      { cmd: 'collect', timeoutMs: CHANGE_TIMEOUT_MS },
      'arrivals',
      CHANGE_TIMEOUT_MS + 10_000,
    );
    const allAcked = await this.acks.reached(TYPE_URLS.route, subscribers, CHANGE_TIMEOUT_MS);
    const allAckedMs = allAcked ? sinceMs(t0) : NaN;
    const { user, system } = process.cpuUsage(cpu);
    const elapsedTo = (at: bigint) => Number(at - t0) / 1e6;
    return {
      setSnapshotMs,
      latencies: arrivals.arrivals.map((at) => (at === '' ? NaN : elapsedTo(BigInt(at)))),
      bytesPerStream: [...new Set(arrivals.bytes)].sort((a, b) => a - b),
      responses: arrivals.responses,
      serverCpuMs: (user + system) / 1000,
      clientsCpuMs: arrivals.cpuMs,
      allAckedMs,
      checkAckMs: this.checkAckAt === undefined ? NaN : elapsedTo(this.checkAckAt),
    };
  }

  /** Closes the clients and the server; resolves to the clients' stream errors. */
  async stop(): Promise<number> {
    const streamErrors = await this.clients.stop().catch(() => NaN);
    for (const stop of this.stopListening) stop();
    await this.server.stop();
    return streamErrors;
  }
}

export async function runProxylessPush(
  backend: Backend,
  discovered: DiscoveredFunctions,
  streams: number,
  changes: number,
): Promise<ProxylessPush> {
  const { snapshots, pipeline, changedTypes } = translateChanges(backend, discovered, changes);
  const initial = snapshots[0];
  const resourceBytes = Object.fromEntries(
    [...initial].flatMap(([typeUrl, byName]) =>
      [...byName.values()].map((resource) => [typeUrl.split('.').pop() as string, resource.bytes.length]),
    ),
  );
  const routeConfig = [...(initial.get(TYPE_URLS.route)?.values() ?? [])][0];
  const push: ProxylessPush = {
    streams,
    resourceBytes,
    routes: ((routeConfig?.json.virtualHosts ?? []) as Array<{ routes?: unknown[] }>).reduce(
      (sum, host) => sum + (host.routes?.length ?? 0),
      0,
    ),
    pipeline,
    changedTypes,
    initialSync: { ok: false, ms: NaN, synced: 0 },
    check: { ok: false, ms: NaN },
    changes: [],
    p50: NaN,
    p99: NaN,
    max: NaN,
    missing: 0,
    nacks: 0,
    streamErrors: 0,
    maxRssAfter: NaN,
  };
  const rig = new PushRig();
  try {
    const address = await rig.start(initial);
    push.initialSync = await rig.open(address, streams);
    if (!push.initialSync.ok) throw new Error(`initial sync: ${push.initialSync.error}`);
    progress(`  grpc: ${streams} proxyless streams synced (LDS, RDS, CDS, EDS) in ${push.initialSync.ms} ms`);
    push.check = await rig.check(address);
    const subscribers = streams + (push.check.ok ? 1 : 0);
    await rig.synced(subscribers);
    for (let change = 1; change <= changes; change++) {
      const measured = await rig.change(snapshots[change], subscribers);
      push.changes.push(measured);
      const arrived = measured.latencies.filter((latency) => !Number.isNaN(latency));
      push.missing += measured.latencies.length - arrived.length;
      progress(
        `  grpc: change ${change}: p50 ${percentile(arrived, 50).toFixed(1)} ms, max ${Math.max(...arrived).toFixed(1)} ms` +
          (arrived.length < measured.latencies.length
            ? `, ${measured.latencies.length - arrived.length} missing`
            : ''),
      );
    }
    const pooled = push.changes.flatMap((c) => c.latencies.filter((latency) => !Number.isNaN(latency)));
    push.p50 = percentile(pooled, 50);
    push.p99 = percentile(pooled, 99);
    push.max = pooled.length ? Math.max(...pooled) : NaN;
    if (push.missing)
      push.error = `${push.missing} stream updates did not arrive within ${CHANGE_TIMEOUT_MS} ms`;
  } catch (error) {
    push.error = (error as Error).message;
    progress(`  grpc push: ${push.error}`);
  } finally {
    push.streamErrors = await rig.stop();
    push.nacks = rig.nacks;
    push.maxRssAfter = process.resourceUsage().maxRSS * 1024;
  }
  return push;
}

/** Median over the changes of one per-change figure. */
export const medianOfChanges = (push: ProxylessPush, pick: (change: PushChange) => number): number =>
  median(push.changes.map(pick).filter((value) => Number.isFinite(value)));

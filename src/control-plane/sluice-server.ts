import { AdminServer } from '../admin/admin-server';
import { Metrics } from '../admin/metrics';
import { SecretValues } from '../admin/secret-values';
import type { ApiSnapshot } from '../api/snapshot';
import type { Logger } from '../logger';
import type { ResourceStore } from '../store/store';
import { AdsServer } from '../xds/ads-server';
import type { XdsTls } from '../xds/xds-tls';
import { SnapshotCache } from '../xds/snapshot-cache';
import { ControlPlane } from './control-plane';
import { MemoryDiscoveryState, type DiscoveryStateStore } from '../discovery/fds/discovery-state';
import type { FunctionDiscoverer } from '../discovery/fds/discoverer';
import { FdsService } from '../discovery/fds/fds-service';
import { GcpIdTokenService } from '../discovery/fds/gcp-functions/id-tokens';
import { isShared, soleReplica, type Leadership, type StopLeading } from './leadership';

export const DEFAULT_XDS_ADDRESS = '127.0.0.1:9977';
export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1:9091';

export interface SluiceServerOptions {
  store: ResourceStore;
  logger: Logger;
  xdsAddress?: string;
  adminAddress?: string;
  /** TLS or mTLS for xDS (`loadXdsTls`); plaintext when absent. */
  xdsTls?: XdsTls;
  /** Show secret values on the admin endpoint (`serve --admin-show-secrets`); redacted by default. */
  adminShowSecrets?: boolean;
  metrics?: Metrics;
  /**
   * Where discovered functions are kept between restarts (default: memory). A SharedDiscoveryState is
   * followed while this replica does not lead, so that it serves what the leader discovers.
   */
  discoveryState?: DiscoveryStateStore;
  /** The function discoverers to run (default: every registered one). */
  discoverers?: readonly FunctionDiscoverer[];
  /** Which replica runs function discovery and writes statuses (default: this one, alone). */
  leadership?: Leadership;
}

export interface RunningSluice {
  controlPlane: ControlPlane;
  ads: AdsServer;
  cache: SnapshotCache;
  metrics: Metrics;
  xdsPort: number;
  adminPort: number;
  /** Function discovery of the current (else the last) time this replica led. */
  readonly fds: FdsService;
  stop(): Promise<void>;
}

/**
 * Wires store -> control loop -> snapshot cache -> ADS server, plus the admin endpoint. Every replica
 * translates and serves xDS; only while it leads does it run function discovery and write statuses.
 */
export async function startSluice(options: SluiceServerOptions): Promise<RunningSluice> {
  const { store, logger } = options;
  const metrics = options.metrics ?? new Metrics({ collectProcessMetrics: true });
  const leadership = options.leadership ?? soleReplica(logger);
  const discoveryState = options.discoveryState ?? new MemoryDiscoveryState();
  const cache = new SnapshotCache();
  const controlPlane = new ControlPlane({ store, cache, metrics, logger, writeStatuses: false });
  const secrets = new SecretValues();
  const ads = new AdsServer({
    cache,
    metrics,
    logger,
    tls: options.xdsTls,
    redact: (text) => secrets.redact(text),
  });
  controlPlane.onSnapshot((snapshot) => secrets.update(snapshot));
  ads.onNack((event) =>
    controlPlane.recordNack({
      proxyKey: event.proxyKey,
      typeUrl: event.typeUrl,
      resourceNames: event.resourceNames,
      message: event.errorDetail.message,
    }),
  );
  ads.onAck((event) => controlPlane.recordAck(event.proxyKey, event.typeUrl));
  const newFdsService = () =>
    new FdsService({
      state: discoveryState,
      logger,
      discoverers: options.discoverers,
      onChange: (discovered) => void controlPlane.setDiscovered(discovered),
    });
  let fds = newFdsService();
  // Every replica mints its own: the tokens live in memory only.
  const identityTokens = new GcpIdTokenService({
    logger,
    onChange: (tokens) => void controlPlane.setIdentityTokens(tokens),
  });
  controlPlane.onSnapshot((snapshot) => void identityTokens.update(snapshot));
  let latestSnapshot: ApiSnapshot | undefined;
  controlPlane.onSnapshot((snapshot) => (latestSnapshot = snapshot));
  const runDiscovery = (): StopLeading => {
    const service = newFdsService();
    fds = service;
    let stopFollowingSnapshots = () => {};
    let stopped = false;
    service.restore().then(
      () => {
        if (stopped) return;
        stopFollowingSnapshots = controlPlane.onSnapshot((snapshot) => service.update(snapshot));
        if (latestSnapshot) service.update(latestSnapshot);
      },
      (error: Error) => logger.error({ err: error.message }, 'function discovery cannot start'),
    );
    return () => {
      stopped = true;
      stopFollowingSnapshots();
      service.stop();
    };
  };

  let leading = false;
  await controlPlane.setDiscovered(await discoveryState.load());
  const stopFollowingDiscovery = isShared(discoveryState)
    ? discoveryState.watch((discovered) => {
        if (!leading) void controlPlane.setDiscovered(discovered);
      })
    : undefined;
  const unregister = [
    leadership.onLeading(() => {
      leading = true;
      metrics.leader.set(1);
      return () => {
        leading = false;
        metrics.leader.set(0);
      };
    }),
    leadership.onLeading(() => controlPlane.startWritingStatuses()),
    leadership.onLeading(runDiscovery),
  ];
  const stopWork = async () => {
    await Promise.all(unregister.map((stop) => stop()));
    stopFollowingDiscovery?.();
    identityTokens.stop();
    controlPlane.stop();
  };

  await controlPlane.start();
  const xdsPort = await ads.start(options.xdsAddress ?? DEFAULT_XDS_ADDRESS);
  const admin = new AdminServer({
    controlPlane,
    ads,
    metrics,
    logger,
    secrets,
    showSecrets: options.adminShowSecrets,
  });
  let adminPort: number;
  try {
    adminPort = await admin.start(options.adminAddress ?? DEFAULT_ADMIN_ADDRESS);
  } catch (error) {
    await ads.stop();
    await stopWork();
    // Its watches would keep the process from exiting.
    await store.close();
    throw error;
  }
  logger.info({ xdsPort, adminPort }, 'sluice is serving');
  return {
    controlPlane,
    ads,
    cache,
    metrics,
    xdsPort,
    adminPort,
    get fds() {
      return fds;
    },
    async stop() {
      await stopWork();
      await Promise.all([ads.stop(), admin.stop()]);
      await controlPlane.idle();
      await store.close();
    },
  };
}

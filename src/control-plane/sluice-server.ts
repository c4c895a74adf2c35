import { AdminServer } from '../admin/admin-server';
import { Metrics } from '../admin/metrics';
import type { Logger } from '../logger';
import type { ResourceStore } from '../store/store';
import { AdsServer } from '../xds/ads-server';
import { SnapshotCache } from '../xds/snapshot-cache';
import { ControlPlane } from './control-plane';
import { MemoryDiscoveryState, type DiscoveryStateStore } from '../discovery/fds/discovery-state';
import type { FunctionDiscoverer } from '../discovery/fds/discoverer';
import { FdsService } from '../discovery/fds/fds-service';
import { GcpIdTokenService } from '../discovery/fds/gcp-functions/id-tokens';

export const DEFAULT_XDS_ADDRESS = '127.0.0.1:9977';
export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1:9091';

export interface SluiceServerOptions {
  store: ResourceStore;
  logger: Logger;
  xdsAddress?: string;
  adminAddress?: string;
  metrics?: Metrics;
  /** Where discovered functions are kept between restarts (default: memory). */
  discoveryState?: DiscoveryStateStore;
  /** The function discoverers to run (default: every registered one). */
  discoverers?: readonly FunctionDiscoverer[];
  /** Run function discovery (only the leader should). Default true. */
  discovery?: boolean;
}

export interface RunningSluice {
  controlPlane: ControlPlane;
  ads: AdsServer;
  cache: SnapshotCache;
  metrics: Metrics;
  xdsPort: number;
  adminPort: number;
  fds: FdsService;
  stop(): Promise<void>;
}

/** Wires store -> control loop -> snapshot cache -> ADS server, plus the admin endpoint. */
export async function startSluice(options: SluiceServerOptions): Promise<RunningSluice> {
  const { store, logger } = options;
  const metrics = options.metrics ?? new Metrics({ collectProcessMetrics: true });
  const cache = new SnapshotCache();
  const controlPlane = new ControlPlane({ store, cache, metrics, logger });
  const ads = new AdsServer({ cache, metrics, logger });
  ads.onNack((event) =>
    controlPlane.recordNack({
      proxyKey: event.proxyKey,
      typeUrl: event.typeUrl,
      resourceNames: event.resourceNames,
      message: event.errorDetail.message,
    }),
  );
  ads.onAck((event) => controlPlane.recordAck(event.proxyKey, event.typeUrl));
  const fds = new FdsService({
    state: options.discoveryState ?? new MemoryDiscoveryState(),
    logger,
    discoverers: options.discoverers,
    onChange: (discovered) => void controlPlane.setDiscovered(discovered),
  });
  // Every replica mints its own: the tokens live in memory only.
  const identityTokens = new GcpIdTokenService({
    logger,
    onChange: (tokens) => void controlPlane.setIdentityTokens(tokens),
  });
  controlPlane.onSnapshot((snapshot) => void identityTokens.update(snapshot));
  if (options.discovery !== false) {
    await controlPlane.setDiscovered(await fds.restore());
    controlPlane.onSnapshot((snapshot) => fds.update(snapshot));
  }
  await controlPlane.start();
  const xdsPort = await ads.start(options.xdsAddress ?? DEFAULT_XDS_ADDRESS);
  const admin = new AdminServer({ controlPlane, ads, metrics });
  let adminPort: number;
  try {
    adminPort = await admin.start(options.adminAddress ?? DEFAULT_ADMIN_ADDRESS);
  } catch (error) {
    await ads.stop();
    fds.stop();
    identityTokens.stop();
    controlPlane.stop();
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
    fds,
    async stop() {
      fds.stop();
      identityTokens.stop();
      controlPlane.stop();
      await Promise.all([ads.stop(), admin.stop()]);
      await controlPlane.idle();
      await store.close();
    },
  };
}

import type { ApiSnapshot } from '../../api/snapshot';
import type { Upstream } from '../../api/types';
import type { Logger } from '../../logger';

export interface DiscoveryContext {
  snapshot: ApiSnapshot;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * One kind of function discovery. A discoverer is one folder under src/discovery/fds/ plus one line in
 * ./registry.ts.
 */
export interface FunctionDiscoverer {
  readonly name: string;
  /** The Upstream spec keys it discovers (`aws`; `static` and `kube`; ...). */
  readonly upstreamTypes: readonly string[];
  /** Its key in Settings discovery.pollIntervals. */
  readonly pollIntervalKey: 'aws' | 'openapi' | 'grpc' | 'gcp' | 'azure';
  /**
   * Cloud upstreams exist to be discovered: discovered unless labelled disabled. Service upstreams
   * (static, kube) follow `fdsMode`.
   */
  readonly cloud: boolean;
  /** Whether the upstream asks for this discovery itself (an OpenAPI swaggerUrl, say), label or not. */
  requested?(upstream: Upstream): boolean;
  /** Default time between two runs for one upstream, when Settings say nothing. */
  readonly defaultPollIntervalMs: number;
  /** Whether this discoverer can discover the upstream at all (gRPC needs HTTP/2, say). */
  accepts?(upstream: Upstream): boolean;
  /** The upstream's functions now; throws with a message fit for the upstream's status on failure. */
  discover(upstream: Upstream, ctx: DiscoveryContext): Promise<DiscoveryResult>;
}

export interface DiscoveryResult {
  /** Functions in the discoverer's shape. */
  functions: Array<Record<string, unknown>>;
  /** Base64 FileDescriptorSet of the functions' protos (gRPC). */
  descriptorSet?: string;
}

export const DISCOVERY_LABEL = 'discovery.sluice.dev/function-discovery';

export type FdsMode = 'whitelist' | 'blacklist' | 'disabled';

/** Whether `upstream` is to be discovered by `discoverer` under `fdsMode` (opt-in by label by default). */
export function isDiscoveryEnabled(
  upstream: Upstream,
  discoverer: FunctionDiscoverer,
  fdsMode: FdsMode,
): boolean {
  const spec = upstream.spec;
  if (!spec || !discoverer.upstreamTypes.some((type) => spec[type] !== undefined)) return false;
  if (discoverer.accepts && !discoverer.accepts(upstream)) return false;
  const label = upstream.metadata.labels?.[DISCOVERY_LABEL];
  if (label === 'disabled' || fdsMode === 'disabled') return false;
  if (discoverer.cloud || label === 'enabled' || discoverer.requested?.(upstream)) return true;
  return fdsMode === 'blacklist';
}

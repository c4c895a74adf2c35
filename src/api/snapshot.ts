import type { Kind, Resource, ResourceKey } from './resource';
import type { DiscoveredFunctions, DiscoveredMap } from '../discovery/fds/discovered';
import type { IdentityTokens } from './gcp';
import type { Gateway, RouteTable, Secret, Settings, Upstream, VirtualService } from './types';

/** Every valid resource, by kind and `namespace/name`: the input of one translation. */
export interface ApiSnapshot {
  upstreams: Map<string, Upstream>;
  virtualServices: Map<string, VirtualService>;
  routeTables: Map<string, RouteTable>;
  gateways: Map<string, Gateway>;
  secrets: Map<string, Secret>;
  settings: Map<string, Settings>;
  /** Functions found by discovery, by upstream `namespace/name` (merged with hand-written ones by plugins). */
  discovered: DiscoveredMap;
  /** Google ID tokens Sluice minted for Cloud Functions; only the serving control plane has them. */
  identityTokens?: IdentityTokens;
  /**
   * Endpoints of Kubernetes Services, from the Kubernetes store; absent elsewhere (the file store), where
   * `kube` upstreams resolve the Service's cluster DNS name instead.
   */
  endpoints?: ServiceEndpointsMap;
}

/** One address of a Service's EndpointSlices, on one port of the slice. */
export interface ServiceEndpoint {
  address: string;
  /** The port on the pod: the Service port's targetPort, as the slice resolved it. */
  port: number;
  /** The name of the Service port it serves (`''` for a Service's only, unnamed port). */
  portName: string;
  /** The slice's `conditions.ready`; unset counts as ready, as Kubernetes says. */
  ready: boolean;
  /** The labels of the Pod it stands for (its `targetRef`); absent for no Pod, or one not known yet. */
  podLabels?: Readonly<Record<string, string>>;
}

export interface ServiceEndpoints {
  /** The Service's TCP ports: the number clients use, and the name EndpointSlices know it by. */
  ports: Array<{ port: number; name: string }>;
  /** Every IP address of the Service's EndpointSlices, once per slice port, in a stable order. */
  endpoints: ServiceEndpoint[];
}

/**
 * Endpoints by `namespace/service`, for every Service the store watches (ExternalName Services have
 * none). An entry keeps its identity while its Service and slices do not change, so that translation
 * redoes only the clusters of the Services that changed.
 */
export type ServiceEndpointsMap = ReadonlyMap<string, ServiceEndpoints>;

const FIELD_OF_KIND: Record<Kind, Exclude<keyof ApiSnapshot, 'discovered' | 'endpoints'>> = {
  Upstream: 'upstreams',
  VirtualService: 'virtualServices',
  RouteTable: 'routeTables',
  Gateway: 'gateways',
  Secret: 'secrets',
  Settings: 'settings',
};

export function nameKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function emptySnapshot(discovered: DiscoveredMap = new Map()): ApiSnapshot {
  return {
    upstreams: new Map(),
    virtualServices: new Map(),
    routeTables: new Map(),
    gateways: new Map(),
    secrets: new Map(),
    settings: new Map(),
    discovered,
  };
}

/** Builds a snapshot whose maps iterate in namespace/name order, so translation output is stable. */
export function snapshotOf(
  resources: Iterable<Resource>,
  discovered: DiscoveredMap = new Map(),
): ApiSnapshot {
  const sorted = [...resources].sort((a, b) =>
    nameKey(a.metadata.namespace, a.metadata.name).localeCompare(
      nameKey(b.metadata.namespace, b.metadata.name),
    ),
  );
  // Made by a literal: a spread copy gets a hidden class that dies with the last snapshot, and code
  // optimized for it is thrown away each time.
  const snapshot = emptySnapshot(discovered);
  for (const resource of sorted) {
    const map = snapshot[FIELD_OF_KIND[resource.kind]] as Map<string, Resource>;
    map.set(nameKey(resource.metadata.namespace, resource.metadata.name), resource);
  }
  return snapshot;
}

/** An upstream's entry in the discovered map; no key is built when discovery found nothing (asked per route). */
export function discoveredFor(snapshot: ApiSnapshot, upstream: Upstream): DiscoveredFunctions | undefined {
  return snapshot.discovered.size === 0
    ? undefined
    : snapshot.discovered.get(nameKey(upstream.metadata.namespace, upstream.metadata.name));
}

export function lookup<T>(
  map: ReadonlyMap<string, T>,
  key: Pick<ResourceKey, 'namespace' | 'name'>,
): T | undefined {
  return map.get(nameKey(key.namespace, key.name));
}

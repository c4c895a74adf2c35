import type { ResourceKey } from '../../api/resource';
import type { RouteSpec, RouteOptionsSpec, SslConfigSpec } from '../../api/types';

/**
 * The Proxy: what one Envoy (or gRPC client) should serve, computed from Gateways, VirtualServices and
 * RouteTables (see protos/sluice/v1/proxy.proto). Never persisted; `owner`/`source` fields are kept
 * beside the proto shape so that errors found later are reported on the resource that caused them.
 */
export interface ProxyRoute extends RouteSpec {
  /** The VirtualService or RouteTable that wrote this route. */
  owner: ResourceKey;
  /** Where in its owner, e.g. `spec.virtualHost.routes[2]`. */
  source: string;
  /** Why the route cannot be served; it is then replaced by a 503 (Envoy) or left out (gRPC clients). */
  rejected?: string;
  /** Made from a function route (routeAction.functions, a gRPC function's path): not to be expanded again. */
  generated?: boolean;
}

export interface ProxyVirtualHost {
  name: string;
  domains: string[];
  routes: ProxyRoute[];
  options?: RouteOptionsSpec;
  sslConfig?: SslConfigSpec;
  owner: ResourceKey;
}

export interface ProxyListener {
  name: string;
  bindAddress: string;
  bindPort: number;
  ssl: boolean;
  grpcProxyless: boolean;
  virtualHosts: ProxyVirtualHost[];
  /** The Gateway this listener comes from. */
  owner: ResourceKey;
}

export interface Proxy {
  /** The proxy's role, NAMESPACE~NAME. */
  key: string;
  namespace: string;
  name: string;
  listeners: ProxyListener[];
}

/** The proto3 JSON of a Proxy as the CLI and admin endpoint show it (without the bookkeeping fields). */
export function proxyToJson(proxy: Proxy): Record<string, unknown> {
  const strip = <T extends { owner: ResourceKey }>(value: T): Omit<T, 'owner' | 'source' | 'rejected'> => {
    const {
      owner: _owner,
      source: _source,
      rejected: _rejected,
      ...rest
    } = value as T & {
      source?: string;
      rejected?: string;
    };
    return rest;
  };
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Proxy',
    metadata: { name: proxy.name, namespace: proxy.namespace },
    spec: {
      listeners: proxy.listeners.map((listener) => ({
        ...strip(listener),
        virtualHosts: listener.virtualHosts.map((vh) => ({ ...strip(vh), routes: vh.routes.map(strip) })),
      })),
    },
  };
}

/** The Sluice resources of the gRPC benchmark (run through bench/pipeline.ts with discovered functions). */
import type { Resource } from '../src/api/resource';
import { nameKey } from '../src/api/snapshot';
import { DISCOVERY_LABEL } from '../src/discovery/fds/discoverer';
import type { StoreContents } from '../src/store/store';
import { UNARY_METHOD } from './grpc-backend';

const NAMESPACE = 'default';
export const UPSTREAM = 'grpc-api';
export const UPSTREAM_KEY = nameKey(NAMESPACE, UPSTREAM);
/** What proxyless clients dial (`xds:///api.grpc.internal`): the name of their api_listener. */
export const DOMAIN = 'api.grpc.internal';
const PROXY_NAME = 'grpc-clients';
/** The node `role` of the proxyless clients: the proxy key of the Gateway's snapshot. */
export const PROXY_KEY = `${NAMESPACE}~${PROXY_NAME}`;

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: NAMESPACE,
  ...extra,
});

/** The server, opted in to discovery by label; HTTP/2, so server reflection discovers it. */
function upstream(port: number): Record<string, unknown> {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: meta(UPSTREAM, { labels: { [DISCOVERY_LABEL]: 'enabled' } }),
    spec: { static: { http2: true, hosts: [{ address: '127.0.0.1', port }] } },
  };
}

/**
 * A canary route to one method (header-matched, with a timeout of `canaryTimeoutSeconds`: the route the
 * push benchmark changes), then one `routeAction.functions` route: one Envoy route per method.
 */
function virtualService(canaryTimeoutSeconds: number): Record<string, unknown> {
  const to = { upstream: { name: UPSTREAM, namespace: NAMESPACE } };
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: meta('api'),
    spec: {
      virtualHost: {
        domains: [DOMAIN],
        routes: [
          {
            matchers: [{ headers: [{ name: 'x-canary', value: 'true' }] }],
            routeAction: { single: { ...to, function: UNARY_METHOD } },
            options: { timeout: `${canaryTimeoutSeconds}s` },
          },
          { matchers: [{ prefix: '/' }], routeAction: { functions: to } },
        ],
      },
    },
  };
}

const proxylessGateway = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Gateway',
  metadata: meta('grpc'),
  spec: { bindPort: 8080, grpcProxyless: {}, proxyNames: [PROXY_NAME] },
};

export type GatewayKind = 'envoy' | 'proxyless';

/** Without a Gateway the default one serves the VirtualService to Envoy; `proxyless` adds grpcProxyless. */
export function grpcContents(port: number, gateway: GatewayKind, canaryTimeoutSeconds = 2): StoreContents {
  const resources = [upstream(port), virtualService(canaryTimeoutSeconds)];
  if (gateway === 'proxyless') resources.push(proxylessGateway);
  return {
    resources: resources.map((resource) => ({ resource: resource as unknown as Resource, location: {} })),
    errors: [],
  };
}

/** The same contents with the canary route's timeout changed: only the VirtualService is a new object. */
export function withCanaryTimeout(contents: StoreContents, seconds: number): StoreContents {
  return {
    resources: contents.resources.map((stored) =>
      stored.resource.kind === 'VirtualService'
        ? { resource: virtualService(seconds) as unknown as Resource, location: {} }
        : stored,
    ),
    errors: [],
  };
}

import { translateYaml, UPSTREAMS, virtualService } from '../helpers/translate-yaml';

const ROUTE_TO_PETSTORE = '[{matchers: [{prefix: /}], routeAction: {single: {upstream: {name: petstore}}}}]';

function vs(name: string, domains: string, labels = '{}'): string {
  return `
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default, labels: ${labels}}
spec: {virtualHost: {domains: ${domains}, routes: ${ROUTE_TO_PETSTORE}}}
`;
}

describe('gateway translation', () => {
  it('serves every VirtualService on a default HTTP gateway on 8080 when there is no Gateway', () => {
    const result = translateYaml(UPSTREAMS + vs('a', '[a.example]') + vs('b', '[b.example]'));
    expect(result.translation.proxies.map((proxy) => proxy.key)).toEqual(['default~gateway-proxy']);
    const [listener] = result.listeners();
    expect(listener.name).toBe('listener-::-8080');
    expect(listener.address).toEqual({ socketAddress: { address: '::', portValue: 8080, ipv4Compat: true } });
    const hosts = result.routeConfigs()[0].virtualHosts as Array<{ name: string; domains: string[] }>;
    expect(hosts.map((host) => [host.name, host.domains])).toEqual([
      ['default~a', ['a.example']],
      ['default~b', ['b.example']],
    ]);
  });

  it('selects VirtualServices by reference or by label, per proxy name', () => {
    const gateways = `
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec: {bindPort: 8080, virtualServiceSelector: {labels: {exposure: public}}}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: internal, namespace: default}
spec: {bindPort: 9090, virtualServices: [{name: b}, {name: missing}], proxyNames: [internal-proxy]}
`;
    const result = translateYaml(
      UPSTREAMS + vs('a', '[a.example]', '{exposure: public}') + vs('b', '[b.example]') + gateways,
    );
    expect(result.translation.proxies.map((proxy) => proxy.key)).toEqual([
      'default~gateway-proxy',
      'default~internal-proxy',
    ]);
    const domainsOf = (key: string) =>
      (result.routeConfigs(key)[0].virtualHosts as Array<{ domains: string[] }>).flatMap(
        (host) => host.domains,
      );
    expect(domainsOf('default~gateway-proxy')).toEqual(['a.example']);
    expect(domainsOf('default~internal-proxy')).toEqual(['b.example']);
    expect(result.status('Gateway', 'internal')?.warnings).toEqual([
      'spec.virtualServices[1]: VirtualService default/missing not found',
    ]);
  });

  it('rejects a VirtualService whose domain another one already serves, and keeps serving the first', () => {
    const result = translateYaml(
      UPSTREAMS + vs('a', '[shop.example]') + vs('b', '[other.example, shop.example]'),
    );
    expect(result.status('VirtualService', 'a')?.errors).toEqual([]);
    expect(result.status('VirtualService', 'b')?.errors).toEqual([
      'spec.virtualHost.domains: domain "shop.example" is already served by VirtualService default/a on Gateway default/default',
    ]);
    const hosts = result.routeConfigs()[0].virtualHosts as Array<{ name: string }>;
    expect(hosts.map((host) => host.name)).toEqual(['default~a']);
  });

  it('inlines delegated RouteTables under the parent prefix, inheriting options', () => {
    const yaml =
      UPSTREAMS +
      virtualService(
        `
    - matchers: [{prefix: /api, headers: [{name: x-team, value: a}]}]
      delegateAction: {ref: {name: api}}
      options: {timeout: 2s}`,
      ) +
      `
---
apiVersion: sluice.dev/v1
kind: RouteTable
metadata: {name: api, namespace: default}
spec:
  routes:
  - matchers: [{prefix: /api/pets}]
    routeAction: {single: {upstream: {name: petstore}}}
  - matchers: [{prefix: /elsewhere}]
    routeAction: {single: {upstream: {name: petstore}}}
`;
    const result = translateYaml(yaml);
    const routes = result.routes();
    expect(routes[0]).toEqual({
      match: { prefix: '/api/pets', headers: [{ name: 'x-team', stringMatch: { exact: 'a' } }] },
      route: { cluster: 'petstore_default', timeout: '2s' },
    });
    expect(routes[1].directResponse).toMatchObject({ status: 503 });
    expect(result.status('RouteTable', 'api')?.warnings).toEqual([
      'spec.routes[1]: route rejected: matchers must start with the delegating prefix "/api" of VirtualService/default/vs spec.virtualHost.routes[0]',
    ]);
  });

  it('reports missing RouteTables and delegation cycles on the delegating resource', () => {
    const yaml =
      UPSTREAMS +
      virtualService(`
    - {matchers: [{prefix: /a}], delegateAction: {name: loop}}
    - {matchers: [{prefix: /b}], delegateAction: {ref: {name: nowhere}}}
    - {matchers: [{prefix: /}], routeAction: {single: {upstream: {name: petstore}}}}`) +
      `
---
apiVersion: sluice.dev/v1
kind: RouteTable
metadata: {name: loop, namespace: default}
spec: {routes: [{matchers: [{prefix: /a}], delegateAction: {name: loop}}]}
`;
    const result = translateYaml(yaml);
    expect(result.status('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[1]: route rejected: delegateAction: RouteTable default/nowhere not found',
    ]);
    expect(result.status('RouteTable', 'loop')?.warnings).toEqual([
      'spec.routes[0]: route rejected: delegateAction: delegation cycle VirtualService/default/vs -> RouteTable/default/loop -> RouteTable/default/loop',
    ]);
    expect(result.routes().at(-1)).toEqual({
      match: { prefix: '/' },
      route: { cluster: 'petstore_default' },
    });
  });

  it('makes one api_listener per domain for proxyless gRPC gateways, in the shape gRPC clients accept', () => {
    const yaml =
      UPSTREAMS +
      `
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: grpc, namespace: default}
spec: {bindPort: 8080, grpcProxyless: {}, proxyNames: [grpc-clients]}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  virtualHost:
    domains: [greeter.example, greeter]
    routes:
    - matchers: [{pathTemplate: "/helloworld.Greeter/{method}", methods: [POST]}]
      routeAction: {single: {upstream: {name: canary}}}
      options: {cors: {allowOrigin: ["*"]}}
    - {matchers: [{prefix: /redirect}], redirectAction: {hostRedirect: elsewhere}}
    - {matchers: [{prefix: /}], routeAction: {single: {upstream: {name: petstore}}}}
`;
    const result = translateYaml(yaml);
    const key = 'default~grpc-clients';
    const listeners = result.listeners(key);
    expect(listeners.map((listener) => listener.name)).toEqual(['greeter.example', 'greeter']);
    const hcm = (listeners[0].apiListener as { apiListener: Record<string, unknown> }).apiListener;
    expect(hcm.rds).toEqual({
      configSource: { ads: {}, resourceApiVersion: 'V3' },
      routeConfigName: 'greeter.example-routes',
    });
    expect(hcm.httpFilters).toEqual([
      expect.objectContaining({ name: 'envoy.filters.http.cors', isOptional: true }),
      expect.objectContaining({ name: 'envoy.filters.http.router' }),
    ]);
    const routes = result.routeConfigs(key)[0].virtualHosts as Array<{
      domains: string[];
      routes: Array<Record<string, unknown>>;
    }>;
    expect(routes[0].domains).toEqual(['greeter.example']);
    expect(routes[0].routes).toEqual([
      {
        match: { safeRegex: { regex: '/helloworld\\.Greeter/[^/]+' } },
        route: { cluster: 'canary_default' },
        typedPerFilterConfig: {
          'envoy.filters.http.cors': expect.objectContaining({
            '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig',
            isOptional: true,
          }),
        },
      },
      { match: { prefix: '/' }, route: { cluster: 'petstore_default' } },
    ]);
    expect(result.status('VirtualService', 'greeter')?.warnings).toEqual([
      'spec.virtualHost.routes[0].matchers[0].methods: ignored by proxyless gRPC clients',
      'spec.virtualHost.routes[1]: route rejected: redirects and direct responses are not supported by proxyless gRPC clients',
    ]);
  });
});

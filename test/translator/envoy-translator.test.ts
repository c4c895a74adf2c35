import type { ResourceKey } from '../../src/api/resource';
import { ResourceOwners } from '../../src/translator/envoy/envoy-translator';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { translateYaml, UPSTREAMS, virtualService } from '../helpers/translate-yaml';

const PETSTORE = '{single: {upstream: {name: petstore}}}';

describe('route translation', () => {
  it('translates every kind of matcher', () => {
    const result = translateYaml(
      UPSTREAMS +
        virtualService(`
    - matchers: [{exact: /status, methods: [GET, HEAD]}]
      routeAction: ${PETSTORE}
    - matchers: [{regex: "/v[0-9]+/.*", queryParameters: [{name: debug, present: true}, {name: v, value: "[0-9]", regex: true}]}]
      routeAction: ${PETSTORE}
    - matchers: [{pathTemplate: "/pets/{id}/photos/{name}.png"}]
      routeAction: ${PETSTORE}
    - matchers: [{prefix: /a, headers: [{name: x-a, value: "1"}, {name: x-b, regex: true, value: "b.*"}, {name: x-c}, {name: x-d, value: no, invertMatch: true}]}, {prefix: /b}]
      routeAction: ${PETSTORE}
    - routeAction: ${PETSTORE}`),
    );
    expect(result.routes().map((route) => route.match)).toEqual([
      { path: '/status', headers: [{ name: ':method', stringMatch: { safeRegex: { regex: 'GET|HEAD' } } }] },
      {
        safeRegex: { regex: '/v[0-9]+/.*' },
        queryParameters: [
          { name: 'debug', presentMatch: true },
          { name: 'v', stringMatch: { safeRegex: { regex: '[0-9]' } } },
        ],
      },
      {
        pathMatchPolicy: {
          name: 'envoy.path.match.uri_template.uri_template_matcher',
          typedConfig: {
            '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig',
            pathTemplate: '/pets/{id}/photos/{name}.png',
          },
        },
      },
      {
        prefix: '/a',
        headers: [
          { name: 'x-a', stringMatch: { exact: '1' } },
          { name: 'x-b', stringMatch: { safeRegex: { regex: 'b.*' } } },
          { name: 'x-c', presentMatch: true },
          { name: 'x-d', stringMatch: { exact: 'no' }, invertMatch: true },
        ],
      },
      { prefix: '/b' },
      { prefix: '/' },
    ]);
  });

  it('splits traffic by weight and applies route options', () => {
    const [route] = translateYaml(
      UPSTREAMS +
        virtualService(`
    - matchers: [{prefix: /checkout}]
      routeAction: {multi: {destinations: [{weight: 90, destination: {upstream: {name: petstore}}}, {weight: 10, destination: {upstream: {name: canary}}}]}}
      options:
        prefixRewrite: /
        timeout: 1m30s
        hostRewrite: shop.internal
        retries: {numRetries: 3, perTryTimeout: 250ms}
        headerManipulation:
          requestHeadersToAdd: [{header: {key: x-from, value: sluice}}, {header: {key: x-trace, value: "1"}, append: true}]
          requestHeadersToRemove: [cookie]
          responseHeadersToAdd: [{header: {key: x-served-by, value: sluice}}]
          responseHeadersToRemove: [server]`),
    ).routes();
    expect(route).toEqual({
      match: { prefix: '/checkout' },
      route: {
        weightedClusters: {
          clusters: [
            { name: 'petstore_default', weight: 90 },
            { name: 'canary_default', weight: 10 },
          ],
        },
        prefixRewrite: '/',
        timeout: '90s',
        retryPolicy: { retryOn: '5xx', numRetries: 3, perTryTimeout: '0.250s' },
        hostRewriteLiteral: 'shop.internal',
      },
      requestHeadersToAdd: [
        { header: { key: 'x-from', value: 'sluice' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'x-trace', value: '1' }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' },
      ],
      requestHeadersToRemove: ['cookie'],
      responseHeadersToAdd: [
        { header: { key: 'x-served-by', value: 'sluice' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
      responseHeadersToRemove: ['server'],
    });
  });

  it('adds the fault and CORS filters only where routes use them, before the router', () => {
    const result = translateYaml(
      UPSTREAMS +
        virtualService(`
    - matchers: [{prefix: /flaky}]
      routeAction: ${PETSTORE}
      options:
        faults: {abort: {percentage: 12.5, httpStatus: 503}, delay: {fixedDelay: 100ms}}
        cors: {allowOrigin: [https://a.example], allowOriginRegex: ["https://.*\\\\.b\\\\.example"], allowMethods: [GET], allowHeaders: [x-a], exposeHeaders: [x-b], maxAge: 1h, allowCredentials: true}`),
    );
    const [route] = result.routes();
    expect(route.typedPerFilterConfig).toEqual({
      'envoy.filters.http.fault': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
        abort: { httpStatus: 503, percentage: { numerator: 125000, denominator: 'MILLION' } },
        delay: { fixedDelay: '0.100s', percentage: { numerator: 1000000, denominator: 'MILLION' } },
      },
      'envoy.filters.http.cors': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
        allowOriginStringMatch: [
          { exact: 'https://a.example' },
          { safeRegex: { regex: 'https://.*\\.b\\.example' } },
        ],
        allowMethods: 'GET',
        allowHeaders: 'x-a',
        exposeHeaders: 'x-b',
        maxAge: '3600',
        allowCredentials: true,
      },
    });
    const hcm = (
      result.listeners()[0].filterChains as Array<{
        filters: Array<{ typedConfig: { httpFilters: Array<{ name: string }> } }>;
      }>
    )[0].filters[0].typedConfig;
    expect(hcm.httpFilters.map((filter) => filter.name)).toEqual([
      'envoy.filters.http.fault',
      'envoy.filters.http.cors',
      'envoy.filters.http.router',
    ]);
    const plain = translateYaml(UPSTREAMS + virtualService(`[{routeAction: ${PETSTORE}}]`));
    const plainHcm = (
      plain.listeners()[0].filterChains as Array<{
        filters: Array<{ typedConfig: { httpFilters: Array<{ name: string }> } }>;
      }>
    )[0].filters[0].typedConfig;
    expect(plainHcm.httpFilters.map((filter) => filter.name)).toEqual(['envoy.filters.http.router']);
  });

  it('translates redirects and direct responses', () => {
    const routes = translateYaml(
      UPSTREAMS +
        virtualService(`
    - {matchers: [{prefix: /old}], redirectAction: {hostRedirect: new.example, prefixRewrite: /new, responseCode: 308, httpsRedirect: true}}
    - {matchers: [{exact: /status}], directResponseAction: {status: 200, body: ok}}`),
    ).routes();
    expect(routes).toEqual([
      {
        match: { prefix: '/old' },
        redirect: {
          hostRedirect: 'new.example',
          prefixRewrite: '/new',
          responseCode: 'PERMANENT_REDIRECT',
          httpsRedirect: true,
        },
      },
      { match: { path: '/status' }, directResponse: { status: 200, body: { inlineString: 'ok' } } },
    ]);
  });

  it('rejects only the broken routes: they answer 503 and the VirtualService gets a Warning naming them', () => {
    const result = translateYaml(
      UPSTREAMS +
        virtualService(`
    - {matchers: [{prefix: /gone}], routeAction: {single: {upstream: {name: nowhere}}}}
    - {matchers: [{prefix: /fn}], routeAction: {single: {upstream: {name: petstore}, function: addPet}}}
    - {matchers: [{prefix: /zero}], routeAction: {multi: {destinations: [{weight: 0, destination: {upstream: {name: petstore}}}]}}}
    - {matchers: [{pathTemplate: "/a/{x}/{x}"}], routeAction: ${PETSTORE}}
    - {matchers: [{pathTemplate: "/a/{id}"}], routeAction: ${PETSTORE}, options: {prefixRewrite: /}}
    - {matchers: [{prefix: /ok}], routeAction: ${PETSTORE}}`),
    );
    expect(result.status('VirtualService', 'vs')).toEqual({
      errors: [],
      warnings: [
        'spec.virtualHost.routes[0]: route rejected: upstream default/nowhere not found',
        'spec.virtualHost.routes[1]: route rejected: upstream default/petstore has no function "addPet" (it offers no functions)',
        'spec.virtualHost.routes[2]: route rejected: routeAction.multi.destinations: the weights must add up to more than 0',
        'spec.virtualHost.routes[3]: route rejected: matchers[0].pathTemplate "/a/{x}/{x}": variable x is used twice',
        'spec.virtualHost.routes[4]: route rejected: options.prefixRewrite cannot be combined with a pathTemplate matcher',
      ],
    });
    const routes = result.routes();
    expect(
      routes.map((route) => (route.directResponse as { status?: number } | undefined)?.status ?? 'routed'),
    ).toEqual([503, 503, 503, 503, 'routed']);
    expect(routes[4]).toEqual({ match: { prefix: '/ok' }, route: { cluster: 'petstore_default' } });
  });

  it('makes EDS clusters for IP hosts, DNS clusters for names, with TLS, SNI and HTTP/2 where asked', () => {
    const result = translateYaml(`
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: ips, namespace: default}
spec: {connectTimeout: 250ms, static: {hosts: [{address: 10.0.0.1, port: 80}, {address: "::1", port: 81, weight: 3}]}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: named, namespace: default}
spec: {static: {hosts: [{address: api.example.com, port: 443}], useTls: true, http2: true}}
`);
    const [ips, named] = result.clusters();
    expect(ips).toEqual({
      name: 'ips_default',
      connectTimeout: '0.250s',
      type: 'EDS',
      edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    });
    expect(result.endpoints()[0]).toEqual({
      clusterName: 'ips_default',
      endpoints: [
        {
          locality: {},
          loadBalancingWeight: 1,
          lbEndpoints: [
            { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 80 } } } },
            {
              endpoint: { address: { socketAddress: { address: '::1', portValue: 81 } } },
              loadBalancingWeight: 3,
            },
          ],
        },
      ],
    });
    expect(named).toMatchObject({
      name: 'named_default',
      type: 'LOGICAL_DNS',
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          sni: 'api.example.com',
          commonTlsContext: {
            validationContext: { trustedCa: { filename: '/etc/ssl/certs/ca-certificates.crt' } },
            alpnProtocols: ['h2'],
          },
        },
      },
      typedExtensionProtocolOptions: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicitHttpConfig: { http2ProtocolOptions: {} },
        },
      },
    });
  });

  it('terminates TLS per VirtualService with certificates served over SDS', () => {
    const tls = `
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: https, namespace: default}
spec: {bindPort: 8443, ssl: true}
---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: shop-cert, namespace: default}
type: tls
data: {certChain: CERT, privateKey: KEY}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  sslConfig: {secretRef: {name: shop-cert}}
  virtualHost: {domains: [shop.example], routes: [{routeAction: ${PETSTORE}}]}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: broken, namespace: default}
spec:
  sslConfig: {secretRef: {name: missing}}
  virtualHost: {domains: [broken.example], routes: [{routeAction: ${PETSTORE}}]}
`;
    const result = translateYaml(UPSTREAMS + tls);
    const [listener] = result.listeners();
    const chains = listener.filterChains as Array<Record<string, unknown>>;
    expect(chains).toHaveLength(1);
    expect(chains[0].filterChainMatch).toEqual({ serverNames: ['shop.example'] });
    expect(chains[0].transportSocket).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [
            { name: 'shop-cert_default', sdsConfig: { ads: {}, resourceApiVersion: 'V3' } },
          ],
        },
      },
    });
    const secrets = [
      ...(result.translation.envoy.byProxy.get('default~gateway-proxy')?.get(TYPE_URLS.secret)?.values() ??
        []),
    ];
    expect(secrets).toEqual([
      {
        name: 'shop-cert_default',
        tlsCertificate: { certificateChain: { inlineString: 'CERT' }, privateKey: { inlineString: 'KEY' } },
      },
    ]);
    expect(result.status('VirtualService', 'broken')?.errors).toEqual([
      'spec.sslConfig.secretRef: Secret default/missing not found',
    ]);
  });

  it('is deterministic: the same input gives byte-identical resources and versions', () => {
    const yaml =
      UPSTREAMS +
      virtualService(
        `[{matchers: [{prefix: /a}], routeAction: ${PETSTORE}, options: {cors: {allowOrigin: ["*"]}}}]`,
      );
    const first = translateYaml(yaml).snapshots;
    const second = translateYaml(yaml).snapshots;
    const flatten = (snapshots: typeof first) =>
      [...snapshots].flatMap(([key, snapshot]) =>
        [...snapshot].flatMap(([typeUrl, byName]) =>
          [...byName.values()].map((resource) => [
            key,
            typeUrl,
            resource.name,
            resource.version,
            Buffer.from(resource.bytes).toString('base64'),
          ]),
        ),
      );
    expect(flatten(first).length).toBeGreaterThan(4);
    expect(flatten(second)).toEqual(flatten(first));
  });
});

describe('ResourceOwners', () => {
  const key = (name: string): ResourceKey => ({ kind: 'VirtualService', namespace: 'default', name });

  it('answers with each owner once, in the order they were recorded, before and after the first lookup', () => {
    const owners = new ResourceOwners();
    owners.own(TYPE_URLS.route, 'r', [key('a'), key('b'), key('a')]);
    owners.own(TYPE_URLS.route, 'r', [key('c'), key('b')]);
    owners.own(TYPE_URLS.cluster, 'r', [key('d')]);
    expect(owners.of(TYPE_URLS.route, 'r')).toEqual([key('a'), key('b'), key('c')]);
    expect(owners.of(TYPE_URLS.cluster, 'r')).toEqual([key('d')]);
    expect(owners.of(TYPE_URLS.listener, 'r')).toEqual([]);
    owners.own(TYPE_URLS.route, 'r', [key('e'), key('a')]);
    expect(owners.of(TYPE_URLS.route, 'r')).toEqual([key('a'), key('b'), key('c'), key('e')]);
  });
});

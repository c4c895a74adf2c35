import { translateOnce } from '../../../src/control-plane/translate-once';
import { lookup } from '../../../src/api/snapshot';
import type { Upstream } from '../../../src/api/types';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import type { Json } from '../../../src/translator/plugin';
import { grpcPlugin } from '../../../src/translator/plugins/grpc';
import { validateMessage } from '../../../src/xds/pgv';
import { decodeToJson, encodeJson } from '../../../src/xds/proto-json';
import type { XdsResource } from '../../../src/xds/resources';
import { messageNameOf, TYPE_URLS } from '../../../src/xds/type-urls';
import { echoDescriptorSet, servicesDefinedBy } from '../../helpers/echo-backend';
import { contentsOf, virtualService } from '../../helpers/translate-yaml';

const TRANSCODER_FILTER = 'envoy.filters.http.grpc_json_transcoder';
const TRANSCODER = 'envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';
const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};
const GATEWAY_PROXY = 'default~gateway-proxy';
const WHO = '/sluice.test.Echo/Who';

const GREETER_PROTO = `
syntax = "proto3";
package helloworld;
service Greeter { rpc SayHello (HelloRequest) returns (HelloReply); }
message HelloRequest { string name = 1; }
message HelloReply { string message = 1; }
`;
const ECHO_DESCRIPTORS = echoDescriptorSet();

const ECHO_METHODS = ['Who', 'Other'].map((name) => ({
  name,
  streaming: 'unary',
  inputType: 'sluice.test.WhoRequest',
  outputType: 'sluice.test.WhoReply',
}));

/**
 * echo: services and descriptors written by hand. reflected: found by reflection (Echo and Greeter).
 * undescribed: services written by hand, no descriptors. partial: Echo written by hand with Who only,
 * while reflection finds Echo with both methods.
 */
const UPSTREAMS = `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: echo, namespace: default}
spec:
  static:
    http2: true
    hosts: [{address: 10.0.0.20, port: 50051}]
    serviceSpec:
      grpc:
        descriptors: ${ECHO_DESCRIPTORS}
        services:
        - name: sluice.test.Echo
          methods: ${JSON.stringify(ECHO_METHODS)}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: reflected, namespace: default, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec: {static: {http2: true, hosts: [{address: 10.0.0.21, port: 50051}]}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: undescribed, namespace: default}
spec:
  static:
    http2: true
    hosts: [{address: 10.0.0.22, port: 50051}]
    serviceSpec: {grpc: {services: [{name: sluice.test.Echo, methods: [{name: Who}]}]}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: partial, namespace: default, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec:
  static:
    http2: true
    hosts: [{address: 10.0.0.23, port: 50051}]
    serviceSpec: {grpc: {services: [{name: sluice.test.Echo, methods: [{name: Who}]}]}}
`;

function reflection(services: Array<Record<string, unknown>>, descriptorSet: string): DiscoveredFunctions {
  return {
    discoverer: 'grpc-reflection',
    functions: services,
    descriptorSet,
    updatedAt: '2026-01-01T00:00:00Z',
  };
}

const DISCOVERED = new Map([
  [
    'default/reflected',
    reflection(
      [
        { name: 'sluice.test.Echo', methods: ECHO_METHODS },
        {
          name: 'helloworld.Greeter',
          methods: [
            {
              name: 'SayHello',
              streaming: 'unary',
              inputType: 'helloworld.HelloRequest',
              outputType: 'helloworld.HelloReply',
            },
          ],
        },
      ],
      echoDescriptorSet(GREETER_PROTO),
    ),
  ],
  ['default/partial', reflection([{ name: 'sluice.test.Echo', methods: ECHO_METHODS }], ECHO_DESCRIPTORS)],
]);

/** The whole pipeline for the upstreams above plus `yaml`, with the discovered functions. */
function translate(yaml: string) {
  const { translation, snapshots } = translateOnce(contentsOf(UPSTREAMS + yaml), DISCOVERED);
  const served = (typeUrl: string, proxy: string): XdsResource[] => [
    ...(snapshots
      .get(proxy)
      ?.get(typeUrl as never)
      ?.values() ?? []),
  ];
  return {
    /** Every resource the proxy is served. */
    resources: (proxy = GATEWAY_PROXY) =>
      [...(snapshots.get(proxy)?.values() ?? [])].flatMap((byName) => [...byName.values()]),
    listeners: (proxy = GATEWAY_PROXY) => served(TYPE_URLS.listener, proxy).map((resource) => resource.json),
    /** The routes of the first virtual host the proxy is served. */
    routes: (proxy = GATEWAY_PROXY) =>
      ((served(TYPE_URLS.route, proxy)[0]?.json.virtualHosts as Json[] | undefined)?.[0]?.routes ??
        []) as Json[],
    warnings: (name = 'vs') =>
      translation.reports.get({ kind: 'VirtualService', namespace: 'default', name })?.warnings ?? [],
    errors: (kind: string, name: string) =>
      translation.reports.get({ kind: kind as never, namespace: 'default', name })?.errors ?? [],
  };
}

/** One more YAML document: a resource in namespace default. */
function resourceYaml(kind: string, name: string, spec: string): string {
  return `
---
apiVersion: sluice.dev/v1
kind: ${kind}
metadata: {name: ${name}, namespace: default}
spec: ${spec}
`;
}

function routesTo(routes: string) {
  return translate(virtualService(routes));
}

/** The route Envoy serves in place of a rejected one. */
const rejectedRoute = (match: Json) => ({
  match,
  directResponse: {
    status: 503,
    body: { inlineString: 'sluice: this route is rejected; see the status of VirtualService/default/vs\n' },
  },
});

/** Each resource decodes strictly, meets the protoc-gen-validate rules and says what was translated. */
function expectStrictlyValid(resources: XdsResource[]): void {
  expect(resources.length).toBeGreaterThan(0);
  for (const resource of resources) {
    const messageName = messageNameOf(resource.typeUrl);
    const decoded = decodeToJson(messageName, resource.bytes);
    expect({ name: resource.name, violations: validateMessage(messageName, decoded) }).toEqual({
      name: resource.name,
      violations: [],
    });
    expect(decoded).toEqual(resource.json);
  }
}

const transcoderOf = (route: Json) => (route.typedPerFilterConfig as Record<string, Json>)[TRANSCODER_FILTER];

describe('gRPC function routes', () => {
  it('route a method on its exact gRPC path, the matchers adding header and query conditions', () => {
    const result = routesTo(`[
      {matchers: [{headers: [{name: x-canary, value: "true"}], queryParameters: [{name: v, present: true}]}],
       routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo/Who}}},
      {matchers: [{prefix: /}], routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo/Other}}},
      {routeAction: {single: {upstream: {name: reflected}, function: helloworld.Greeter/SayHello}}}]`);
    expect(result.warnings()).toEqual([]);
    expect(result.routes()).toEqual([
      {
        match: {
          path: WHO,
          headers: [{ name: 'x-canary', stringMatch: { exact: 'true' } }],
          queryParameters: [{ name: 'v', presentMatch: true }],
        },
        route: { cluster: 'echo_default' },
      },
      { match: { path: '/sluice.test.Echo/Other' }, route: { cluster: 'echo_default' } },
      { match: { path: '/helloworld.Greeter/SayHello' }, route: { cluster: 'reflected_default' } },
    ]);
  });

  it('route a whole service on its path prefix', () => {
    const result = routesTo(
      `[{routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo}}}]`,
    );
    expect(result.warnings()).toEqual([]);
    expect(result.routes()).toEqual([
      { match: { prefix: '/sluice.test.Echo/' }, route: { cluster: 'echo_default' } },
    ]);
  });

  it.each([
    ['prefix', '{prefix: /echo}', { prefix: '/echo' }],
    ['exact', '{exact: /sluice.test.Echo/Who}', { path: WHO }],
    ['regex', '{regex: "/sluice.test.Echo/.*"}', { safeRegex: { regex: '/sluice.test.Echo/.*' } }],
    ['pathTemplate', '{pathTemplate: "/sluice.test.Echo/{method}"}', { pathMatchPolicy: expect.anything() }],
  ])('reject a %s in the matcher: the function decides the path', (_kind, matcher, match) => {
    const result = routesTo(
      `[{matchers: [${matcher}], routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo/Who}}}]`,
    );
    expect(result.warnings()).toEqual([
      `spec.virtualHost.routes[0]: route rejected: matchers[0]: the function decides the path ({"exact":"${WHO}"}); leave the path out of the matcher`,
    ]);
    expect(result.routes()).toEqual([rejectedRoute(match)]);
  });

  it.each(['sluice.test.Echo/Nope', 'sluice.test.Echo/Who/Nope', 'helloworld.Greeter', 'sluice.test.Echo/'])(
    'reject the unknown function %s, naming the known ones',
    (name) => {
      const result = routesTo(`[{routeAction: {single: {upstream: {name: echo}, function: "${name}"}}}]`);
      expect(result.warnings()).toEqual([
        `spec.virtualHost.routes[0]: route rejected: upstream default/echo has no gRPC function "${name}" ` +
          '(known: sluice.test.Echo, sluice.test.Echo/Who, sluice.test.Echo/Other)',
      ]);
      expect(result.routes()).toEqual([rejectedRoute({ prefix: '/' })]);
    },
  );

  it("honour the client's grpc-timeout up to options.grpc.maxGrpcTimeout, retrying on gRPC status codes", () => {
    const result =
      routesTo(`[{routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo/Who}},
      options: {timeout: 5s, retries: {retryOn: "unavailable,deadline-exceeded", numRetries: 2},
                grpc: {maxGrpcTimeout: 30s}}}]`);
    expect(result.warnings()).toEqual([]);
    expect(result.routes()[0].route).toEqual({
      cluster: 'echo_default',
      timeout: '5s',
      maxStreamDuration: { grpcTimeoutHeaderMax: '30s' },
      retryPolicy: { retryOn: 'unavailable,deadline-exceeded', numRetries: 2 },
    });
    expectStrictlyValid(result.resources());
  });

  it('split a method between upstreams that both offer it', () => {
    const result = routesTo(`[{routeAction: {multi: {destinations: [
      {weight: 3, destination: {upstream: {name: echo}, function: sluice.test.Echo/Who}},
      {weight: 1, destination: {upstream: {name: reflected}, function: sluice.test.Echo/Who}}]}}}]`);
    expect(result.warnings()).toEqual([]);
    expect(result.routes()).toEqual([
      {
        match: { path: WHO },
        route: {
          weightedClusters: {
            clusters: [
              { name: 'echo_default', weight: 3 },
              { name: 'reflected_default', weight: 1 },
            ],
          },
        },
      },
    ]);
  });

  it('reject a split between functions on different paths', () => {
    const result = routesTo(`[{routeAction: {multi: {destinations: [
      {weight: 1, destination: {upstream: {name: echo}, function: sluice.test.Echo/Who}},
      {weight: 1, destination: {upstream: {name: reflected}, function: sluice.test.Echo/Other}}]}}}]`);
    expect(result.warnings()).toEqual([
      "spec.virtualHost.routes[0]: route rejected: routeAction: the destinations' functions are on different " +
        `gRPC paths ({"exact":"${WHO}"}, {"exact":"/sluice.test.Echo/Other"})`,
    ]);
    expect(result.routes()).toEqual([rejectedRoute({ prefix: '/' })]);
  });

  it('keep a service written by hand over the one reflection finds', () => {
    const result = routesTo(`[
      {routeAction: {single: {upstream: {name: partial}, function: sluice.test.Echo/Who}}},
      {routeAction: {single: {upstream: {name: partial}, function: sluice.test.Echo/Other}}}]`);
    expect(result.routes()).toEqual([
      { match: { path: WHO }, route: { cluster: 'partial_default' } },
      rejectedRoute({ prefix: '/' }),
    ]);
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[1]: route rejected: upstream default/partial has no gRPC function ' +
        '"sluice.test.Echo/Other" (known: sluice.test.Echo, sluice.test.Echo/Who)',
    ]);
  });
});

describe('the functions `sluice get upstream` lists', () => {
  it('describe each method with its messages, saying whether it was written by hand or discovered', () => {
    const { loaded, translation } = translateOnce(contentsOf(UPSTREAMS), DISCOVERED);
    const functionsOf = (name: string) =>
      grpcPlugin.describeFunctions?.(
        lookup(loaded.snapshot.upstreams, { namespace: 'default', name }) as Upstream,
        {
          snapshot: loaded.snapshot,
          reports: translation.reports,
        },
      );
    expect(functionsOf('partial')).toEqual([
      { name: 'sluice.test.Echo/Who', target: 'unary (?) returns (?)', source: 'spec' },
    ]);
    expect(functionsOf('reflected')).toEqual([
      {
        name: 'sluice.test.Echo/Who',
        target: 'unary (sluice.test.WhoRequest) returns (sluice.test.WhoReply)',
        source: 'discovered',
      },
      {
        name: 'sluice.test.Echo/Other',
        target: 'unary (sluice.test.WhoRequest) returns (sluice.test.WhoReply)',
        source: 'discovered',
      },
      {
        name: 'helloworld.Greeter/SayHello',
        target: 'unary (helloworld.HelloRequest) returns (helloworld.HelloReply)',
        source: 'discovered',
      },
    ]);
  });
});

describe('routeAction.functions on a gRPC upstream', () => {
  it('make one route per method, hand-written or discovered, keeping the conditions', () => {
    const result = routesTo(`[
      {matchers: [{prefix: /, headers: [{name: x-team, value: a}]}], routeAction: {functions: {upstream: {name: echo}}}},
      {routeAction: {functions: {upstream: {name: reflected}}}}]`);
    expect(result.warnings()).toEqual([]);
    const team = [{ name: 'x-team', stringMatch: { exact: 'a' } }];
    expect(result.routes()).toEqual([
      {
        name: 'sluice.test.Echo/Other',
        match: { path: '/sluice.test.Echo/Other', headers: team },
        route: { cluster: 'echo_default' },
      },
      {
        name: 'sluice.test.Echo/Who',
        match: { path: WHO, headers: team },
        route: { cluster: 'echo_default' },
      },
      {
        name: 'helloworld.Greeter/SayHello',
        match: { path: '/helloworld.Greeter/SayHello' },
        route: { cluster: 'reflected_default' },
      },
      {
        name: 'sluice.test.Echo/Other',
        match: { path: '/sluice.test.Echo/Other' },
        route: { cluster: 'reflected_default' },
      },
      { name: 'sluice.test.Echo/Who', match: { path: WHO }, route: { cluster: 'reflected_default' } },
    ]);
  });

  it("reject a prefix other than /, which the methods' own paths would ignore", () => {
    const result = routesTo(
      `[{matchers: [{prefix: /}, {prefix: /echo}], routeAction: {functions: {upstream: {name: echo}}}}]`,
    );
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[0]: route rejected: matchers[1]: the functions of upstream default/echo have ' +
        `paths of their own (e.g. ${WHO}); use prefix /`,
    ]);
    expect(result.routes()).toEqual([rejectedRoute({ prefix: '/' }), rejectedRoute({ prefix: '/echo' })]);
  });
});

describe('gRPC-JSON transcoding (options.grpc.json)', () => {
  const TRANSCODING_ROUTES = `[
      {matchers: [{prefix: /}], routeAction: {single: {upstream: {name: echo}}}, options: {grpc: {json: {}}}},
      {routeAction: {single: {upstream: {name: reflected}, function: helloworld.Greeter/SayHello}},
       options: {grpc: {json: {services: [helloworld.Greeter]}}}}]`;

  /** The transcoding routes in VirtualService `vs`, with more resources. */
  const transcodingWith = (yaml: string) => translate(virtualService(TRANSCODING_ROUTES) + yaml);

  it("put a per-route transcoder of the upstream's descriptors on the route, valid by Envoy's protos", () => {
    const result = routesTo(TRANSCODING_ROUTES);
    expect(result.warnings()).toEqual([]);
    const [own, greeter] = result.routes().map(transcoderOf);
    expect(own).toEqual({
      '@type': `type.googleapis.com/${TRANSCODER}`,
      protoDescriptorBin: ECHO_DESCRIPTORS,
      services: ['sluice.test.Echo'],
      autoMapping: true,
      convertGrpcStatus: true,
      printOptions: { alwaysPrintPrimitiveFields: true },
    });
    expect(greeter).toMatchObject({
      services: ['helloworld.Greeter'],
      protoDescriptorBin: echoDescriptorSet(GREETER_PROTO),
    });
    for (const config of [own, greeter]) {
      const { '@type': _type, ...fields } = config;
      expect(decodeToJson(TRANSCODER, encodeJson(TRANSCODER, fields))).toEqual(fields);
      expect(validateMessage(TRANSCODER, fields)).toEqual([]);
      const defined = servicesDefinedBy(fields.protoDescriptorBin as string);
      expect((fields.services as string[]).filter((service) => !defined.includes(service))).toEqual([]);
    }
    expectStrictlyValid(result.resources());
  });

  it('transcode every method of a weighted destination', () => {
    const result = routesTo(`[{routeAction: {multi: {destinations: [
      {weight: 1, destination: {upstream: {name: echo}, function: sluice.test.Echo/Who}},
      {weight: 1, destination: {upstream: {name: reflected}, function: sluice.test.Echo/Who}}]}},
      options: {grpc: {json: {services: [sluice.test.Echo]}}}}]`);
    expect(result.warnings()).toEqual([]);
    const clusters = ((result.routes()[0].route as Json).weightedClusters as Json).clusters as Json[];
    expect(clusters.map((cluster) => transcoderOf(cluster).services)).toEqual([
      ['sluice.test.Echo'],
      ['sluice.test.Echo'],
    ]);
    expectStrictlyValid(result.resources());
  });

  it.each([
    [
      'a service the descriptor set lacks',
      'echo',
      '[helloworld.Greeter]',
      "options.grpc.json.services: upstream default/echo's descriptor set has no service helloworld.Greeter",
    ],
    [
      'no descriptors',
      'undescribed',
      '[]',
      'options.grpc.json: upstream default/undescribed has no descriptors yet (discovery fills them, or set serviceSpec.grpc.descriptors)',
    ],
  ])('reject transcoding with %s', (_case, upstream, services, reason) => {
    const result = routesTo(
      `[{routeAction: {single: {upstream: {name: ${upstream}}}}, options: {grpc: {json: {services: ${services}}}}}]`,
    );
    expect(result.warnings()).toEqual([`spec.virtualHost.routes[0]: route rejected: ${reason}`]);
    expect(result.routes()).toEqual([rejectedRoute({ prefix: '/' })]);
  });

  it.each([
    [
      'descriptors that are not a FileDescriptorSet',
      '{descriptors: "/////w==", services: [{name: sluice.test.Echo}]}',
      /: upstream default\/handwritten: the descriptor set cannot be read: .+/,
    ],
    [
      'descriptors but no services',
      `{descriptors: ${ECHO_DESCRIPTORS}}`,
      / upstream default\/handwritten has no services to transcode$/,
    ],
  ])('reject transcoding with %s written by hand', (_case, grpc, reason) => {
    const result = translate(
      resourceYaml(
        'Upstream',
        'handwritten',
        `{static: {http2: true, hosts: [{address: 10.0.0.24, port: 50051}], serviceSpec: {grpc: ${grpc}}}}`,
      ) +
        virtualService(
          `[{routeAction: {single: {upstream: {name: handwritten}}}, options: {grpc: {json: {}}}}]`,
        ),
    );
    expect(result.errors('Upstream', 'handwritten')).toEqual([]);
    expect(result.warnings()).toEqual([
      expect.stringMatching(/^spec\.virtualHost\.routes\[0\]: route rejected: options\.grpc\.json/),
    ]);
    expect(result.warnings()[0]).toMatch(reason);
  });

  it('reject transcoding to an upstream without gRPC functions, alone or in a split, instead of ignoring it', () => {
    const plain = resourceYaml('Upstream', 'plain', '{static: {hosts: [{address: 10.0.0.30, port: 8080}]}}');
    const result = translate(
      plain +
        virtualService(`
    - {routeAction: {single: {upstream: {name: plain}}}, options: {grpc: {json: {}}}}
    - routeAction: {multi: {destinations: [
        {weight: 1, destination: {upstream: {name: echo}, function: sluice.test.Echo/Who}},
        {weight: 1, destination: {upstream: {name: plain}}}]}}
      options: {grpc: {json: {}}}
    - {routeAction: {single: {upstream: {name: plain}}}, options: {lambda: {payloadPassthrough: true}}}`),
    );
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[0]: route rejected: options.grpc.json applies to grpc upstreams; upstream default/plain is not one',
      'spec.virtualHost.routes[1]: route rejected: routeAction.multi.destinations[1]: options.grpc.json applies to grpc upstreams; upstream default/plain is not one',
      'spec.virtualHost.routes[2]: route rejected: options.lambda applies to aws-lambda upstreams; upstream default/plain is not one',
    ]);
  });

  it('add the transcoder to the HTTP filters, disabled, only on listeners whose routes transcode', () => {
    const result = transcodingWith(
      resourceYaml(
        'VirtualService',
        'plain',
        '{virtualHost: {domains: [plain.example], routes: [{routeAction: {single: {upstream: {name: echo}, function: sluice.test.Echo/Who}}}]}}',
      ) +
        resourceYaml('Gateway', 'transcoding', '{bindPort: 8080, virtualServices: [{name: vs}]}') +
        resourceYaml('Gateway', 'plain', '{bindPort: 8081, virtualServices: [{name: plain}]}'),
    );
    const filters = Object.fromEntries(
      result
        .listeners()
        .map((listener) => [
          listener.name,
          (((listener.filterChains as Json[])[0].filters as Json[])[0].typedConfig as Json)
            .httpFilters as Json[],
        ]),
    );
    expect(filters).toEqual({
      'listener-::-8080': [
        {
          name: TRANSCODER_FILTER,
          typedConfig: { '@type': `type.googleapis.com/${TRANSCODER}`, protoDescriptorBin: '' },
          disabled: true,
        },
        ROUTER_FILTER,
      ],
      'listener-::-8081': [ROUTER_FILTER],
    });
    expectStrictlyValid(result.resources());
  });

  it('mark the transcoder optional for proxyless gRPC clients, which do not have it', () => {
    const proxy = 'default~grpc-clients';
    const result = transcodingWith(
      resourceYaml('Gateway', 'grpc', '{bindPort: 8080, grpcProxyless: {}, proxyNames: [grpc-clients]}'),
    );
    expect(result.warnings()).toEqual([]);
    const [own] = result.routes(proxy).map(transcoderOf);
    expect(own).toEqual({
      '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig',
      config: expect.objectContaining({
        '@type': `type.googleapis.com/${TRANSCODER}`,
        services: ['sluice.test.Echo'],
      }),
      isOptional: true,
    });
    const [listener] = result.listeners(proxy);
    expect(((listener.apiListener as Json).apiListener as Json).httpFilters).toEqual([
      {
        name: TRANSCODER_FILTER,
        typedConfig: { '@type': `type.googleapis.com/${TRANSCODER}`, protoDescriptorBin: '' },
        disabled: true,
        isOptional: true,
      },
      ROUTER_FILTER,
    ]);
    expectStrictlyValid(result.resources(proxy));
  });
});

import * as protobuf from 'protobufjs';
import { envoyRoot, envoyType } from '../../src/xds/envoy-protos';
import {
  compileRe2,
  encodeValid,
  fieldRulesOf,
  hasRulesBeneath,
  PgvRuleError,
  SUPPORTED_RULES,
  validateMessage as validateAlone,
  validateType,
} from '../../src/xds/pgv';
import { encodeJson, encodeType } from '../../src/xds/proto-json';

/**
 * validateMessage, checking on the way that the encoding walk with the rules (encodeValid, all the
 * ResourceEncoder runs on a resource it accepts) rejects what validation reports, and otherwise writes
 * what encodeType writes.
 */
function validateMessage(messageName: string, json: Record<string, unknown>): string[] {
  const violations = validateAlone(messageName, json);
  const type = envoyType(messageName);
  const bytes = encodeValid(type, json);
  if (violations.length > 0) expect(bytes).toBeUndefined();
  else {
    let plain: Uint8Array | undefined;
    try {
      plain = encodeType(type, json);
    } catch {
      plain = undefined;
    }
    expect(bytes).toEqual(plain);
  }
  return violations;
}

const LISTENER = 'envoy.config.listener.v3.Listener';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const ROUTE = 'envoy.config.route.v3.RouteConfiguration';
const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
const HCM_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

function listener(hcm: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'ingress-http',
    address: { socketAddress: { address: '0.0.0.0', portValue: 8080 } },
    filterChains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typedConfig: {
              '@type': HCM_URL,
              statPrefix: 'ingress_http',
              rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'ingress' },
              httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_URL } }],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

function cluster(): Record<string, unknown> {
  return {
    name: 'fn-echo',
    type: 'STRICT_DNS',
    connectTimeout: '0.250s',
    loadAssignment: {
      clusterName: 'fn-echo',
      endpoints: [
        { lbEndpoints: [{ endpoint: { address: { socketAddress: { address: 'echo', portValue: 9000 } } } }] },
      ],
    },
    transportSocket: {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'echo.internal',
      },
    },
    typedExtensionProtocolOptions: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: { maxConcurrentStreams: 100 } },
      },
    },
  };
}

function routeConfiguration(): Record<string, unknown> {
  return {
    name: 'ingress',
    virtualHosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { path: '/healthz' }, directResponse: { status: 200, body: { inlineString: 'ok' } } },
          {
            match: { safeRegex: { regex: '^/fn/[a-z]+$' } },
            route: {
              weightedClusters: {
                clusters: [
                  { name: 'a', weight: 90 },
                  { name: 'b', weight: 10 },
                ],
              },
              retryPolicy: { numRetries: 2, retryBackOff: { baseInterval: '0.025s', maxInterval: '1s' } },
            },
          },
        ],
      },
    ],
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('real Envoy resources', () => {
  it('accepts valid resources', () => {
    expect(validateMessage(LISTENER, listener())).toEqual([]);
    expect(validateMessage(CLUSTER, cluster())).toEqual([]);
    expect(validateMessage(ROUTE, routeConfiguration())).toEqual([]);
    expect(
      validateMessage(CLA, {
        clusterName: 'x',
        endpoints: [
          {
            lbEndpoints: [
              { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 80 } } } },
            ],
          },
        ],
      }),
    ).toEqual([]);
  });

  it('reports a Cluster without a name (proto3: unset string = "" fails min_len)', () => {
    const json = cluster();
    delete json.name;
    expect(validateMessage(CLUSTER, json)).toEqual(['name: value length must be at least 1 runes']);
  });

  it('reports SocketAddress port 70000 with its full path', () => {
    const json = cluster() as Json;
    json.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue = 70000;
    expect(validateMessage(CLUSTER, json)).toEqual([
      'loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue: value must be less than or equal to 65535',
    ]);
  });

  it('reports a SocketAddress without a port (oneof port_specifier is required)', () => {
    expect(validateMessage('envoy.config.core.v3.SocketAddress', { address: '1.2.3.4' })).toEqual([
      'portSpecifier: one of [portValue, namedPort] is required',
    ]);
  });

  it('reports a virtual host with empty domains and a direct_response status 99', () => {
    const json = routeConfiguration() as Json;
    json.virtualHosts[0].domains = [];
    json.virtualHosts[0].routes[0].directResponse.status = 99;
    expect(validateMessage(ROUTE, json)).toEqual([
      'virtualHosts[0].domains: value must contain at least 1 item(s)',
      'virtualHosts[0].routes[0].directResponse.status: value must be inside range [200, 600)',
    ]);
  });

  it('reports an HCM without stat_prefix inside the Listener Any, and a missing route_specifier', () => {
    const json = listener({ statPrefix: undefined, rds: undefined });
    expect(validateMessage(LISTENER, json)).toEqual([
      'filterChains[0].filters[0].typedConfig.statPrefix: value length must be at least 1 runes',
      'filterChains[0].filters[0].typedConfig.routeSpecifier: one of [rds, routeConfig, scopedRoutes] is required',
    ]);
  });

  it('reports weighted_clusters without clusters (the only weight rule PGV expresses; the sum is not a PGV rule)', () => {
    const json = routeConfiguration() as Json;
    json.virtualHosts[0].routes[1].route.weightedClusters.clusters = [];
    expect(validateMessage(ROUTE, json)).toEqual([
      'virtualHosts[0].routes[1].route.weightedClusters.clusters: value must contain at least 1 item(s)',
    ]);
    // uneven weights are fine as far as PGV is concerned
    json.virtualHosts[0].routes[1].route.weightedClusters.clusters = [{ name: 'a', weight: 3 }];
    expect(validateMessage(ROUTE, json)).toEqual([]);
  });

  it('reports a route match without a path specifier (oneof required) and ignores rules of unset oneof members', () => {
    const json = routeConfiguration() as Json;
    json.virtualHosts[0].routes[0].match = { caseSensitive: true };
    expect(validateMessage(ROUTE, json)).toEqual([
      'virtualHosts[0].routes[0].match.pathSpecifier: one of [prefix, path, safeRegex, connectMatcher, pathSeparatedPrefix, pathMatchPolicy] is required',
    ]);
  });

  it('checks retry back-off durations (required, gt 0) and the route action oneof', () => {
    const json = routeConfiguration() as Json;
    json.virtualHosts[0].routes[1].route.retryPolicy.retryBackOff = { maxInterval: '0s' };
    delete json.virtualHosts[0].routes[1].route.weightedClusters;
    expect(validateMessage(ROUTE, json)).toEqual([
      'virtualHosts[0].routes[1].route.retryPolicy.retryBackOff.maxInterval: value must be greater than 0s',
      'virtualHosts[0].routes[1].route.retryPolicy.retryBackOff.baseInterval: value is required',
      'virtualHosts[0].routes[1].route.clusterSpecifier: one of [cluster, clusterHeader, weightedClusters, clusterSpecifierPlugin, inlineClusterSpecifierPlugin] is required',
    ]);
  });

  it('checks Cluster connect_timeout > 0, enum defined_only, wrapper rules and map keys', () => {
    const json = cluster() as Json;
    json.connectTimeout = '0s';
    json.type = 42;
    json.typedExtensionProtocolOptions[''] =
      json.typedExtensionProtocolOptions['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    json.typedExtensionProtocolOptions[''].explicitHttpConfig.http2ProtocolOptions.maxConcurrentStreams = 0;
    json.metadata = { filterMetadata: { '': {} } };
    expect(validateMessage(CLUSTER, json).sort()).toEqual(
      [
        'type: value must be one of the defined enum values',
        'connectTimeout: value must be greater than 0s',
        'metadata.filterMetadata[""] (key): value length must be at least 1 runes',
        'typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicitHttpConfig.http2ProtocolOptions.maxConcurrentStreams: value must be inside range [1, 2147483647]',
        'typedExtensionProtocolOptions[""].explicitHttpConfig.http2ProtocolOptions.maxConcurrentStreams: value must be inside range [1, 2147483647]',
      ].sort(),
    );
  });

  it('applies wrapper rules only when the wrapper is set', () => {
    const options = 'envoy.config.core.v3.Http2ProtocolOptions';
    expect(validateMessage(options, {})).toEqual([]);
    expect(validateMessage(options, { maxConcurrentStreams: 0 })).toEqual([
      'maxConcurrentStreams: value must be inside range [1, 2147483647]',
    ]);
    expect(validateMessage(options, { initialStreamWindowSize: 100 })).toEqual([
      'initialStreamWindowSize: value must be inside range [65535, 2147483647]',
    ]);
  });

  it('checks header names and values with the well-known regexes (HeaderValue uses strict: false)', () => {
    const header = 'envoy.config.core.v3.HeaderValue';
    expect(validateMessage(header, { key: 'x-ok', value: 'fine value' })).toEqual([]);
    // strict: false only refuses NUL, CR and LF
    expect(validateMessage(header, { key: 'odd header', value: 'a\u0001b' })).toEqual([]);
    expect(validateMessage(header, { key: 'bad\nheader', value: 'a\rb' })).toEqual([
      'key: value does not match regex pattern "^[^\\u0000\\u000A\\u000D]*$"',
      'value: value does not match regex pattern "^[^\\u0000\\u000A\\u000D]*$"',
    ]);
    expect(validateMessage(header, { value: 'v' })).toEqual(['key: value length must be at least 1 runes']);
    const vh = 'envoy.config.route.v3.VirtualHost';
    expect(validateMessage(vh, { name: 'v', domains: ['a\u0001b'] })).toEqual([]);
    expect(validateMessage(vh, { name: 'v', domains: ['a\nb'] })).toEqual([
      expect.stringMatching(/^domains\[0\]: value does not match regex pattern/),
    ]);
  });

  it('checks repeated item rules (Router strict_check_headers in a list, request_headers_to_remove non-empty)', () => {
    expect(
      validateMessage(
        LISTENER,
        listener({
          httpFilters: [
            {
              name: 'r',
              typedConfig: { '@type': ROUTER_URL, strictCheckHeaders: ['x-envoy-max-retries', 'x-nope'] },
            },
          ],
        }),
      ),
    ).toEqual([
      expect.stringMatching(
        /^filterChains\[0\]\.filters\[0\]\.typedConfig\.httpFilters\[0\]\.typedConfig\.strictCheckHeaders\[1\]: value must be in list \["x-envoy-upstream-rq-timeout-ms",/,
      ),
    ]);
    expect(
      validateMessage('envoy.config.route.v3.VirtualHost', {
        name: 'v',
        domains: ['*'],
        requestHeadersToRemove: ['ok', ''],
      }),
    ).toEqual(['requestHeadersToRemove[1]: value length must be at least 1 runes']);
  });

  it('reports unknown Any types and unknown fields', () => {
    const json = cluster() as Json;
    json.transportSocket.typedConfig['@type'] = 'type.googleapis.com/nope.Nope';
    json.bogus = 1;
    expect(validateMessage(CLUSTER, json)).toEqual([
      'transportSocket.typedConfig: unknown Any type "type.googleapis.com/nope.Nope"',
      'bogus: unknown field of envoy.config.cluster.v3.Cluster',
    ]);
  });

  it('accepts .proto field names', () => {
    expect(
      validateMessage('envoy.config.core.v3.SocketAddress', { address: 'a', port_value: 70000 }),
    ).toEqual(['portValue: value must be less than or equal to 65535']);
  });
});

/** Every `kind.rule` the loaded protos use, with items/keys/values descended into. */
function ruleKeysInUse(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const visit = (rules: Record<string, unknown>, where: string): void => {
    for (const [kind, body] of Object.entries(rules)) {
      for (const [rule, value] of Object.entries(body as Record<string, unknown>)) {
        const key = `${kind}.${rule}`;
        used.set(key, [...(used.get(key) ?? []), where]);
        if (key === 'repeated.items' || key === 'map.keys' || key === 'map.values') {
          visit(value as Record<string, unknown>, `${where} (${rule})`);
        }
      }
    }
  };
  for (const type of allTypes()) {
    for (const field of type.fieldsArray) {
      // Read protobufjs' parsedOptions directly (an array of {optionName: value} at runtime), not via pgv.
      const parsed = (field.parsedOptions ?? []) as unknown as Record<string, unknown>[];
      for (const option of parsed) {
        const rules = option['(validate.rules)'];
        if (rules) visit(rules as Record<string, unknown>, field.fullName);
      }
    }
  }
  return used;
}

function allTypes(): protobuf.Type[] {
  const types: protobuf.Type[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) types.push(nested);
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested);
    }
  };
  walk(envoyRoot());
  return types;
}

describe('RE2 patterns', () => {
  it('translates the RE2 forms JS spells differently', () => {
    expect(compileRe2('(?i)^abc$', 'f').test('ABC')).toBe(true);
    expect(compileRe2('^abc$', 'f').test('ABC')).toBe(false);
    expect(compileRe2('\\Afoo\\z', 'f').test('foo')).toBe(true);
    expect(compileRe2('\\Afoo\\z', 'f').test('foo\n')).toBe(false);
    expect(compileRe2('^\\pL+$', 'f').test('héllo')).toBe(true);
    expect(compileRe2('^\\pL+$', 'f').test('h3llo')).toBe(false);
    expect(compileRe2('^(?P<word>[a-z]+)$', 'f').exec('abc')?.groups?.word).toBe('abc');
  });

  it('refuses what it cannot translate', () => {
    expect(() => compileRe2('a(?i)b', 'f')).toThrow(PgvRuleError);
    expect(() => compileRe2('(?U)a+', 'f')).toThrow('RE2 flag U is not supported');
    expect(() => compileRe2('[z-a]', 'f')).toThrow('does not compile as a JS RegExp');
  });
});

describe('rule coverage', () => {
  it('reads merged rules from parsedOptions, where the flattened options lose lists and empty messages', () => {
    const timeout = envoyType(CLUSTER).fields.connectTimeout;
    expect(timeout.options?.['(validate.rules).duration.gt']).toBeUndefined();
    expect(fieldRulesOf(timeout)).toEqual({ duration: { gt: {} } });
    const flags = envoyType('envoy.extensions.filters.http.router.v3.Router').fields.strictCheckHeaders;
    expect(flags.options?.['(validate.rules).repeated.items.string.in']).toBe('x-envoy-retry-on'); // the last one only
    expect((fieldRulesOf(flags) as Json).repeated.items.string.in).toHaveLength(5);
  });

  it('every rule kind used in the loaded protos is one the checker enforces', () => {
    const used = ruleKeysInUse();
    expect(used.size).toBeGreaterThan(30);
    const unsupported = [...used.keys()].filter((key) => !SUPPORTED_RULES.has(key));
    expect(unsupported).toEqual([]);
  });

  it('every loaded type compiles (rule kinds match field types, patterns compile)', () => {
    const types = allTypes();
    expect(types.length).toBeGreaterThan(400);
    for (const type of types) expect(() => validateType(type, {})).not.toThrow();
    // oneof-level (validate.required) is used as well
    expect(types.some((t) => t.oneofsArray.some((o) => o.options?.['(validate.required)'] === true))).toBe(
      true,
    );
  });

  it('every rule kind used in the loaded protos is exercised by the table below', () => {
    const exercised = new Set(CASES.flatMap((c) => c.rules));
    const missing = [...ruleKeysInUse().keys()].filter((key) => !exercised.has(key));
    expect(missing).toEqual([]);
  });

  it('rejects rule kinds it does not implement instead of ignoring them', () => {
    const root = envoyRoot();
    protobuf.parse(
      `syntax = "proto3";
      package sluice.pgvbad;
      message Unknown { string a = 1 [(validate.rules).string.frobnicate = true]; }
      message Mismatch { string a = 1 [(validate.rules).uint32.gt = 1]; }
      message BadRegex { string a = 1 [(validate.rules).string.pattern = "[z-a]"]; }`,
      root,
      { keepCase: false },
    );
    root.resolveAll();
    expect(() => validateMessage('sluice.pgvbad.Unknown', {})).toThrow(
      new PgvRuleError('sluice.pgvbad.Unknown.a: unsupported rule string.frobnicate'),
    );
    expect(() => validateMessage('sluice.pgvbad.Mismatch', {})).toThrow(
      'rule kind "uint32" does not apply to a string field',
    );
    expect(() => validateMessage('sluice.pgvbad.BadRegex', {})).toThrow('does not compile as a JS RegExp');
  });
});

const TEST_PROTO = `
syntax = "proto3";
package sluice.pgvtest;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "validate/validate.proto";

message Inner {
  string id = 1 [(validate.rules).string = {min_len: 1}];
}

message Skipped {
  option (validate.disabled) = true;
  string id = 1 [(validate.rules).string = {min_len: 1}];
}

message Rules {
  enum Color { RED = 0; GREEN = 1; BLUE = 2; }

  string s_min_len = 1 [(validate.rules).string.min_len = 2];
  string s_max_len = 2 [(validate.rules).string = {max_len: 3}];
  string s_bytes = 3 [(validate.rules).string = {min_bytes: 2 max_bytes: 4}];
  string s_pattern = 4 [(validate.rules).string = {pattern: "^[a-z]+$"}];
  string s_in = 5 [(validate.rules).string = {in: ["http", "https"]}];
  string s_header_name = 6 [(validate.rules).string = {well_known_regex: HTTP_HEADER_NAME}];
  string s_header_loose = 7 [(validate.rules).string = {well_known_regex: HTTP_HEADER_NAME strict: false}];
  string s_header_value = 8 [(validate.rules).string = {well_known_regex: HTTP_HEADER_VALUE}];
  string s_ignore_empty = 9 [(validate.rules).string = {min_len: 3 ignore_empty: true}];
  string s_misc = 10 [(validate.rules).string = {prefix: "a" suffix: "z" contains: "m" not_contains: "x" len: 4}];
  string s_const = 11 [(validate.rules).string = {const: "exact" len_bytes: 5}];
  string s_not_in = 12 [(validate.rules).string = {not_in: ["root", "admin"]}];
  string s_email = 13 [(validate.rules).string.email = true];
  string s_hostname = 14 [(validate.rules).string.hostname = true];
  string s_ip = 15 [(validate.rules).string.ip = true];
  string s_ipv4 = 16 [(validate.rules).string.ipv4 = true];
  string s_ipv6 = 17 [(validate.rules).string.ipv6 = true];
  string s_uri = 18 [(validate.rules).string.uri = true];
  string s_uri_ref = 19 [(validate.rules).string.uri_ref = true];
  string s_address = 20 [(validate.rules).string.address = true];
  string s_uuid = 21 [(validate.rules).string.uuid = true];

  bytes b_len = 30 [(validate.rules).bytes = {min_len: 1 max_len: 4}];
  bytes b_misc = 31 [(validate.rules).bytes = {prefix: "ab" ignore_empty: true}]; // protobufjs drops \\x escapes in option strings
  bytes b_ip = 32 [(validate.rules).bytes = {ip: true ignore_empty: true}];
  bytes b_const = 33 [(validate.rules).bytes = {const: "hi" ignore_empty: true}];

  bool b_true = 40 [(validate.rules).bool.const = true];

  double d_range = 50 [(validate.rules).double = {gt: 0 lte: 3}];
  double d_gte = 51 [(validate.rules).double.gte = 1];
  float f_outside = 52 [(validate.rules).float = {lt: 1 gt: 5 ignore_empty: true}];
  uint32 u_status = 53 [(validate.rules).uint32 = {gte: 200 lt: 600}];
  uint32 u_gt = 54 [(validate.rules).uint32.gt = 0];
  uint32 u_lte = 55 [(validate.rules).uint32.lte = 511];
  uint64 u64_range = 56 [(validate.rules).uint64 = {gt: 0 lt: 65536}];
  uint64 u64_inclusive = 57 [(validate.rules).uint64 = {gte: 1 lte: 8388608}];
  int64 i64_big = 58 [(validate.rules).int64 = {lt: 9007199254740992 ignore_empty: true}]; // protobufjs parses option integers as doubles
  int32 i32_in = 59 [(validate.rules).int32 = {in: [1, 2, 3] ignore_empty: true}];
  sint32 s32_not_in = 60 [(validate.rules).sint32 = {not_in: [-1] const: -2 ignore_empty: true}];
  fixed64 f64_const = 61 [(validate.rules).fixed64 = {const: 7 ignore_empty: true}];

  Color color = 70 [(validate.rules).enum.defined_only = true];
  Color not_green = 71 [(validate.rules).enum = {not_in: [1]}];
  Color only_blue = 72 [(validate.rules).enum = {in: [2] const: 2}];

  Inner required_msg = 80 [(validate.rules).message.required = true];
  Inner skipped_msg = 81 [(validate.rules).message.skip = true];
  Inner plain_msg = 82;
  Skipped disabled_msg = 83;

  google.protobuf.Duration dur = 90 [(validate.rules).duration = {required: true gt {} lt {seconds: 10}}];
  google.protobuf.Duration dur_ms = 91 [(validate.rules).duration = {gte {nanos: 1000000} lte {seconds: 600}}];
  google.protobuf.Duration dur_set = 92 [(validate.rules).duration = {in {seconds: 1} in {seconds: 2} not_in {seconds: 3}}];
  google.protobuf.Duration dur_const = 93 [(validate.rules).duration = {const {seconds: 5}}];
  google.protobuf.Timestamp ts_past = 94 [(validate.rules).timestamp = {lt_now: true within {seconds: 3600}}];
  google.protobuf.Timestamp ts_future = 95 [(validate.rules).timestamp = {gt_now: true}];
  google.protobuf.Timestamp ts_range = 96 [(validate.rules).timestamp = {required: true gte {seconds: 0} lt {seconds: 86400}}];

  google.protobuf.Any any = 100 [(validate.rules).any = {required: true in: ["type.googleapis.com/sluice.pgvtest.Inner", "type.googleapis.com/google.protobuf.Duration"]}];
  google.protobuf.Any any_not = 101 [(validate.rules).any = {not_in: ["type.googleapis.com/google.protobuf.Duration"]}];

  repeated string items = 110 [(validate.rules).repeated = {min_items: 1 max_items: 3 unique: true items {string {min_len: 1}}}];
  repeated uint32 ports = 111 [(validate.rules).repeated = {items {uint32 {gte: 1 lte: 65535}}}];
  repeated Color colors = 112 [(validate.rules).repeated = {items {enum {defined_only: true}}}];
  repeated uint32 tlv = 113 [(validate.rules).repeated = {ignore_empty: true min_items: 2 items {uint32 {lt: 256}}}];
  repeated Inner inners = 114 [(validate.rules).repeated = {max_items: 2}];
  repeated string headers = 115 [(validate.rules).repeated = {items {string {well_known_regex: HTTP_HEADER_NAME strict: false max_bytes: 8}}}];
  repeated string flags = 116 [(validate.rules).repeated = {items {string {in: ["LH", "UH"]}}}];

  map<string, string> labels = 120 [(validate.rules).map = {min_pairs: 1 max_pairs: 2 keys {string {min_len: 1}} values {string {max_len: 3}}}];
  map<uint32, Inner> by_port = 121 [(validate.rules).map = {no_sparse: true keys {uint32 {lte: 100}}}];
  map<string, string> optional_map = 122 [(validate.rules).map = {ignore_empty: true min_pairs: 2}];

  google.protobuf.UInt32Value wrapped = 130 [(validate.rules).uint32 = {gte: 1}];
  google.protobuf.DoubleValue ratio = 131 [(validate.rules).double = {gte: 1 lte: 3}];
  google.protobuf.BoolValue must_set = 132 [(validate.rules).message.required = true];
  google.protobuf.StringValue wrapped_str = 133 [(validate.rules).string = {min_len: 2}];

  oneof choice {
    option (validate.required) = true;
    string a = 140;
    uint32 b = 141 [(validate.rules).uint32.lte = 5];
    Inner c = 142 [(validate.rules).message.required = true];
  }
  optional string opt = 143 [(validate.rules).string.min_len = 2];
  bool any_match = 144 [(validate.rules).bool.const = true];
}
`;

/** A value satisfying every rule of sluice.pgvtest.Rules. */
function validRules(): Json {
  const now = Date.now();
  return {
    sMinLen: 'ab',
    sMaxLen: 'abc',
    sBytes: 'é',
    sPattern: 'abc',
    sIn: 'https',
    sHeaderName: ':authority',
    sHeaderLoose: 'any thing',
    sHeaderValue: 'tab\tok',
    sMisc: 'amzz',
    sConst: 'exact',
    sNotIn: 'user',
    sEmail: 'ops@example.com',
    sHostname: 'api.example.com',
    sIp: '::1',
    sIpv4: '10.0.0.1',
    sIpv6: 'fe80::1',
    sUri: 'https://example.com/x?y=1',
    sUriRef: '../relative/path?q=1',
    sAddress: 'localhost',
    sUuid: '123e4567-e89b-12d3-a456-426614174000',
    bLen: 'AQI=',
    bTrue: true,
    dRange: 3,
    dGte: 1,
    uStatus: 200,
    uGt: 1,
    uLte: 511,
    u64Range: '65535',
    u64Inclusive: 8388608,
    color: 'BLUE',
    onlyBlue: 'BLUE',
    requiredMsg: { id: 'x' },
    dur: '9.999999999s',
    durMs: '0.001s',
    tsPast: new Date(now - 60_000).toISOString(),
    tsFuture: new Date(now + 60_000).toISOString(),
    tsRange: '1970-01-01T23:59:59Z',
    any: { '@type': 'type.googleapis.com/sluice.pgvtest.Inner', id: 'i' },
    items: ['a', 'b'],
    ports: [1, 65535],
    colors: ['RED'],
    labels: { k: 'v' },
    mustSet: false,
    a: 'chosen',
    anyMatch: true,
  };
}

interface Case {
  /** The rule keys this case shows being enforced. */
  rules: string[];
  patch: Json;
  violations: (string | RegExp)[];
}

const CASES: Case[] = [
  {
    rules: ['string.min_len'],
    patch: { sMinLen: 'a' },
    violations: ['sMinLen: value length must be at least 2 runes'],
  },
  {
    rules: ['string.min_len'],
    patch: { sMinLen: undefined },
    violations: ['sMinLen: value length must be at least 2 runes'],
  },
  {
    // Two UTF-16 units, one rune: the length alone does not decide, the runes are counted.
    rules: ['string.min_len'],
    patch: { sMinLen: '😀' },
    violations: ['sMinLen: value length must be at least 2 runes'],
  },
  {
    rules: ['string.max_len'],
    patch: { sMaxLen: '😀😀😀😀' },
    violations: ['sMaxLen: value length must be at most 3 runes'],
  },
  {
    rules: ['string.max_len'],
    patch: { sMaxLen: 'ab😀😀' },
    violations: ['sMaxLen: value length must be at most 3 runes'],
  },
  {
    rules: ['string.max_bytes'],
    patch: { sBytes: 'ééé' },
    violations: ['sBytes: value length must be at most 4 bytes'],
  },
  {
    rules: ['string.min_bytes'],
    patch: { sBytes: 'a' },
    violations: ['sBytes: value length must be at least 2 bytes'],
  },
  {
    rules: ['string.pattern'],
    patch: { sPattern: 'ABC' },
    violations: ['sPattern: value does not match regex pattern "^[a-z]+$"'],
  },
  {
    rules: ['string.in'],
    patch: { sIn: 'ftp' },
    violations: ['sIn: value must be in list ["http", "https"]'],
  },
  {
    rules: ['string.not_in'],
    patch: { sNotIn: 'root' },
    violations: ['sNotIn: value must not be in list ["root", "admin"]'],
  },
  {
    rules: ['string.well_known_regex'],
    patch: { sHeaderName: 'has space', sHeaderValue: 'bell\u0007' },
    violations: [
      /^sHeaderName: value does not match regex pattern/,
      /^sHeaderValue: value does not match regex pattern/,
    ],
  },
  {
    rules: ['string.well_known_regex'],
    patch: { sHeaderName: '' },
    violations: [/^sHeaderName: value does not match/],
  },
  {
    rules: ['string.strict'],
    patch: { sHeaderLoose: 'a\rb' },
    violations: [/^sHeaderLoose: value does not match/],
  },
  { rules: ['string.strict'], patch: { sHeaderLoose: 'has space\u0007' }, violations: [] },
  { rules: ['string.ignore_empty'], patch: { sIgnoreEmpty: '' }, violations: [] },
  {
    rules: ['string.ignore_empty'],
    patch: { sIgnoreEmpty: 'ab' },
    violations: ['sIgnoreEmpty: value length must be at least 3 runes'],
  },
  {
    rules: ['string.prefix', 'string.suffix', 'string.contains', 'string.not_contains', 'string.len'],
    patch: { sMisc: 'xyz' },
    violations: [
      'sMisc: value length must be 4 runes',
      'sMisc: value does not have prefix "a"',
      'sMisc: value does not contain substring "m"',
      'sMisc: value contains substring "x"',
    ],
  },
  {
    rules: ['string.suffix'],
    patch: { sMisc: 'amzy' },
    violations: ['sMisc: value does not have suffix "z"'],
  },
  {
    rules: ['string.const', 'string.len_bytes'],
    patch: { sConst: 'exacté' },
    violations: ['sConst: value must equal "exact"', 'sConst: value length must be 5 bytes'],
  },
  {
    rules: [
      'string.email',
      'string.hostname',
      'string.ip',
      'string.ipv4',
      'string.ipv6',
      'string.uri',
      'string.uri_ref',
      'string.address',
      'string.uuid',
    ],
    patch: {
      sEmail: 'nobody',
      sHostname: '-bad-.example.com',
      sIp: '1.2.3',
      sIpv4: '::1',
      sIpv6: '10.0.0.1',
      sUri: '/relative',
      sUriRef: 'has space',
      sAddress: 'not_a_host!',
      sUuid: '123e4567',
    },
    violations: [
      'sEmail: value must be a valid email address',
      'sHostname: value must be a valid hostname',
      'sIp: value must be a valid IP address',
      'sIpv4: value must be a valid IPv4 address',
      'sIpv6: value must be a valid IPv6 address',
      'sUri: value must be a valid URI',
      'sUriRef: value must be a valid URI reference',
      'sAddress: value must be a valid hostname or IP address',
      'sUuid: value must be a valid UUID',
    ],
  },
  {
    rules: ['bytes.min_len'],
    patch: { bLen: undefined },
    violations: ['bLen: value length must be at least 1 bytes'],
  },
  {
    rules: ['bytes.max_len'],
    patch: { bLen: 'AQIDBAU=' },
    violations: ['bLen: value length must be at most 4 bytes'],
  },
  {
    rules: ['bytes.prefix', 'bytes.ip', 'bytes.const', 'bytes.ignore_empty'],
    patch: { bMisc: 'eGJj', bIp: 'AQID', bConst: 'aG8=' },
    violations: [
      'bMisc: value does not have the required prefix',
      'bIp: value must be a valid IP address in byte format',
      'bConst: value must equal aGk= (base64)',
    ],
  },
  {
    rules: ['bytes.prefix', 'bytes.ip', 'bytes.const'],
    patch: { bMisc: 'YWJj', bIp: 'fwAAAQ==', bConst: 'aGk=' },
    violations: [],
  },
  {
    rules: ['bool.const'],
    patch: { bTrue: false, anyMatch: undefined },
    violations: ['bTrue: value must equal true', 'anyMatch: value must equal true'],
  },
  { rules: ['double.gt'], patch: { dRange: 0 }, violations: ['dRange: value must be inside range (0, 3]'] },
  {
    rules: ['double.lte'],
    patch: { dRange: 3.0001 },
    violations: ['dRange: value must be inside range (0, 3]'],
  },
  {
    rules: ['double.gte'],
    patch: { dGte: 0.5 },
    violations: ['dGte: value must be greater than or equal to 1'],
  },
  {
    rules: ['float.lt', 'float.gt', 'float.ignore_empty'],
    patch: { fOutside: 3 },
    violations: ['fOutside: value must be outside range [1, 5]'],
  },
  { rules: ['float.lt', 'float.gt'], patch: { fOutside: 5.5 }, violations: [] },
  {
    rules: ['uint32.gte', 'uint32.lt'],
    patch: { uStatus: 99 },
    violations: ['uStatus: value must be inside range [200, 600)'],
  },
  {
    rules: ['uint32.lt'],
    patch: { uStatus: 600 },
    violations: ['uStatus: value must be inside range [200, 600)'],
  },
  { rules: ['uint32.gt'], patch: { uGt: undefined }, violations: ['uGt: value must be greater than 0'] },
  {
    rules: ['uint32.lte'],
    patch: { uLte: 512 },
    violations: ['uLte: value must be less than or equal to 511'],
  },
  {
    rules: ['uint64.gt', 'uint64.lt'],
    patch: { u64Range: '65536' },
    violations: ['u64Range: value must be inside range (0, 65536)'],
  },
  {
    rules: ['uint64.gte', 'uint64.lte'],
    patch: { u64Inclusive: '8388609' },
    violations: ['u64Inclusive: value must be inside range [1, 8388608]'],
  },
  {
    rules: ['int64.lt', 'int64.ignore_empty'],
    patch: { i64Big: '9007199254740993' },
    violations: ['i64Big: value must be less than 9007199254740992'],
  },
  { rules: ['int64.lt'], patch: { i64Big: '9007199254740991' }, violations: [] },
  { rules: ['int64.lt'], patch: { i64Big: '-9223372036854775808' }, violations: [] },
  { rules: ['int32.in'], patch: { i32In: 4 }, violations: ['i32In: value must be in list [1, 2, 3]'] },
  {
    rules: ['sint32.not_in', 'sint32.const'],
    patch: { s32NotIn: -1 },
    violations: ['s32NotIn: value must equal -2', 's32NotIn: value must not be in list [-1]'],
  },
  { rules: ['fixed64.const'], patch: { f64Const: '8' }, violations: ['f64Const: value must equal 7'] },
  {
    rules: ['enum.defined_only'],
    patch: { color: 9 },
    violations: ['color: value must be one of the defined enum values'],
  },
  {
    rules: ['enum.not_in'],
    patch: { notGreen: 'GREEN' },
    violations: ['notGreen: value must not be in list ["GREEN"]'],
  },
  {
    rules: ['enum.in', 'enum.const'],
    patch: { onlyBlue: 'RED' },
    violations: ['onlyBlue: value must equal BLUE', 'onlyBlue: value must be in list ["BLUE"]'],
  },
  {
    rules: ['message.required'],
    patch: { requiredMsg: undefined },
    violations: ['requiredMsg: value is required'],
  },
  {
    rules: ['message.required'],
    patch: { requiredMsg: null },
    violations: ['requiredMsg: value is required'],
  },
  {
    rules: ['message.skip'],
    patch: { skippedMsg: { id: '' }, plainMsg: { id: '' }, disabledMsg: { id: '' } },
    violations: ['plainMsg.id: value length must be at least 1 runes'],
  },
  { rules: ['duration.required'], patch: { dur: undefined }, violations: ['dur: value is required'] },
  { rules: ['duration.gt'], patch: { dur: '0s' }, violations: ['dur: value must be inside range (0s, 10s)'] },
  {
    rules: ['duration.lt'],
    patch: { dur: '10s' },
    violations: ['dur: value must be inside range (0s, 10s)'],
  },
  {
    rules: ['duration.gte'],
    patch: { durMs: '0.000999s' },
    violations: ['durMs: value must be inside range [0.001s, 600s]'],
  },
  {
    rules: ['duration.lte'],
    patch: { durMs: '600.000000001s' },
    violations: ['durMs: value must be inside range [0.001s, 600s]'],
  },
  { rules: ['duration.gte'], patch: { durMs: undefined }, violations: [] },
  {
    rules: ['duration.lte'],
    patch: { durMs: '315576000000s' }, // past 2^53 nanoseconds
    violations: ['durMs: value must be inside range [0.001s, 600s]'],
  },
  {
    rules: ['duration.gte'],
    patch: { durMs: '-315576000000.999999999s' },
    violations: ['durMs: value must be inside range [0.001s, 600s]'],
  },
  {
    rules: ['duration.in', 'duration.not_in', 'duration.const'],
    patch: { durSet: '3s', durConst: '5.5s' },
    violations: [
      'durSet: value must be in list [1s, 2s]',
      'durSet: value must not be in list [3s]',
      'durConst: value must equal 5s',
    ],
  },
  { rules: ['duration.in'], patch: { durSet: '2s', durConst: '5s' }, violations: [] },
  {
    rules: ['timestamp.lt_now', 'timestamp.within', 'timestamp.gt_now'],
    patch: { tsPast: new Date(Date.now() + 60_000).toISOString(), tsFuture: '2001-01-01T00:00:00Z' },
    violations: ['tsPast: value must be less than now', 'tsFuture: value must be greater than now'],
  },
  {
    rules: ['timestamp.within'],
    patch: { tsPast: new Date(Date.now() - 7200_000).toISOString() },
    violations: ['tsPast: value must be within 3600s of now'],
  },
  {
    rules: ['timestamp.required', 'timestamp.gte', 'timestamp.lt'],
    patch: { tsRange: '1970-01-02T00:00:00Z' },
    violations: ['tsRange: value must be inside range [1970-01-01T00:00:00Z, 1970-01-02T00:00:00Z)'],
  },
  {
    rules: ['timestamp.required'],
    patch: { tsRange: undefined },
    violations: ['tsRange: value is required'],
  },
  { rules: ['any.required'], patch: { any: undefined }, violations: ['any: value is required'] },
  {
    rules: ['any.in'],
    patch: {
      any: { '@type': 'type.googleapis.com/google.protobuf.Timestamp', value: '2001-01-01T00:00:00Z' },
    },
    violations: [/^any: type URL must be in list \["type.googleapis.com\/sluice.pgvtest.Inner"/],
  },
  {
    rules: ['any.not_in'],
    patch: { anyNot: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s' } },
    violations: ['anyNot: type URL must not be in list ["type.googleapis.com/google.protobuf.Duration"]'],
  },
  {
    rules: ['any.in'],
    patch: { any: { '@type': 'type.googleapis.com/sluice.pgvtest.Inner' } },
    violations: ['any.id: value length must be at least 1 runes'],
  },
  {
    rules: ['repeated.min_items'],
    patch: { items: undefined },
    violations: ['items: value must contain at least 1 item(s)'],
  },
  {
    rules: ['repeated.max_items'],
    patch: { items: ['a', 'b', 'c', 'd'] },
    violations: ['items: value must contain no more than 3 item(s)'],
  },
  {
    rules: ['repeated.unique'],
    patch: { items: ['a', 'b', 'a'] },
    violations: ['items[2]: repeated value must contain unique items'],
  },
  {
    rules: ['repeated.items', 'string.min_len'],
    patch: { items: ['a', ''] },
    violations: ['items[1]: value length must be at least 1 runes'],
  },
  {
    rules: ['repeated.items', 'uint32.gte', 'uint32.lte'],
    patch: { ports: [0, 80, 65536] },
    violations: [
      'ports[0]: value must be inside range [1, 65535]',
      'ports[2]: value must be inside range [1, 65535]',
    ],
  },
  {
    rules: ['repeated.items', 'enum.defined_only'],
    patch: { colors: ['RED', 5] },
    violations: ['colors[1]: value must be one of the defined enum values'],
  },
  { rules: ['repeated.ignore_empty'], patch: { tlv: [] }, violations: [] },
  {
    rules: ['repeated.ignore_empty', 'uint32.lt'],
    patch: { tlv: [256] },
    violations: ['tlv: value must contain at least 2 item(s)', 'tlv[0]: value must be less than 256'],
  },
  {
    rules: ['repeated.max_items'],
    patch: { inners: [{ id: 'a' }, { id: '' }, { id: 'c' }] },
    violations: [
      'inners: value must contain no more than 2 item(s)',
      'inners[1].id: value length must be at least 1 runes',
    ],
  },
  {
    rules: ['repeated.items', 'string.well_known_regex', 'string.strict', 'string.max_bytes'],
    patch: { headers: ['x y', 'a\nb', 'toolongname'] },
    violations: [
      /^headers\[1\]: value does not match regex pattern/,
      'headers[2]: value length must be at most 8 bytes',
    ],
  },
  {
    rules: ['repeated.items', 'string.in'],
    patch: { flags: ['LH', 'XX'] },
    violations: ['flags[1]: value must be in list ["LH", "UH"]'],
  },
  {
    rules: ['map.min_pairs'],
    patch: { labels: {} },
    violations: ['labels: value must contain at least 1 pair(s)'],
  },
  {
    rules: ['map.max_pairs'],
    patch: { labels: { a: '1', b: '2', c: '3' } },
    violations: ['labels: value must contain no more than 2 pair(s)'],
  },
  {
    rules: ['map.keys', 'string.min_len', 'map.values'],
    patch: { labels: { '': 'v', k: 'long' } },
    violations: [
      'labels[""] (key): value length must be at least 1 runes',
      'labels["k"]: value length must be at most 3 runes',
    ],
  },
  {
    rules: ['map.keys', 'map.no_sparse'],
    patch: { byPort: { '80': { id: 'a' }, '101': { id: '' }, '7': null } },
    violations: [
      'byPort["7"]: sparse maps are not allowed',
      'byPort["101"] (key): value must be less than or equal to 100',
      'byPort["101"].id: value length must be at least 1 runes',
    ],
  },
  { rules: ['map.ignore_empty'], patch: { optionalMap: {} }, violations: [] },
  {
    rules: ['map.ignore_empty'],
    patch: { optionalMap: { a: 'b' } },
    violations: ['optionalMap: value must contain at least 2 pair(s)'],
  },
  {
    rules: ['uint32.gte'],
    patch: { wrapped: 0 },
    violations: ['wrapped: value must be greater than or equal to 1'],
  },
  { rules: ['uint32.gte'], patch: { wrapped: undefined }, violations: [] },
  {
    rules: ['double.gte', 'double.lte'],
    patch: { ratio: 0.5 },
    violations: ['ratio: value must be inside range [1, 3]'],
  },
  { rules: ['message.required'], patch: { mustSet: undefined }, violations: ['mustSet: value is required'] },
  {
    rules: ['string.min_len'],
    patch: { wrappedStr: 'x' },
    violations: ['wrappedStr: value length must be at least 2 runes'],
  },
  {
    rules: ['string.min_len'],
    patch: { wrappedStr: '' },
    violations: ['wrappedStr: value length must be at least 2 runes'],
  },
  {
    rules: ['oneof.required'],
    patch: { a: undefined },
    violations: ['choice: one of [a, b, c] is required'],
  },
  {
    rules: ['uint32.lte'],
    patch: { a: undefined, b: 6 },
    violations: ['b: value must be less than or equal to 5'],
  },
  { rules: ['message.required'], patch: { a: undefined, c: { id: 'ok' } }, violations: [] },
  { rules: ['oneof.required'], patch: { b: 1 }, violations: ['choice: only one of [a, b, c] may be set'] },
  {
    rules: ['string.min_len'],
    patch: { opt: 'x' },
    violations: ['opt: value length must be at least 2 runes'],
  },
  {
    rules: [],
    patch: { sMinLen: 5, uGt: 'x', color: 'PURPLE', dur: 'soon', bogus: true },
    violations: [
      'sMinLen: invalid string 5',
      'uGt: invalid uint32 "x"',
      'color: unknown sluice.pgvtest.Rules.Color value "PURPLE"',
      'dur: invalid duration "soon"',
      'bogus: unknown field of sluice.pgvtest.Rules',
    ],
  },
];

describe('rule semantics on a purpose-built message', () => {
  const NAME = 'sluice.pgvtest.Rules';
  beforeAll(() => {
    const root = envoyRoot();
    protobuf.parse(TEST_PROTO, root, { keepCase: false });
    root.resolveAll();
  });

  it('accepts the valid baseline', () => {
    expect(validateMessage(NAME, validRules())).toEqual([]);
  });

  it('counts runes, not UTF-16 units, at the length limits', () => {
    expect(validateMessage(NAME, { ...validRules(), sMinLen: '😀😀', sMaxLen: '😀😀😀' })).toEqual([]);
  });

  it.each(CASES.map((c) => [c.rules.join(' ') || 'JSON types', c] as const))('%s: %j', (_label, c) => {
    const json = { ...validRules(), ...c.patch };
    for (const key of Object.keys(c.patch)) if (c.patch[key] === undefined) delete json[key];
    const violations = validateMessage(NAME, json);
    expect([...violations].sort()).toEqual(
      expect.arrayContaining(c.violations.map((v) => (typeof v === 'string' ? v : expect.stringMatching(v)))),
    );
    expect(violations).toHaveLength(c.violations.length);
  });

  it('compiles the test message through envoyType lookups as well', () => {
    expect(envoyType(NAME).fieldsArray.length).toBeGreaterThan(60);
  });
});

describe('what the walk visits', () => {
  beforeAll(() => {
    const root = envoyRoot();
    const many = Array.from(
      { length: 33 },
      (_, i) => `string f${i + 1} = ${i + 1} [(validate.rules).string.min_len = 1];`,
    ).join('\n');
    // 32 oneofs: the 32nd is required, and its bit (index modulo 31) is the first one's.
    const oneofs = Array.from(
      { length: 32 },
      (_, i) =>
        `oneof o${i + 1} { ${i === 31 ? 'option (validate.required) = true; ' : ''}string a${i + 1} = ${i + 1}; }`,
    ).join('\n');
    protobuf.parse(
      `syntax = "proto3";
      package sluice.pgvwalk;
      import "validate/validate.proto";
      message Plain { string a = 1; Plain next = 2; repeated Plain list = 3; map<string, Plain> by_name = 4; }
      message Leaf { string id = 1 [(validate.rules).string.min_len = 1]; }
      message Tree { repeated Tree children = 1; Node node = 2; Plain plain = 3; }
      message Node { Tree subtree = 1; Leaf leaf = 2; }
      message Many { ${many} }
      message Oneofs { ${oneofs} }`,
      root,
      { keepCase: false },
    );
    root.resolveAll();
  });
  const type = (name: string) => envoyType(`sluice.pgvwalk.${name}`);

  it('knows which types have rules beneath them, through recursive types', () => {
    expect(hasRulesBeneath(type('Plain'))).toBe(false);
    expect(hasRulesBeneath(type('Tree'))).toBe(true);
    expect(hasRulesBeneath(type('Node'))).toBe(true);
    expect(hasRulesBeneath(type('Leaf'))).toBe(true);
    expect(hasRulesBeneath(envoyType('google.protobuf.Any'))).toBe(true);
    expect(hasRulesBeneath(envoyType('envoy.config.cluster.v3.TrackClusterStats'))).toBe(false);
    expect(hasRulesBeneath(envoyType(CLUSTER))).toBe(true);
  });

  it('reports violations deep in recursive messages with their full path', () => {
    const json = {
      children: [{ node: { subtree: { children: [{}, { node: { leaf: { id: '' } } }] } } }],
      node: { leaf: {} },
    };
    expect(validateMessage('sluice.pgvwalk.Tree', json)).toEqual([
      'children[0].node.subtree.children[1].node.leaf.id: value length must be at least 1 runes',
      'node.leaf.id: value length must be at least 1 runes',
    ]);
  });

  it('does not enter values with no rules on them or beneath them (the encoder rejects malformed JSON there)', () => {
    const plain = { a: 5, bogus: true, next: { list: [null, 'x'] } };
    expect(validateMessage('sluice.pgvwalk.Tree', { plain })).toEqual([]);
    expect(validateMessage('sluice.pgvwalk.Plain', plain)).toEqual([
      'bogus: unknown field of sluice.pgvwalk.Plain',
    ]);
    expect(() => encodeJson('sluice.pgvwalk.Tree', { plain })).toThrow(
      'plain.bogus: unknown field "bogus" of sluice.pgvwalk.Plain',
    );
    expect(() => encodeJson('sluice.pgvwalk.Tree', { plain: { a: 5 } })).toThrow(
      'plain.a: expected a string, got 5',
    );
    const json = cluster() as Json;
    json.trackClusterStats = { timeoutBudgets: 'yes', bogus: 1 };
    expect(validateMessage(CLUSTER, json)).toEqual([]);
    // Keys of messages that are walked are still all checked.
    json.loadAssignment.endpoints[0].bogus = 1;
    expect(validateMessage(CLUSTER, json)).toEqual([
      'loadAssignment.endpoints[0].bogus: unknown field of envoy.config.endpoint.v3.LocalityLbEndpoints',
    ]);
  });

  it('checks absent fields of a message with more than 31 of them', () => {
    const violations = (json: Record<string, unknown>) => validateMessage('sluice.pgvwalk.Many', json);
    expect(violations({})).toHaveLength(33);
    expect(violations({ f1: 'a', f32: 'b', f33: 'c' })).toHaveLength(30);
    expect(violations({ f1: '' })[0]).toBe('f1: value length must be at least 1 runes');
    expect(violations({ f33: 'x' })).not.toContain('f33: value length must be at least 1 runes');
  });

  it('checks required oneofs of a message with more than 31 oneofs', () => {
    const violations = (json: Record<string, unknown>) => validateMessage('sluice.pgvwalk.Oneofs', json);
    expect(violations({ a1: 'x' })).toEqual(['o32: one of [a32] is required']);
    expect(violations({ a1: 'x', a32: 'y' })).toEqual([]);
  });

  it('keeps no state between validations', () => {
    const json = cluster() as Json;
    json.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue = 70000;
    const first = validateMessage(CLUSTER, json);
    expect(validateMessage(CLUSTER, cluster())).toEqual([]);
    expect(validateMessage(CLUSTER, json)).toEqual(first);
    expect(validateType(envoyType(CLUSTER), 'nope')).toEqual([
      '(root): expected an object (envoy.config.cluster.v3.Cluster), got "nope"',
    ]);
  });
});

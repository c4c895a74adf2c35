import * as protobuf from 'protobufjs';
import { envoyRoot, envoyType, registerEnvoyProtoFiles } from '../../src/xds/envoy-protos';
import { decodeToJson, encodeAny, encodeJson, ProtoJsonError, toEncodable } from '../../src/xds/proto-json';

const LISTENER = 'envoy.config.listener.v3.Listener';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const ROUTE = 'envoy.config.route.v3.RouteConfiguration';
const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
const HCM_URL =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TLS_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const HTTP_OPTIONS_URL = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function listener(): Record<string, unknown> {
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
              codecType: 'HTTP2',
              statPrefix: 'ingress_http',
              rds: { configSource: { ads: {}, resourceApiVersion: 'V3' }, routeConfigName: 'ingress' },
              httpFilters: [
                {
                  name: 'envoy.filters.http.router',
                  typedConfig: { '@type': ROUTER_URL, suppressEnvoyHeaders: true },
                },
              ],
              useRemoteAddress: false,
              commonHttpProtocolOptions: { idleTimeout: '0.250s', maxRequestsPerConnection: 100 },
              httpProtocolOptions: { acceptHttp10: true },
              streamIdleTimeout: '300s',
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
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' }, serviceName: 'fn-echo' },
    connectTimeout: '0.250s',
    lbPolicy: 'LEAST_REQUEST',
    circuitBreakers: { thresholds: [{ priority: 'HIGH', maxConnections: 1000, maxRetries: 3 }] },
    outlierDetection: { consecutive5xx: 5, interval: '10s', baseEjectionTime: '30s' },
    transportSocket: {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': TLS_URL,
        sni: 'echo.internal',
        commonTlsContext: {
          tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2' },
          alpnProtocols: ['h2', 'http/1.1'],
          validationContext: { trustedCa: { filename: '/etc/sluice/ca.pem' } },
        },
      },
    },
    typedExtensionProtocolOptions: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': HTTP_OPTIONS_URL,
        commonHttpProtocolOptions: { idleTimeout: '60s' },
        explicitHttpConfig: { http2ProtocolOptions: { maxConcurrentStreams: 128 } },
      },
    },
    metadata: {
      filterMetadata: { sluice: { function: 'echo', replicas: 3, canary: false, tags: ['a', null] } },
    },
  };
}

function loadAssignment(): Record<string, unknown> {
  return {
    clusterName: 'fn-echo',
    endpoints: [
      {
        locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
        lbEndpoints: [
          {
            endpoint: {
              address: { socketAddress: { address: '10.0.0.7', portValue: 9000 } },
              healthCheckConfig: { portValue: 9001 },
            },
            healthStatus: 'HEALTHY',
            loadBalancingWeight: 10,
          },
          {
            endpoint: { address: { socketAddress: { address: '10.0.0.8', portValue: 9000 } } },
            healthStatus: 'DRAINING',
          },
        ],
        priority: 1,
      },
    ],
    policy: { overprovisioningFactor: 140 },
  };
}

function routeConfiguration(routeCount = 3): Record<string, unknown> {
  const routes: Record<string, unknown>[] = [
    {
      name: 'exact-health',
      match: { path: '/healthz' },
      directResponse: { status: 200, body: { inlineString: 'ok' } },
    },
    {
      name: 'regex-fn',
      match: {
        safeRegex: { regex: '^/fn/[a-z0-9-]+$' },
        headers: [{ name: ':method', stringMatch: { exact: 'POST' } }],
      },
      route: {
        weightedClusters: {
          clusters: [
            { name: 'fn-echo-v1', weight: 90 },
            { name: 'fn-echo-v2', weight: 10 },
          ],
        },
        regexRewrite: { pattern: { regex: '^/fn/(.*)$' }, substitution: '/\\1' },
        timeout: '15s',
        retryPolicy: {
          retryOn: '5xx,reset,connect-failure',
          numRetries: 3,
          perTryTimeout: '2.500s',
          retryBackOff: { baseInterval: '0.025s', maxInterval: '0.250s' },
        },
      },
    },
  ];
  for (let i = routes.length; i < routeCount; i++) {
    routes.push({
      name: `fn-${i}`,
      match: { prefix: `/fn-${i}/` },
      route: { cluster: `fn-${i}`, prefixRewrite: '/', idleTimeout: '0.000001s' },
      requestHeadersToAdd: [
        { header: { key: 'x-sluice-fn', value: `fn-${i}` }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
    });
  }
  return {
    name: 'ingress',
    virtualHosts: [{ name: 'all', domains: ['*'], routes }],
    validateClusters: false,
  };
}

function errorOf(fn: () => unknown): ProtoJsonError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtoJsonError) return error;
    throw error;
  }
  throw new Error('expected a ProtoJsonError');
}

/** encodeJson writes the wire bytes itself; they must be the ones protobufjs writes for toEncodable's object. */
function expectProtobufjsBytes(name: string, json: unknown): void {
  const type = envoyType(name);
  const written = Buffer.from(encodeJson(name, json));
  const expected = Buffer.from(type.encode(toEncodable(type, json)).finish());
  // Buffer#equals first: jest's toEqual takes seconds on megabyte buffers.
  if (!written.equals(expected)) expect(written).toEqual(expected);
}

describe('round trips of real Envoy resources', () => {
  it.each([
    ['Listener with an HCM Any holding a Router Any', LISTENER, listener()],
    ['EDS Cluster with TLS transport socket and typed_extension_protocol_options', CLUSTER, cluster()],
    ['ClusterLoadAssignment', CLA, loadAssignment()],
    ['RouteConfiguration with weighted clusters, retries and regexes', ROUTE, routeConfiguration(6)],
  ])('%s', (_label, name, json) => {
    const bytes = encodeJson(name, json);
    expect(bytes.length).toBeGreaterThan(20);
    expect(decodeToJson(name, bytes)).toEqual(json);
  });

  it('puts the Any payload on the wire as type_url + encoded value bytes (checked with plain protobufjs)', () => {
    const bytes = encodeJson(LISTENER, listener());
    const decoded = envoyType(LISTENER).decode(bytes) as unknown as {
      filterChains: { filters: { typedConfig: { type_url: string; value: Uint8Array } }[] }[];
    };
    const any = decoded.filterChains[0].filters[0].typedConfig;
    expect(any.type_url).toBe(HCM_URL);
    const hcm = envoyType(HCM_URL.split('/')[1]).decode(any.value) as unknown as {
      statPrefix: string;
      codecType: number;
      httpFilters: { typedConfig: { type_url: string; value: Uint8Array } }[];
      commonHttpProtocolOptions: { idleTimeout: { seconds: unknown; nanos: number } };
    };
    expect(hcm.statPrefix).toBe('ingress_http');
    expect(hcm.codecType).toBe(2);
    expect(hcm.httpFilters[0].typedConfig.type_url).toBe(ROUTER_URL);
    expect(Number(hcm.commonHttpProtocolOptions.idleTimeout.seconds)).toBe(0);
    expect(hcm.commonHttpProtocolOptions.idleTimeout.nanos).toBe(250000000);
    const router = envoyType(ROUTER_URL.split('/')[1]).decode(
      hcm.httpFilters[0].typedConfig.value,
    ) as unknown as {
      suppressEnvoyHeaders: boolean;
    };
    expect(router.suppressEnvoyHeaders).toBe(true);
  });

  it('writes the same bytes as protobufjs fromObject + encode for plain messages', () => {
    const json = {
      socketAddress: { address: '10.1.2.3', portValue: 8443, protocol: 'UDP', ipv4Compat: true },
    };
    const type = envoyType('envoy.config.core.v3.Address');
    const reference = type.encode(type.fromObject(json)).finish();
    expect(Buffer.from(encodeJson('envoy.config.core.v3.Address', json))).toEqual(Buffer.from(reference));
  });

  it('keeps a wrapper set to its default value (BoolValue false, UInt32Value 0)', () => {
    const json = { name: 'r', validateClusters: false, maxDirectResponseBodySizeBytes: 0 };
    expect(decodeToJson(ROUTE, encodeJson(ROUTE, json))).toEqual(json);
    const unset = { name: 'r' };
    expect(decodeToJson(ROUTE, encodeJson(ROUTE, unset))).toEqual(unset);
  });

  it('encodeAny names the resource type', () => {
    const any = encodeAny(CLUSTER, cluster());
    expect(any.typeUrl).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(decodeToJson(CLUSTER, any.value)).toEqual(cluster());
  });
});

describe('canonical form', () => {
  it('accepts .proto (snake_case) names and prints lowerCamel JSON names, including digits after underscores', () => {
    const bytes = encodeJson(CLUSTER, {
      name: 'c',
      connect_timeout: '1s',
      outlier_detection: { consecutive_5xx: 7, enforcing_consecutive_5xx: 50 },
      typed_extension_protocol_options: {
        x: {
          '@type': HTTP_OPTIONS_URL,
          common_http_protocol_options: { max_requests_per_connection: 5 },
          explicit_http_config: {
            http_protocol_options: { accept_http_10: true, default_host_for_http_10: 'h' },
          },
        },
      },
    });
    expect(decodeToJson(CLUSTER, bytes)).toEqual({
      name: 'c',
      connectTimeout: '1s',
      outlierDetection: { consecutive5xx: 7, enforcingConsecutive5xx: 50 },
      typedExtensionProtocolOptions: {
        x: {
          '@type': HTTP_OPTIONS_URL,
          commonHttpProtocolOptions: { maxRequestsPerConnection: 5 },
          explicitHttpConfig: { httpProtocolOptions: { acceptHttp10: true, defaultHostForHttp10: 'h' } },
        },
      },
    });
  });

  it.each([
    ['3s', '3s'],
    ['1.5s', '1.500s'],
    ['0.250s', '0.250s'],
    ['0.000001s', '0.000001s'],
    ['0.000000001s', '0.000000001s'],
    ['-1.5s', '-1.500s'],
    ['0s', '0s'],
    ['315576000000s', '315576000000s'],
  ])('duration %s prints as %s', (input, canonical) => {
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, { name: 'c', connectTimeout: input }))).toEqual({
      name: 'c',
      connectTimeout: canonical,
    });
  });

  it('omits proto3 defaults, prints enums by name and numbers as canonical values', () => {
    const bytes = encodeJson(CLUSTER, {
      name: 'c',
      type: 3, // EDS by number
      lbPolicy: 'ROUND_ROBIN', // enum default
      perConnectionBufferLimitBytes: '32768', // uint32 wrapper from a string
      respectDnsTtl: false,
      altStatName: '',
      circuitBreakers: { thresholds: [] },
    });
    expect(decodeToJson(CLUSTER, bytes)).toEqual({
      name: 'c',
      type: 'EDS',
      perConnectionBufferLimitBytes: 32768,
      circuitBreakers: {},
    });
  });

  it('writes no bytes for implicit-presence defaults, so equal configs encode identically', () => {
    const minimal = encodeJson(CLUSTER, { name: 'c' });
    const explicitDefaults = encodeJson(CLUSTER, {
      name: 'c',
      lbPolicy: 'ROUND_ROBIN',
      altStatName: '',
      respectDnsTtl: false,
      dnsLookupFamily: 0,
      circuitBreakers: undefined,
    });
    expect(Buffer.from(explicitDefaults)).toEqual(Buffer.from(minimal));
    // a Duration of 0s is a present message with no fields: 2 bytes (tag + zero length)
    expect(encodeJson(CLUSTER, { name: 'c', connectTimeout: '0s' }).length).toBe(minimal.length + 2);
  });

  it('treats JSON null (and a JS undefined member) as "not set"', () => {
    expect(
      decodeToJson(CLUSTER, encodeJson(CLUSTER, { name: 'c', connectTimeout: null, lbPolicy: null })),
    ).toEqual({
      name: 'c',
    });
    const withUndefined = {
      name: 'c',
      connectTimeout: undefined,
      metadata: { filterMetadata: { a: { x: 1 }, b: undefined } },
    };
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, withUndefined))).toEqual(
      JSON.parse(JSON.stringify(withUndefined)),
    );
    expect(() => encodeJson(CLUSTER, { name: 'c', bogus: undefined })).toThrow(
      'bogus: unknown field "bogus"',
    );
    // ...but a null Struct member is a JSON null value
    const nullMember = { name: 'c', metadata: { filterMetadata: { a: { x: null } } } };
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, nullMember))).toEqual(nullMember);
  });

  it('prints 64-bit integers as strings and bytes as base64', () => {
    const json = {
      name: 'c',
      ringHashLbConfig: { minimumRingSize: '1024', maximumRingSize: '8388608' },
      healthChecks: [
        {
          timeout: '1s',
          interval: '5s',
          unhealthyThreshold: 3,
          healthyThreshold: 1,
          tcpHealthCheck: { send: { binary: 'AAEC/w==' }, receive: [{ text: '0a0b' }] },
        },
      ],
    };
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, json))).toEqual(json);
    // numbers and URL-safe base64 are accepted and canonicalised
    const loose = structuredClone({
      ...json,
      ringHashLbConfig: { minimumRingSize: 1024, maximumRingSize: 8388608 },
    });
    loose.healthChecks[0].tcpHealthCheck.send.binary = 'AAEC_w';
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, loose))).toEqual(json);
  });

  it('handles Struct, Value and ListValue as plain JSON', () => {
    const json = {
      name: 'c',
      metadata: {
        filterMetadata: {
          sluice: {
            n: 1.25,
            s: 'x',
            b: true,
            nil: null,
            list: [1, 'two', [false], { deep: {} }],
            empty: {},
            none: [],
          },
        },
      },
    };
    expect(decodeToJson(CLUSTER, encodeJson(CLUSTER, json))).toEqual(json);
  });

  it('uses {"@type", "value"} for well-known payloads inside an Any', () => {
    const payloads = [
      ['google.protobuf.Duration', '1.500s'],
      ['google.protobuf.Timestamp', '2024-02-29T12:30:45.123Z'],
      ['google.protobuf.Struct', { a: [1, { b: null }] }],
      ['google.protobuf.Value', 'just a string'],
      ['google.protobuf.ListValue', [1, true]],
      ['google.protobuf.UInt32Value', 7],
      ['google.protobuf.Int64Value', '-9223372036854775808'],
      ['google.protobuf.UInt64Value', '18446744073709551615'],
      ['google.protobuf.DoubleValue', 'Infinity'],
      ['google.protobuf.FloatValue', 0.1],
      ['google.protobuf.BoolValue', true],
      ['google.protobuf.StringValue', 'héllo'],
      ['google.protobuf.BytesValue', 'aGk='],
      ['google.protobuf.Any', { '@type': ROUTER_URL, dynamicStats: true }],
    ] as const;
    for (const [name, value] of payloads) {
      const json = {
        name: 'l',
        filterChains: [
          { filters: [{ name: 'f', typedConfig: { '@type': `type.googleapis.com/${name}`, value } }] },
        ],
      };
      expect(decodeToJson(LISTENER, encodeJson(LISTENER, json))).toEqual(json);
    }
    const empty = {
      name: 'l',
      filterChains: [
        { filters: [{ name: 'f', typedConfig: { '@type': 'type.googleapis.com/google.protobuf.Empty' } }] },
      ],
    };
    expect(decodeToJson(LISTENER, encodeJson(LISTENER, empty))).toEqual(empty);
  });

  it('normalises timestamps to UTC with 0, 3, 6 or 9 fractional digits', () => {
    const wrap = (value: string) => ({
      name: 'l',
      filterChains: [
        {
          filters: [
            { name: 'f', typedConfig: { '@type': 'type.googleapis.com/google.protobuf.Timestamp', value } },
          ],
        },
      ],
    });
    const printed = (value: string) =>
      (
        decodeToJson(LISTENER, encodeJson(LISTENER, wrap(value))) as {
          filterChains: { filters: { typedConfig: { value: string } }[] }[];
        }
      ).filterChains[0].filters[0].typedConfig.value;
    expect(printed('2024-01-01T02:00:00+02:00')).toBe('2024-01-01T00:00:00Z');
    expect(printed('1970-01-01T00:00:00.5Z')).toBe('1970-01-01T00:00:00.500Z');
    expect(printed('0001-01-01T00:00:00.000001Z')).toBe('0001-01-01T00:00:00.000001Z');
    expect(printed('9999-12-31T23:59:59.999999999Z')).toBe('9999-12-31T23:59:59.999999999Z');
    expect(() => encodeJson(LISTENER, wrap('2023-02-29T00:00:00Z'))).toThrow(
      /invalid timestamp "2023-02-29T00:00:00Z"/,
    );
    expect(() => encodeJson(LISTENER, wrap('2024-01-01 00:00:00Z'))).toThrow(/invalid timestamp/);
  });
});

describe('scalars, maps, oneofs and FieldMask on a purpose-built message', () => {
  const NAME = 'sluice.jsontest.Scalars';
  beforeAll(() => {
    registerEnvoyProtoFiles(['google/protobuf/field_mask.proto']);
    const root = envoyRoot();
    protobuf.parse(
      `syntax = "proto3";
      package sluice.jsontest;
      message Scalars {
        enum Color { RED = 0; GREEN = 1; BLUE = 2; }
        double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
        sint32 s32 = 7; sint64 s64 = 8; fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12;
        bool b = 13; string s = 14; bytes by = 15;
        optional int32 opt = 16;
        repeated int32 packed = 17;
        repeated string names = 18;
        map<bool, string> by_bool = 19;
        map<int64, string> by_i64 = 20;
        map<int32, Scalars> by_i32 = 21;
        map<uint64, string> by_u64 = 22;
        string field_name_1 = 23 [json_name = "custom"];
        oneof pick { int32 zero_ok = 24; string text = 25; }
        google.protobuf.FieldMask mask = 26;
        Color color = 27;
        repeated google.protobuf.Value values = 28;
        float f2 = 29;
      }`,
      root,
      { keepCase: false },
    );
    root.resolveAll();
  });

  const full = {
    d: 'NaN',
    f: 0.1,
    f2: -3.4028235e38, // the shortest decimal of -FLT_MAX
    i32: -5,
    i64: '-9223372036854775808',
    u32: 4294967295,
    u64: '18446744073709551615',
    s32: -7,
    s64: '-5',
    f32: 7,
    f64: '123',
    sf32: -1,
    sf64: '-1',
    b: true,
    s: 'héllo',
    by: 'AAEC/w==',
    opt: 0,
    packed: [1, -2, 3],
    names: ['a', ''],
    byBool: { true: 't', false: 'f' },
    byI64: { '-1': 'neg', '0': 'zero', '9007199254740993': 'big' },
    byI32: { '-5': { s: 'x' } },
    byU64: { '18446744073709551615': 'max' },
    custom: 'c',
    zeroOk: 0,
    mask: 'fooBar,baz.quxQuux',
    color: 'BLUE',
    values: [null, 1.5, 'x', true, { a: [] }, []],
  };

  it('round-trips every scalar kind, 64-bit and bool map keys, presence fields and json_name', () => {
    expect(decodeToJson(NAME, encodeJson(NAME, full))).toEqual(full);
  });

  it('writes every scalar kind, map key kind and packed list as protobufjs does', () => {
    expectProtobufjsBytes(NAME, full);
    expectProtobufjsBytes(NAME, {
      i32: -2147483648,
      i64: '9223372036854775807',
      u64: '9007199254740993',
      s32: -2147483648,
      s64: '-9223372036854775808',
      f64: '18446744073709551615',
      sf32: -2147483648,
      sf64: '-9223372036854775808',
      f32: 4294967295,
      d: '-Infinity',
      f: 'Infinity',
      f2: 1e-45,
      packed: [0, -1, 2147483647],
      color: 2,
      byI64: { '-9223372036854775808': 'min', '9223372036854775807': 'max' },
      byU64: { '0': 'zero' },
      byI32: { '2147483647': {}, '-2147483648': { byI32: { '0': { s: 'deep' } } } },
      text: '',
    });
    expectProtobufjsBytes(NAME, { opt: 0, zeroOk: 0, by: '', mask: '', values: [] });
  });

  it('writes strings as protobufjs does: ASCII, multi-byte, surrogate pairs, lone surrogates, short and long', () => {
    for (const s of [
      'plain',
      'héllo wörld',
      '日本語のテキスト',
      'emoji 😀 pair',
      'lone \ud800 high',
      'lone \udc00 low',
      'x'.repeat(39) + 'é',
      'é'.repeat(60),
      '😀'.repeat(30),
      'a'.repeat(200),
      `${'a'.repeat(50)}\ud800`,
      `${'y'.repeat(38)}\ud800`, // 39 UTF-16 units: protobufjs' own UTF-8 writer (the surrogate as 3 bytes)
      `${'y'.repeat(39)}\ud800`, // 40: Buffer's (U+FFFD)
    ]) {
      expectProtobufjsBytes(NAME, { s, names: [s, s.slice(1)] });
    }
  });

  it('encodes map<bool, _> false keys as false (protobufjs would write the string "false" as true)', () => {
    const bytes = encodeJson(NAME, { byBool: { false: 'f' } });
    const decoded = envoyType(NAME).decode(bytes) as unknown as { byBool: Record<string, string> };
    expect(decoded.byBool).toEqual({ false: 'f' });
  });

  it('keeps explicitly set presence fields at their default and drops implicit ones', () => {
    expect(decodeToJson(NAME, encodeJson(NAME, { opt: 0, zeroOk: 0, i32: 0, s: '' }))).toEqual({
      opt: 0,
      zeroOk: 0,
    });
    expect(decodeToJson(NAME, encodeJson(NAME, {}))).toEqual({});
  });

  it('accepts numbers given as strings and exponent forms, and canonicalises them', () => {
    expect(
      decodeToJson(NAME, encodeJson(NAME, { i32: '-12', u32: 1e3, i64: 42, u64: '7', d: '2.5', f: '1e2' })),
    ).toEqual({
      i32: -12,
      u32: 1000,
      i64: '42',
      u64: '7',
      d: 2.5,
      f: 100,
    });
  });

  it.each([
    [{ i32: 2147483648 }, 'i32: 2147483648 is not a valid int32'],
    [{ i32: 1.5 }, 'i32: 1.5 is not a valid int32'],
    [{ u32: -1 }, 'u32: -1 is not a valid uint32'],
    [{ u64: '-1' }, 'u64: "-1" is out of range for uint64'],
    [{ i64: '9223372036854775808' }, 'i64: "9223372036854775808" is out of range for int64'],
    [{ i64: 'ten' }, 'i64: expected an int64, got "ten"'],
    [{ f: 1e39 }, 'f: 1e+39 is out of range for float'],
    [{ f: 3.4028236e38 }, 'f: 3.4028236e+38 is out of range for float'],
    [{ d: '' }, 'd: expected a number, got ""'],
    [{ b: 'true' }, 'b: expected a boolean, got "true"'],
    [{ s: 5 }, 's: expected a string, got 5'],
    [{ by: 'not base64!' }, 'by: invalid base64 "not base64!"'],
    [{ color: 'PURPLE' }, 'color: unknown sluice.jsontest.Scalars.Color value "PURPLE"'],
    [{ color: 7 }, 'color: unknown sluice.jsontest.Scalars.Color number 7'],
    [{ packed: 1 }, 'packed: expected an array, got 1'],
    [{ packed: [1, null] }, 'packed[1]: null is not allowed in a repeated field'],
    [{ byBool: { yes: 'x' } }, 'byBool["yes"]: invalid bool map key "yes"'],
    [{ byI32: { x: {} } }, 'byI32["x"]: invalid int32 map key "x"'],
    [{ byI32: { '1': { nope: 1 } } }, 'byI32["1"].nope: unknown field "nope" of sluice.jsontest.Scalars'],
    [{ zeroOk: 1, text: 'x' }, 'text: oneof "pick" has both "zeroOk" and "text" set'],
    [{ custom: 'a', field_name_1: 'b' }, 'field_name_1: field given both as "custom" and "field_name_1"'],
    [{ mask: 'foo_bar' }, 'mask: invalid field mask path "foo_bar"'],
    [{ values: [NaN] }, 'values[0]: NaN cannot be a google.protobuf.Value'],
  ])('rejects %j', (json, message) => {
    const error = errorOf(() => encodeJson(NAME, json));
    expect(error.message).toBe(`${NAME}: ${message}`);
  });
});

describe('strict encoding errors name the path', () => {
  it('rejects a bad duration', () => {
    const error = errorOf(() => encodeJson(CLUSTER, { name: 'c', connectTimeout: '3x' }));
    expect(error.message).toBe('envoy.config.cluster.v3.Cluster: connectTimeout: invalid duration "3x"');
    expect(error.path).toBe('connectTimeout');
    expect(error.messageName).toBe(CLUSTER);
    for (const bad of ['3', '1.5', 's', '1.1234567891s', '315576000001s', ' 1s', '1m']) {
      expect(() => encodeJson(CLUSTER, { name: 'c', connectTimeout: bad })).toThrow(
        `invalid duration ${JSON.stringify(bad)}`,
      );
    }
    expect(() => encodeJson(CLUSTER, { name: 'c', connectTimeout: 3 })).toThrow(
      'connectTimeout: invalid duration 3',
    );
  });

  it('rejects unknown fields deep inside Any payloads', () => {
    const json = listener();
    const hcm = (json.filterChains as { filters: { typedConfig: Record<string, unknown> }[] }[])[0].filters[0]
      .typedConfig;
    (hcm.httpFilters as { typedConfig: Record<string, unknown> }[])[0].typedConfig.startChildSpan = true;
    (hcm.httpFilters as { typedConfig: Record<string, unknown> }[])[0].typedConfig.bogus = 1;
    const error = errorOf(() => encodeJson(LISTENER, json));
    expect(error.path).toBe('filterChains[0].filters[0].typedConfig.httpFilters[0].typedConfig.bogus');
    expect(error.reason).toBe('unknown field "bogus" of envoy.extensions.filters.http.router.v3.Router');
  });

  it('rejects an unknown enum name', () => {
    expect(() => encodeJson(CLUSTER, { name: 'c', lbPolicy: 'FASTEST' })).toThrow(
      'envoy.config.cluster.v3.Cluster: lbPolicy: unknown envoy.config.cluster.v3.Cluster.LbPolicy value "FASTEST"',
    );
  });

  it('rejects wrong JSON types', () => {
    expect(() => encodeJson(CLA, { clusterName: 'x', endpoints: {} })).toThrow(
      'envoy.config.endpoint.v3.ClusterLoadAssignment: endpoints: expected an array, got an object',
    );
    expect(() =>
      encodeJson(CLA, {
        clusterName: 'x',
        endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { portValue: true } } } }] }],
      }),
    ).toThrow(
      'endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue: expected a uint32, got true',
    );
    expect(() => encodeJson(CLA, { clusterName: 'x', policy: 'none' })).toThrow(
      'policy: expected a JSON object for envoy.config.endpoint.v3.ClusterLoadAssignment.Policy, got "none"',
    );
    expect(() => encodeJson(CLA, [])).toThrow(
      'expected a JSON object for envoy.config.endpoint.v3.ClusterLoadAssignment, got an array',
    );
    expect(() => encodeJson(CLA, { clusterName: 'x', policy: new Map() })).toThrow(
      'policy: expected a JSON object for envoy.config.endpoint.v3.ClusterLoadAssignment.Policy, got a Map',
    );
  });

  it('rejects an unknown or missing @type', () => {
    const unknown = {
      name: 'c',
      typedExtensionProtocolOptions: { x: { '@type': 'type.googleapis.com/envoy.extensions.nope.v3.Nope' } },
    };
    expect(() => encodeJson(CLUSTER, unknown)).toThrow(
      'envoy.config.cluster.v3.Cluster: typedExtensionProtocolOptions["x"]: unknown Any type "type.googleapis.com/envoy.extensions.nope.v3.Nope"',
    );
    expect(() =>
      encodeJson(CLUSTER, { name: 'c', typedExtensionProtocolOptions: { x: { sni: 'a' } } }),
    ).toThrow('typedExtensionProtocolOptions["x"]: google.protobuf.Any needs a "@type"');
    expect(() =>
      encodeJson(CLUSTER, {
        name: 'c',
        transportSocket: {
          name: 't',
          typedConfig: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s', extra: 1 },
        },
      }),
    ).toThrow(
      'transportSocket.typedConfig: unknown field "extra" in an Any holding google.protobuf.Duration',
    );
    expect(() =>
      encodeJson(CLUSTER, {
        name: 'c',
        transportSocket: {
          name: 't',
          typedConfig: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: 'x' },
        },
      }),
    ).toThrow('transportSocket.typedConfig.value: invalid duration "x"');
  });

  it('rejects two members of one oneof', () => {
    expect(() => encodeJson(CLUSTER, { name: 'c', type: 'EDS', clusterType: { name: 'custom' } })).toThrow(
      'clusterType: oneof "clusterDiscoveryType" has both "type" and "clusterType" set',
    );
    expect(() =>
      encodeJson(ROUTE, {
        virtualHosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', path: '/x' } }] }],
      }),
    ).toThrow('virtualHosts[0].routes[0].match.path: oneof "pathSpecifier" has both "prefix" and "path" set');
  });

  it('rejects unknown message names', () => {
    expect(() => encodeJson('envoy.config.nope.v3.Nope', {})).toThrow(
      'envoy.config.nope.v3.Nope: unknown message type',
    );
  });
});

describe('strict decoding', () => {
  const withExtra = (bytes: Uint8Array, extra: number[]): Uint8Array => Uint8Array.from([...bytes, ...extra]);

  it('rejects unknown fields (which protobufjs would skip)', () => {
    const bytes = encodeJson(CLUSTER, { name: 'c' });
    // field 999, varint 1
    const tag = protobuf.Writer.create()
      .uint32((999 << 3) | 0)
      .uint32(1)
      .finish();
    expect(() => envoyType(CLUSTER).decode(withExtra(bytes, [...tag]))).not.toThrow();
    expect(() => decodeToJson(CLUSTER, withExtra(bytes, [...tag]))).toThrow(
      'envoy.config.cluster.v3.Cluster: unknown field number 999 in envoy.config.cluster.v3.Cluster',
    );
  });

  it('rejects unknown fields inside nested messages and Any payloads, naming the path', () => {
    const bogus = protobuf.Writer.create()
      .uint32((77 << 3) | 0)
      .uint32(1)
      .finish(); // Router has no field 77
    const any = envoyType('google.protobuf.Any');
    const listenerType = envoyType(LISTENER);
    const bytes = listenerType
      .encode({
        name: 'l',
        filterChains: [
          { filters: [{ name: 'f', typedConfig: any.fromObject({ type_url: ROUTER_URL, value: bogus }) }] },
        ],
      })
      .finish();
    expect(() => decodeToJson(LISTENER, bytes)).toThrow(
      'envoy.config.listener.v3.Listener: filterChains[0].filters[0].typedConfig: unknown field number 77 in envoy.extensions.filters.http.router.v3.Router',
    );
  });

  it('rejects enum numbers the schema does not define', () => {
    const bytes = envoyType(CLUSTER).encode({ name: 'c', lbPolicy: 99 }).finish();
    expect(() => decodeToJson(CLUSTER, bytes)).toThrow(
      'envoy.config.cluster.v3.Cluster: lbPolicy: unknown envoy.config.cluster.v3.Cluster.LbPolicy number 99',
    );
  });

  it('rejects an Any of an unknown type', () => {
    const any = envoyType('google.protobuf.Any');
    const bytes = envoyType(CLUSTER)
      .encode({
        name: 'c',
        transportSocket: {
          name: 't',
          typedConfig: any.fromObject({ type_url: 'type.googleapis.com/x.Y', value: new Uint8Array() }),
        },
      })
      .finish();
    expect(() => decodeToJson(CLUSTER, bytes)).toThrow(
      'transportSocket.typedConfig: unknown Any type "type.googleapis.com/x.Y"',
    );
  });

  it('rejects wrong wire types, two oneof members and truncation', () => {
    // name (field 1) as a varint instead of length-delimited
    expect(() => decodeToJson(CLUSTER, Uint8Array.from([(1 << 3) | 0, 5]))).toThrow(
      'name: wire type 0 for a string field',
    );
    const both = envoyType(CLUSTER)
      .encode({ name: 'c', type: 3, clusterType: { name: 'x' } })
      .finish();
    expect(() => decodeToJson(CLUSTER, both)).toThrow(
      'two members of oneof "clusterDiscoveryType" are set (type and clusterType)',
    );
    const good = encodeJson(CLUSTER, cluster());
    expect(() => decodeToJson(CLUSTER, good.subarray(0, good.length - 3))).toThrow(ProtoJsonError);
  });

  it('rejects a singular message field written twice (protobufjs would keep only the last)', () => {
    const one = encodeJson(CLUSTER, { connectTimeout: '1s' });
    const two = encodeJson(CLUSTER, { connectTimeout: '0.5s' });
    expect(() => decodeToJson(CLUSTER, Uint8Array.from([...one, ...two]))).toThrow(
      'connectTimeout: singular message field appears twice on the wire',
    );
  });

  it('accepts packed and unpacked repeated scalars', () => {
    const NAME = 'envoy.config.listener.v3.FilterChainMatch';
    const packed = encodeJson(NAME, { sourcePorts: [80, 443] });
    expect(decodeToJson(NAME, packed)).toEqual({ sourcePorts: [80, 443] });
    const unpacked = Uint8Array.from([(7 << 3) | 0, 80, (7 << 3) | 0, 0xbb, 0x03]);
    expect(decodeToJson(NAME, unpacked)).toEqual({ sourcePorts: [80, 443] });
  });
});

describe('the walk', () => {
  it('produces an object protobufjs encodes without fromObject, with Any payloads pre-encoded', () => {
    const type = envoyType(ROUTE);
    const obj = toEncodable(type, routeConfiguration(3));
    const virtualHosts = obj.virtualHosts as {
      routes: { route?: { timeout?: unknown; retryPolicy?: unknown } }[];
    }[];
    expect(virtualHosts[0].routes[1].route?.timeout).toEqual({ seconds: 15 });
    expect(type.verify(obj)).toBeNull();
    expect(Buffer.from(type.encode(obj).finish())).toEqual(
      Buffer.from(encodeJson(ROUTE, routeConfiguration(3))),
    );
  });

  it('round-trips a 100-route RouteConfiguration', () => {
    const json = routeConfiguration(100);
    expect(decodeToJson(ROUTE, encodeJson(ROUTE, json))).toEqual(json);
  });
});

describe('the wire encoder', () => {
  it.each([
    ['Listener', LISTENER, listener()],
    ['Cluster', CLUSTER, cluster()],
    ['ClusterLoadAssignment', CLA, loadAssignment()],
    ['RouteConfiguration', ROUTE, routeConfiguration(6)],
  ])('writes the bytes protobufjs writes for the walk of a %s', (_label, name, json) => {
    expectProtobufjsBytes(name, json);
  });

  it('writes nested lengths of one to four bytes', () => {
    // Each nesting level (entry, Struct, Value...) adds a few bytes: ranges cross every boundary at every level.
    const around = (limit: number) => Array.from({ length: 24 }, (_, i) => limit - 16 + i);
    for (const size of [0, 1, ...around(128), ...around(16384), 70000, 2_097_140, 2_097_152, 2_097_160]) {
      const json = {
        name: 'c',
        metadata: { filterMetadata: { sluice: { blob: 'x'.repeat(size) } } },
      };
      expectProtobufjsBytes(CLUSTER, json);
    }
    const big = routeConfiguration(3000);
    expectProtobufjsBytes(ROUTE, big);
    expect(decodeToJson(ROUTE, encodeJson(ROUTE, big))).toEqual(big);
  });

  it('writes Struct, Value and ListValue, and Any payloads of every kind (empty ones leave out value)', () => {
    expectProtobufjsBytes(CLUSTER, {
      name: 'c',
      metadata: {
        filterMetadata: {
          a: {
            n: 1.5,
            neg: -0,
            s: 'x',
            b: false,
            z: null,
            l: [1, 'two', [], {}, null],
            o: { deep: { er: [true] } },
          },
          empty: {},
        },
        typedFilterMetadata: {
          wrapperDefault: { '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 0 },
          wrapper: { '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 7 },
          emptyMessage: { '@type': ROUTER_URL },
          duration: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '-1.5s' },
          zeroDuration: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '0s' },
          struct: { '@type': 'type.googleapis.com/google.protobuf.Struct', value: { k: 'v' } },
          value: { '@type': 'type.googleapis.com/google.protobuf.Value', value: null },
          list: { '@type': 'type.googleapis.com/google.protobuf.ListValue', value: [] },
          string: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'é' },
          bytes: { '@type': 'type.googleapis.com/google.protobuf.BytesValue', value: 'AAE=' },
          int64: { '@type': 'type.googleapis.com/google.protobuf.Int64Value', value: '-3' },
          double: { '@type': 'type.googleapis.com/google.protobuf.DoubleValue', value: 'NaN' },
          timestamp: {
            '@type': 'type.googleapis.com/google.protobuf.Timestamp',
            value: '1969-12-31T23:59:59.5Z',
          },
        },
      },
    });
  });

  it('reports the same errors as the walk', () => {
    const type = envoyType(CLUSTER);
    for (const json of [
      { name: 'c', connectTimeout: '3x' },
      { name: 'c', bogus: 1 },
      { name: 'c', type: 'EDS', clusterType: { name: 'custom' } },
      { name: 'c', loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [null] }] } },
      { name: 'c', metadata: { filterMetadata: { a: { bad: undefined } } } },
      { name: 'c', typedExtensionProtocolOptions: { x: { '@type': HTTP_OPTIONS_URL, nope: true } } },
      {
        name: 'c',
        transportSocket: { typedConfig: { '@type': 'type.googleapis.com/google.protobuf.Duration' } },
      },
    ]) {
      const walked = errorOf(() => toEncodable(type, json)).message;
      expect(errorOf(() => encodeJson(CLUSTER, json)).message).toBe(walked);
    }
    // The encoder is reusable after an error.
    expectProtobufjsBytes(CLUSTER, cluster());
  });
});

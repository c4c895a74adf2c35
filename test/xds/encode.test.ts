import type { Json } from '../../src/translator/plugin';
import { ResourceEncoder, sameJson, versionOf } from '../../src/xds/encode';
import { decodeToJson, encodeJson } from '../../src/xds/proto-json';
import { TYPE_URLS } from '../../src/xds/type-urls';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';

function cluster(name = 'fn-echo'): Json {
  return {
    name,
    type: 'EDS',
    connectTimeout: '0.250s',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    metadata: { filterMetadata: { sluice: { weight: 1, tags: ['a', 'b'], on: true } } },
    typedExtensionProtocolOptions: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: { maxConcurrentStreams: 100 } },
      },
    },
  };
}

function resourceOf(result: ReturnType<ResourceEncoder['encode']>) {
  if ('violations' in result) throw new Error(`violations: ${result.violations.join('; ')}`);
  return result;
}

describe('ResourceEncoder', () => {
  it('encodes, and versions a resource by a hash of its bytes', () => {
    const json = cluster();
    const resource = resourceOf(new ResourceEncoder().encode(TYPE_URLS.cluster, json));
    expect(resource).toMatchObject({ name: 'fn-echo', typeUrl: TYPE_URLS.cluster, json });
    expect(Buffer.from(resource.bytes)).toEqual(Buffer.from(encodeJson(CLUSTER, json)));
    expect(resource.version).toBe(versionOf(resource.bytes));
    expect(decodeToJson(CLUSTER, resource.bytes)).toEqual(json);
  });

  it('versions the same bytes alike (in any encoder) and different bytes apart', () => {
    const bytes = Buffer.from(encodeJson(CLUSTER, cluster()));
    expect(versionOf(bytes)).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(versionOf(new Uint8Array(bytes))).toBe(versionOf(bytes));
    const versions = new Set<string>();
    // Every single-bit flip, and every length from 0 to the whole message.
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3] ^= 1 << (bit & 7);
      versions.add(versionOf(flipped));
    }
    for (let length = 0; length <= bytes.length; length++) versions.add(versionOf(bytes.subarray(0, length)));
    expect(versions.size).toBe(bytes.length * 8 + bytes.length + 1);
  });

  it('returns the same result for the same object', () => {
    const encoder = new ResourceEncoder();
    const json = cluster();
    const first = encoder.encode(TYPE_URLS.cluster, json);
    expect(encoder.encode(TYPE_URLS.cluster, json)).toBe(first);
  });

  it('keeps the result of an equal JSON object of the same name (member order, undefined members aside)', () => {
    const encoder = new ResourceEncoder();
    const first = encoder.encode(TYPE_URLS.cluster, cluster());
    const reordered: Json = { ...cluster(), lbPolicy: undefined };
    reordered.metadata = { filterMetadata: { sluice: { on: true, tags: ['a', 'b'], weight: 1 } } };
    const again = encoder.encode(TYPE_URLS.cluster, reordered);
    expect(again).toBe(first);
    // ...and remembers the new object too.
    expect(encoder.encode(TYPE_URLS.cluster, reordered)).toBe(first);
  });

  it('encodes a changed resource again, and only that one', () => {
    const encoder = new ResourceEncoder();
    const a = encoder.encode(TYPE_URLS.cluster, cluster('a'));
    const b = encoder.encode(TYPE_URLS.cluster, cluster('b'));
    const changed = cluster('a');
    changed.connectTimeout = '1s';
    const a2 = resourceOf(encoder.encode(TYPE_URLS.cluster, changed));
    expect(a2.version).not.toBe(resourceOf(a).version);
    expect(encoder.encode(TYPE_URLS.cluster, cluster('b'))).toBe(b);
    // The previous JSON of a name is the last one encoded.
    expect(encoder.encode(TYPE_URLS.cluster, cluster('a'))).not.toBe(a);
  });

  it('tells 0 from -0 where the sign is kept (a google.protobuf.Value)', () => {
    const encoder = new ResourceEncoder();
    const withWeight = (weight: number): Json => ({
      ...cluster(),
      metadata: { filterMetadata: { sluice: { weight } } },
    });
    const zero = withWeight(0);
    const negativeZero = withWeight(-0);
    const first = resourceOf(encoder.encode(TYPE_URLS.cluster, zero));
    const second = resourceOf(encoder.encode(TYPE_URLS.cluster, negativeZero));
    expect(second.version).not.toBe(first.version);
  });

  it('reports rule violations, and JSON the encoder rejects, as violations', () => {
    const encoder = new ResourceEncoder();
    const unnamed = cluster('');
    expect(encoder.encode(TYPE_URLS.cluster, unnamed)).toEqual({
      violations: ['name: value length must be at least 1 runes'],
    });
    // No rules anywhere under trackClusterStats: validation does not look, the encoder refuses.
    const malformed = { ...cluster(), trackClusterStats: { timeoutBudgets: 'yes' } };
    expect(encoder.encode(TYPE_URLS.cluster, malformed)).toEqual({
      violations: [`${CLUSTER}: trackClusterStats.timeoutBudgets: expected a boolean, got "yes"`],
    });
    // An equal object gets the same answer without another walk.
    const result = encoder.encode(TYPE_URLS.cluster, malformed);
    expect(encoder.encode(TYPE_URLS.cluster, structuredClone(malformed))).toBe(result);
  });

  it('forgets resources not encoded since the last forgetUnused', () => {
    const encoder = new ResourceEncoder();
    const clusterA = encoder.encode(TYPE_URLS.cluster, cluster('a'));
    const endpointsA = encoder.encode(TYPE_URLS.endpoint, { clusterName: 'a' });
    // Both were asked for in this round.
    encoder.forgetUnused();
    // Only the cluster is asked for again: the endpoints go.
    expect(encoder.encode(TYPE_URLS.cluster, cluster('a'))).toBe(clusterA);
    encoder.forgetUnused();
    expect(encoder.encode(TYPE_URLS.cluster, cluster('a'))).toBe(clusterA);
    const again = encoder.encode(TYPE_URLS.endpoint, { clusterName: 'a' });
    expect(again).not.toBe(endpointsA);
    expect(resourceOf(again).version).toBe(resourceOf(endpointsA).version);
  });

  it('counts a resource changed within a round once when telling whether any is unused', () => {
    const encoder = new ResourceEncoder();
    encoder.encode(TYPE_URLS.cluster, cluster('a'));
    const endpointsB = encoder.encode(TYPE_URLS.endpoint, { clusterName: 'b' });
    encoder.forgetUnused();
    // The cluster is asked for twice, changed the second time; the endpoints are not asked for: they go.
    encoder.encode(TYPE_URLS.cluster, cluster('a'));
    encoder.encode(TYPE_URLS.cluster, { ...cluster('a'), connectTimeout: '9s' });
    encoder.forgetUnused();
    expect(encoder.encode(TYPE_URLS.endpoint, { clusterName: 'b' })).not.toBe(endpointsB);
  });
});

describe('sameJson', () => {
  it.each([
    [
      { a: 1, b: [1, 2] },
      { b: [1, 2], a: 1 },
    ],
    [{ a: 1, b: undefined }, { a: 1 }],
    [{ a: { b: { c: 'x' } } }, { a: { b: { c: 'x' } } }],
    [[], []],
    [NaN, NaN],
    [Object.create(null), {}],
    ['s', 's'],
  ])('%j is the same as %j', (a, b) => {
    expect(sameJson(a, b)).toBe(true);
    expect(sameJson(b, a)).toBe(true);
  });

  it.each([
    [{ a: 1 }, { a: 1, b: 2 }],
    [{ a: 1 }, { b: 1 }],
    [{ a: undefined }, { b: 1 }],
    [{ a: null }, {}],
    [{ a: 0 }, { a: -0 }],
    [{ a: 1 }, { a: '1' }],
    [
      [1, 2],
      [2, 1],
    ],
    [[1], [1, undefined]],
    [[], {}],
    [{ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] }],
    [Buffer.from('ab'), { 0: 97, 1: 98 }],
    [new Date(0), new Date(1)],
    [{}, null],
  ])('%j is not the same as %j', (a, b) => {
    expect(sameJson(a, b)).toBe(false);
    expect(sameJson(b, a)).toBe(false);
  });
});

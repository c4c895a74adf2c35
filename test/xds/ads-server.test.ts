import { createHash } from 'crypto';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics';
import { AdsServer, sotwVersionOf, type XdsAckEvent, type XdsNackEvent } from '../../src/xds/ads-server';
import { envoyType } from '../../src/xds/envoy-protos';
import type { XdsResource, XdsSnapshot } from '../../src/xds/resources';
import {
  DEFAULT_PROXY_KEY,
  SnapshotCache,
  proxyKeyOf,
  type SnapshotChange,
} from '../../src/xds/snapshot-cache';
import { TYPE_URLS, type TypeUrl } from '../../src/xds/type-urls';
import {
  DeltaClient,
  RawHttp2SotwClient,
  SotwClient,
  type AdsClientOptions,
  deltaResources,
  nodeWithRole,
  sotwResources,
  type DeltaResponse,
  type SotwResponse,
} from './ads-client';

// ---------------------------------------------------------------------------------------------
// Real Envoy resources, encoded once, versioned by the hash of their bytes.
// ---------------------------------------------------------------------------------------------

const MESSAGE_OF: Record<TypeUrl, string> = {
  [TYPE_URLS.cluster]: 'envoy.config.cluster.v3.Cluster',
  [TYPE_URLS.endpoint]: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  [TYPE_URLS.listener]: 'envoy.config.listener.v3.Listener',
  [TYPE_URLS.route]: 'envoy.config.route.v3.RouteConfiguration',
  [TYPE_URLS.secret]: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

function encoded(
  typeUrl: TypeUrl,
  name: string,
  json: Record<string, unknown>,
  extra?: Uint8Array,
): XdsResource {
  const type = envoyType(MESSAGE_OF[typeUrl]);
  const encodedBytes = type.encode(type.fromObject(json)).finish();
  const bytes = extra ? Buffer.concat([encodedBytes, extra]) : encodedBytes;
  const version = createHash('sha256').update(bytes).digest('hex');
  return { name, typeUrl, version, json, bytes };
}

function cluster(name: string, connectTimeoutSeconds = 1): XdsResource {
  return encoded(TYPE_URLS.cluster, name, {
    name,
    type: 'EDS',
    connectTimeout: { seconds: connectTimeoutSeconds },
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
  });
}

function endpoints(clusterName: string, port = 8080): XdsResource {
  return encoded(TYPE_URLS.endpoint, clusterName, {
    clusterName,
    endpoints: [
      {
        locality: {},
        loadBalancingWeight: { value: 1 },
        lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: port } } } }],
      },
    ],
  });
}

function listener(name: string, statPrefix = name): XdsResource {
  return encoded(TYPE_URLS.listener, name, {
    name,
    statPrefix,
    address: { socketAddress: { address: '0.0.0.0', portValue: 8080 } },
  });
}

function route(name: string, clusterName: string): XdsResource {
  return encoded(TYPE_URLS.route, name, {
    name,
    virtualHosts: [
      { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] },
    ],
  });
}

/** A route padded with an unknown field of `padBytes` bytes (clients skip it): a large resource. */
function bigRoute(name: string, clusterName: string, padBytes: number): XdsResource {
  const tag = Buffer.from([0xba, 0x3e]); // field 999, length-delimited
  const length: number[] = [];
  for (let n = padBytes; ; n >>>= 7) {
    if (n < 0x80) {
      length.push(n);
      break;
    }
    length.push((n & 0x7f) | 0x80);
  }
  return encoded(
    TYPE_URLS.route,
    name,
    {
      name,
      virtualHosts: [
        { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] },
      ],
    },
    Buffer.concat([tag, Buffer.from(length), Buffer.alloc(padBytes, 0x78)]),
  );
}

function snapshotOf(...resources: XdsResource[]): XdsSnapshot {
  const snapshot = new Map<TypeUrl, Map<string, XdsResource>>();
  for (const resource of resources) {
    let byName = snapshot.get(resource.typeUrl);
    if (!byName) {
      byName = new Map();
      snapshot.set(resource.typeUrl, byName);
    }
    byName.set(resource.name, resource);
  }
  return snapshot;
}

function names(response: SotwResponse): string[] {
  return [...sotwResources(response).keys()].sort();
}

function deltaNames(response: DeltaResponse): string[] {
  return [...deltaResources(response).keys()].sort();
}

// ---------------------------------------------------------------------------------------------
// Fixture: one server per test, every client and the server closed afterwards.
// ---------------------------------------------------------------------------------------------

let cache: SnapshotCache;
let metrics: Metrics;
let server: AdsServer;
let port: number;
let logLines: Array<Record<string, unknown>>;
let acks: XdsAckEvent[];
let nacks: XdsNackEvent[];
const clients: Array<{ close(): void }> = [];

beforeEach(async () => {
  cache = new SnapshotCache();
  metrics = new Metrics();
  logLines = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  server = new AdsServer({ cache, metrics, logger, shutdownGraceMs: 200 });
  acks = [];
  nacks = [];
  server.onAck((event) => acks.push(event));
  server.onNack((event) => nacks.push(event));
  port = await server.start('127.0.0.1:0');
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server.stop();
});

function sotwClient(options?: AdsClientOptions): SotwClient {
  const client = new SotwClient(port, options);
  clients.push(client);
  return client;
}

function deltaClient(): DeltaClient {
  const client = new DeltaClient(port);
  clients.push(client);
  return client;
}

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function metricValue(
  metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number }> }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value));
  return match?.value ?? 0;
}

const ROLE_A = 'team-a~gateway';
const ROLE_B = 'team-b~gateway';

// ---------------------------------------------------------------------------------------------

describe('proxyKeyOf', () => {
  it('reads the role from a decoded Struct or plain metadata, else gateway-proxy', () => {
    expect(proxyKeyOf({ metadata: { fields: { role: { stringValue: 'ns~p' } } } })).toBe('ns~p');
    expect(proxyKeyOf({ metadata: { role: 'ns~q' } })).toBe('ns~q');
    expect(proxyKeyOf({ id: 'x' })).toBe(DEFAULT_PROXY_KEY);
    expect(proxyKeyOf({ metadata: { fields: { role: { numberValue: 3 } } } })).toBe('gateway-proxy');
    expect(proxyKeyOf({ metadata: { role: '' } })).toBe('gateway-proxy');
    expect(proxyKeyOf(null)).toBe('gateway-proxy');
  });
});

describe('SnapshotCache', () => {
  it('reports exactly which resources were added, changed and removed, and nothing when unchanged', () => {
    const local = new SnapshotCache();
    const changes: SnapshotChange[] = [];
    const unsubscribe = local.subscribe((change) => changes.push(change));
    const c1 = cluster('c1');
    const first = snapshotOf(c1, cluster('c2'), route('r1', 'c1'));
    local.setSnapshot('k', first);
    expect(changes).toHaveLength(1);
    expect(changes[0].previous).toBeUndefined();
    expect([...(changes[0].changes.get(TYPE_URLS.cluster)?.added ?? [])].sort()).toEqual(['c1', 'c2']);

    // Same versions in new objects: no notification, and the stored snapshot is the new one.
    const same = snapshotOf(cluster('c1'), cluster('c2'), route('r1', 'c1'));
    expect(local.setSnapshot('k', same)).toBeUndefined();
    expect(changes).toHaveLength(1);
    expect(local.getSnapshot('k')).toBe(same);

    local.setSnapshot('k', snapshotOf(cluster('c1', 5), cluster('c3'), route('r1', 'c1')));
    expect(changes).toHaveLength(2);
    const clusterChanges = changes[1].changes.get(TYPE_URLS.cluster);
    expect([...(clusterChanges?.added ?? [])]).toEqual(['c3']);
    expect([...(clusterChanges?.changed ?? [])]).toEqual(['c1']);
    expect([...(clusterChanges?.removed ?? [])]).toEqual(['c2']);
    expect(changes[1].changes.has(TYPE_URLS.route)).toBe(false);
    expect(changes[1].previous).toBe(same);

    local.setSnapshot('other', snapshotOf());
    expect(changes[2].key).toBe('other');
    expect(local.keys().sort()).toEqual(['k', 'other']);
    unsubscribe();
    local.setSnapshot('k', snapshotOf());
    expect(changes).toHaveLength(3);
  });
});

describe('AdsServer state of the world', () => {
  it('serves the complete CDS set to a legacy (empty) wildcard request, and LDS to `*`', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), cluster('c2'), listener('l1'), listener('l2')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster, resourceNames: [] });
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TYPE_URLS.cluster);
    expect(names(cds)).toEqual(['c1', 'c2']);
    expect(cds.nonce).not.toBe('');
    expect(cds.versionInfo).toBe(sotwVersionOf([cluster('c1'), cluster('c2')]));
    expect(cds.controlPlane?.identifier).toBe('sluice');
    expect(sotwResources(cds).get('c1')).toMatchObject({ name: 'c1', type: 'EDS' });

    client.send({ typeUrl: TYPE_URLS.listener, resourceNames: ['*'] });
    const lds = await client.next();
    expect(lds.typeUrl).toBe(TYPE_URLS.listener);
    expect(names(lds)).toEqual(['l1', 'l2']);
    expect(lds.nonce).not.toBe(cds.nonce);
  });

  it('puts the resource bytes in the Any exactly as given (no re-encoding)', async () => {
    // Unknown field 999 (varint 1) appended: a re-encoding from JSON or a decoded message would drop it.
    const odd = encoded(
      TYPE_URLS.cluster,
      'odd',
      { name: 'odd', type: 'EDS', connectTimeout: { seconds: 1 } },
      Buffer.from([0xb8, 0x3e, 0x01]),
    );
    cache.setSnapshot(DEFAULT_PROXY_KEY, snapshotOf(odd));
    const a = sotwClient();
    const b = deltaClient();
    a.send({ node: nodeWithRole('a'), typeUrl: TYPE_URLS.cluster });
    b.send({ node: nodeWithRole('b'), typeUrl: TYPE_URLS.cluster });
    const sotw = await a.next();
    const delta = await b.next();
    expect(sotw.resources[0].type_url).toBe(TYPE_URLS.cluster);
    expect(delta.resources[0].resource?.type_url).toBe(TYPE_URLS.cluster);
    expect(Buffer.compare(sotw.resources[0].value, Buffer.from(odd.bytes))).toBe(0);
    expect(
      Buffer.compare(delta.resources[0].resource?.value ?? Buffer.alloc(0), Buffer.from(odd.bytes)),
    ).toBe(0);
    expect(delta.resources[0].version).toBe(odd.version);
  });

  it('waits for the proxy snapshot before answering, then sends it', async () => {
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster });
    await client.expectNothing(200);
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1')));
    const cds = await client.next();
    expect(cds.resources).toEqual([]);
  });

  it('serves named RDS and EDS resources that exist, and sends a missing name when it appears', async () => {
    const r1 = route('r1', 'c1');
    cache.setSnapshot(ROLE_A, snapshotOf(r1, route('r2', 'c2'), endpoints('c1'), endpoints('c2')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1', 'r3'] });
    const rds = await client.next();
    expect(names(rds)).toEqual(['r1']);
    expect(sotwResources(rds).get('r1')).toMatchObject({
      virtualHosts: [{ routes: [{ route: { cluster: 'c1' } }] }],
    });
    client.ack(rds, ['r1', 'r3']);

    client.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ['c2'] });
    const eds = await client.next();
    expect(names(eds)).toEqual(['c2']);
    client.ack(eds, ['c2']);
    await client.expectNothing(150);

    cache.setSnapshot(
      ROLE_A,
      snapshotOf(r1, route('r2', 'c2'), route('r3', 'c3'), endpoints('c1'), endpoints('c2')),
    );
    // RDS may be sent as a subset: only the resource that appeared, with the version of the whole set.
    const later = await client.next();
    expect(later.typeUrl).toBe(TYPE_URLS.route);
    expect(names(later)).toEqual(['r3']);
    expect(later.versionInfo).toBe(sotwVersionOf([r1, route('r3', 'c3')]));
    await client.expectNothing(150);
  });

  it('says nothing for RDS names that do not exist until one appears', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['nope'] });
    await client.expectNothing(200);
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1'), route('nope', 'c9')));
    expect(names(await client.next())).toEqual(['nope']);
  });

  it('does not answer an ACK, and reports it', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster });
    const cds = await client.next();
    client.ack(cds, []);
    await client.expectNothing(300);
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({
      proxyKey: ROLE_A,
      nodeId: 'n1',
      mode: 'sotw',
      typeUrl: TYPE_URLS.cluster,
      nonce: cds.nonce,
      versionInfo: cds.versionInfo,
      resourceNames: ['c1'],
    });
    expect(server.streamInfo()[0].types[0]).toMatchObject({
      ackedVersion: cds.versionInfo,
      sentVersion: cds.versionInfo,
    });
  });

  it('handles a NACK: logs and counts it once, re-sends nothing, keeps the ACKed version, sends the next change', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster });
    const first = await client.next();
    client.ack(first, []);
    await waitFor(() => acks.length === 1);

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), cluster('bad')));
    const second = await client.next();
    expect(names(second)).toEqual(['bad', 'c1']);
    client.send({
      typeUrl: TYPE_URLS.cluster,
      versionInfo: first.versionInfo,
      responseNonce: second.nonce,
      resourceNames: [],
      errorDetail: { code: 3, message: 'cluster bad: invalid' },
    });
    await client.expectNothing(400);

    expect(nacks).toHaveLength(1);
    expect(nacks[0]).toMatchObject({
      proxyKey: ROLE_A,
      typeUrl: TYPE_URLS.cluster,
      mode: 'sotw',
      nonce: second.nonce,
      versionInfo: first.versionInfo,
      rejectedVersion: second.versionInfo,
      resourceNames: ['bad', 'c1'],
      errorDetail: { code: 3, message: 'cluster bad: invalid' },
    });
    const warnings = logLines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      proxy: ROLE_A,
      typeUrl: TYPE_URLS.cluster,
      nonce: second.nonce,
      error: 'cluster bad: invalid',
    });
    expect(await metricValue(metrics.nacks, { type_url: TYPE_URLS.cluster, proxy: ROLE_A })).toBe(1);
    expect(server.streamInfo()[0].types[0]).toMatchObject({
      ackedVersion: first.versionInfo,
      lastNack: { nonce: second.nonce, message: 'cluster bad: invalid' },
    });

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), cluster('bad', 2)));
    const fixed = await client.next();
    expect(fixed.nonce).not.toBe(second.nonce);
    expect(names(fixed)).toEqual(['bad', 'c1']);
    expect(fixed.versionInfo).not.toBe(second.versionInfo);
  });

  it('ignores requests with a stale nonce', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1'), route('r2', 'c2')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    const first = await client.next();
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c9'), route('r2', 'c2')));
    const second = await client.next();

    // The client's ACK of the first response crosses the second one: stale, so ignored even
    // though it names r2 and carries an error.
    client.send({
      typeUrl: TYPE_URLS.route,
      versionInfo: first.versionInfo,
      responseNonce: first.nonce,
      resourceNames: ['r1', 'r2'],
    });
    client.send({
      typeUrl: TYPE_URLS.route,
      versionInfo: first.versionInfo,
      responseNonce: first.nonce,
      resourceNames: ['r1'],
      errorDetail: { code: 3, message: 'old' },
    });
    await client.expectNothing(300);
    expect(nacks).toHaveLength(0);
    expect(acks).toHaveLength(0);

    // The subscription did not change: r2 changing is not pushed.
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c9'), route('r2', 'c3')));
    await client.expectNothing(200);

    client.ack(second, ['r1']);
    await client.expectNothing(200);
    expect(acks).toHaveLength(1);
    expect(acks[0].nonce).toBe(second.nonce);
  });

  it('follows resource_names as the complete set (subscribe and unsubscribe)', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1'), route('r2', 'c2')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    const first = await client.next();
    expect(names(first)).toEqual(['r1']);

    client.ack(first, ['r1', 'r2']);
    const both = await client.next();
    expect(names(both)).toEqual(['r1', 'r2']);

    client.ack(both, ['r2']);
    const onlyR2 = await client.next();
    expect(names(onlyR2)).toEqual(['r2']);
    client.ack(onlyR2, ['r2']);
    await client.expectNothing(150);

    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c7'), route('r2', 'c2')));
    await client.expectNothing(200);
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c7'), route('r2', 'c8')));
    const pushed = await client.next();
    expect(names(pushed)).toEqual(['r2']);
    expect(sotwResources(pushed).get('r2')).toMatchObject({
      virtualHosts: [{ routes: [{ route: { cluster: 'c8' } }] }],
    });
  });

  it('omits removed LDS/CDS resources; an RDS removal changes the version only (clusters removed last)', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), cluster('c2'), route('r1', 'c1'), route('r2', 'c2')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster, resourceNames: [] });
    client.ack(await client.next(), []);
    client.send({ typeUrl: TYPE_URLS.route, resourceNames: ['r1', 'r2'] });
    client.ack(await client.next(), ['r1', 'r2']);

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), route('r1', 'c1')));
    // Routes and clusters both changed: the cluster removal waits until the routes are updated.
    const rds = await client.next();
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TYPE_URLS.cluster);
    expect(names(cds)).toEqual(['c1']);
    expect(rds.typeUrl).toBe(TYPE_URLS.route);
    // Absence from an RDS response does not delete: nothing to carry, the version says r2 is gone.
    expect(names(rds)).toEqual([]);
    expect(rds.versionInfo).toBe(sotwVersionOf([route('r1', 'c1')]));

    client.ack(cds, []);
    client.ack(rds, ['r1', 'r2']);
    // Only clusters change: nothing to wait for.
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1')));
    const emptied = await client.next();
    expect(emptied.typeUrl).toBe(TYPE_URLS.cluster);
    expect(names(emptied)).toEqual([]);
    client.ack(emptied, []);
    cache.setSnapshot(ROLE_A, snapshotOf());
    const noRoutes = await client.next();
    expect(noRoutes.typeUrl).toBe(TYPE_URLS.route);
    expect(names(noRoutes)).toEqual([]);
  });

  it('pushes CDS, EDS, LDS, RDS in order and removes unused clusters last', async () => {
    cache.setSnapshot(
      ROLE_A,
      snapshotOf(
        cluster('c1'),
        cluster('c2'),
        endpoints('c1'),
        endpoints('c2'),
        listener('l1'),
        route('r1', 'c2'),
      ),
    );
    const client = sotwClient();
    // Requested in the "wrong" order on purpose.
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    client.send({ typeUrl: TYPE_URLS.listener, resourceNames: [] });
    client.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: ['c1', 'c2'] });
    client.send({ typeUrl: TYPE_URLS.cluster, resourceNames: [] });
    for (const requested of [['r1'], [], ['c1', 'c2'], []]) client.ack(await client.next(), requested);
    await client.expectNothing(150);

    cache.setSnapshot(
      ROLE_A,
      snapshotOf(
        cluster('c1'),
        cluster('c3'),
        endpoints('c1', 9090),
        endpoints('c3'),
        listener('l1', 'changed'),
        route('r1', 'c3'),
      ),
    );
    const responses: SotwResponse[] = [];
    for (let i = 0; i < 6; i++) responses.push(await client.next());
    const order = responses.map((response) => response.typeUrl);
    const contents = responses.map(names);
    // c2 (cluster and endpoints) stays until the listener and route stopped using it.
    expect(order).toEqual([
      TYPE_URLS.cluster,
      TYPE_URLS.endpoint,
      TYPE_URLS.listener,
      TYPE_URLS.route,
      TYPE_URLS.cluster,
      TYPE_URLS.endpoint,
    ]);
    // EDS carries only what changed; its removal step only moves the version (c2 no longer in it).
    expect(contents).toEqual([['c1', 'c2', 'c3'], ['c1'], ['l1'], ['r1'], ['c1', 'c3'], []]);
    expect(responses[1].versionInfo).toBe(sotwVersionOf([endpoints('c1', 9090), endpoints('c2')]));
    expect(responses[5].versionInfo).toBe(sotwVersionOf([endpoints('c1', 9090)]));
    expect(sotwResources(responses[1]).get('c1')).toMatchObject({
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { portValue: 9090 } } } }] }],
    });
    await client.expectNothing(100);
  });

  it('keys streams by node role and pushes only to the proxy whose snapshot changed', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('a1')));
    cache.setSnapshot(ROLE_B, snapshotOf(cluster('b1'), cluster('b2')));
    const a = sotwClient();
    const b = sotwClient();
    a.send({ node: nodeWithRole('na', ROLE_A), typeUrl: TYPE_URLS.cluster });
    b.send({ node: nodeWithRole('nb', ROLE_B), typeUrl: TYPE_URLS.cluster });
    const fromA = await a.next();
    const fromB = await b.next();
    expect(names(fromA)).toEqual(['a1']);
    expect(names(fromB)).toEqual(['b1', 'b2']);
    a.ack(fromA, []);
    b.ack(fromB, []);
    expect(await metricValue(metrics.connectedProxies, { proxy: ROLE_A })).toBe(1);
    expect(await metricValue(metrics.connectedProxies, { proxy: ROLE_B })).toBe(1);

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('a1'), cluster('a2')));
    expect(names(await a.next())).toEqual(['a1', 'a2']);
    await b.expectNothing(200);
    expect(await metricValue(metrics.pushes, { type_url: TYPE_URLS.cluster, mode: 'sotw' })).toBe(3);
  });

  it('gives a node without a role the gateway-proxy snapshot', async () => {
    cache.setSnapshot(DEFAULT_PROXY_KEY, snapshotOf(listener('default')));
    cache.setSnapshot(ROLE_A, snapshotOf(listener('other')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('plain'), typeUrl: TYPE_URLS.listener });
    expect(names(await client.next())).toEqual(['default']);
    expect(server.streamInfo()[0].proxyKey).toBe('gateway-proxy');
  });

  it('gives a reconnecting client the full state on its new stream', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), route('r1', 'c1')));
    const first = sotwClient();
    first.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster });
    const cds = await first.next();
    first.ack(cds, []);
    await waitFor(() => server.connectedStreams() === 1);
    first.close();
    await waitFor(() => server.connectedStreams() === 0);
    expect(await metricValue(metrics.connectedProxies, { proxy: ROLE_A })).toBe(0);

    const second = sotwClient();
    second.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.cluster,
      versionInfo: cds.versionInfo,
    });
    second.send({ typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    const again = await second.next();
    expect(names(again)).toEqual(['c1']);
    expect(again.versionInfo).toBe(cds.versionInfo);
    expect(names(await second.next())).toEqual(['r1']);
  });

  it('ends every stream promptly on stop()', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1')));
    const a = sotwClient();
    const b = deltaClient();
    a.send({ node: nodeWithRole('a', ROLE_A), typeUrl: TYPE_URLS.cluster });
    b.send({ node: nodeWithRole('b', ROLE_A), typeUrl: TYPE_URLS.cluster });
    await a.next();
    await b.next();
    expect(server.connectedStreams()).toBe(2);
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => a.status !== undefined && b.status !== undefined);
    expect(a.status?.code).toBe(grpc.status.UNAVAILABLE);
    expect(server.connectedStreams()).toBe(0);
  });
});

describe('AdsServer delta', () => {
  it('sends every resource to an initial wildcard subscription with per-resource versions', async () => {
    const c1 = cluster('c1');
    const c2 = cluster('c2');
    cache.setSnapshot(ROLE_A, snapshotOf(c1, c2, route('r1', 'c1')));
    const client = deltaClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.cluster });
    const response = await client.next();
    expect(response.typeUrl).toBe(TYPE_URLS.cluster);
    expect(response.nonce).not.toBe('');
    expect(response.removedResources).toEqual([]);
    const got = deltaResources(response);
    expect([...got.keys()].sort()).toEqual(['c1', 'c2']);
    expect(got.get('c1')?.version).toBe(c1.version);
    expect(got.get('c2')?.message).toMatchObject({ name: 'c2', type: 'EDS' });
    client.ack(response);
    await client.expectNothing(200);
    expect(acks).toMatchObject([{ mode: 'delta', nonce: response.nonce, resourceNames: ['c1', 'c2'] }]);
  });

  it('answers a first wildcard request even when there is nothing yet', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.listener,
      resourceNamesSubscribe: ['*'],
    });
    const response = await client.next();
    expect(response.resources).toEqual([]);
    expect(response.removedResources).toEqual([]);
  });

  it('sends only what changed, and removals in removed_resources', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), cluster('c2'), cluster('c3')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.cluster,
      resourceNamesSubscribe: ['*'],
    });
    client.ack(await client.next());

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1', 7), cluster('c2'), cluster('c3'), cluster('c4')));
    const update = await client.next();
    expect(deltaNames(update)).toEqual(['c1', 'c4']);
    expect(update.removedResources).toEqual([]);
    client.ack(update);

    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1', 7), cluster('c3'), cluster('c4')));
    const removal = await client.next();
    expect(removal.resources).toEqual([]);
    expect(removal.removedResources).toEqual(['c2']);
    client.ack(removal);
    await client.expectNothing(200);
  });

  it('puts subscribed names that do not exist in removed_resources, and sends them when they appear', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(endpoints('c1')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.endpoint,
      resourceNamesSubscribe: ['c1', 'ghost'],
    });
    const first = await client.next();
    expect(deltaNames(first)).toEqual(['c1']);
    expect(first.removedResources).toEqual(['ghost']);
    client.ack(first);
    await client.expectNothing(150);

    cache.setSnapshot(ROLE_A, snapshotOf(endpoints('c1'), endpoints('ghost')));
    const appeared = await client.next();
    expect(deltaNames(appeared)).toEqual(['ghost']);
    expect(appeared.removedResources).toEqual([]);
  });

  it('honours initial_resource_versions', async () => {
    const c1 = cluster('c1');
    cache.setSnapshot(ROLE_A, snapshotOf(c1, cluster('c2'), cluster('c3')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.cluster,
      resourceNamesSubscribe: ['*'],
      initialResourceVersions: { c1: c1.version, c2: 'stale-version', gone: 'v0' },
    });
    const response = await client.next();
    expect(deltaNames(response)).toEqual(['c2', 'c3']);
    expect(response.removedResources).toEqual(['gone']);
    client.ack(response);
    await client.expectNothing(200);
  });

  it('applies unsubscribe, stops pushing those names, and re-sends a name subscribed again', async () => {
    const e2 = endpoints('c2');
    cache.setSnapshot(ROLE_A, snapshotOf(endpoints('c1'), e2));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.endpoint,
      resourceNamesSubscribe: ['c1', 'c2'],
    });
    const first = await client.next();
    expect(deltaNames(first)).toEqual(['c1', 'c2']);
    client.send({
      typeUrl: TYPE_URLS.endpoint,
      responseNonce: first.nonce,
      resourceNamesUnsubscribe: ['c2'],
    });
    await client.expectNothing(200);

    cache.setSnapshot(ROLE_A, snapshotOf(endpoints('c1'), endpoints('c2', 9999)));
    await client.expectNothing(200);
    cache.setSnapshot(ROLE_A, snapshotOf(endpoints('c1', 7777), endpoints('c2', 9999)));
    const onlyC1 = await client.next();
    expect(deltaNames(onlyC1)).toEqual(['c1']);

    // Subscribing again, with a stale nonce (the first one): still applied, c2 sent again.
    client.send({ typeUrl: TYPE_URLS.endpoint, responseNonce: first.nonce, resourceNamesSubscribe: ['c2'] });
    const again = await client.next();
    expect(deltaNames(again)).toEqual(['c2']);
    expect(deltaResources(again).get('c2')?.message).toMatchObject({
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { portValue: 9999 } } } }] }],
    });
  });

  it('handles a NACK without re-sending, then sends the next change', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.route,
      resourceNamesSubscribe: ['r1'],
    });
    const first = await client.next();
    client.send({
      typeUrl: TYPE_URLS.route,
      responseNonce: first.nonce,
      errorDetail: { code: 3, message: 'route r1: unknown cluster' },
    });
    await client.expectNothing(400);
    expect(nacks).toHaveLength(1);
    expect(nacks[0]).toMatchObject({
      proxyKey: ROLE_A,
      mode: 'delta',
      typeUrl: TYPE_URLS.route,
      nonce: first.nonce,
      resourceNames: ['r1'],
      errorDetail: { message: 'route r1: unknown cluster' },
    });
    expect(logLines.filter((line) => line.level === 40)).toHaveLength(1);
    expect(await metricValue(metrics.nacks, { type_url: TYPE_URLS.route, proxy: ROLE_A })).toBe(1);

    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c2')));
    const fixed = await client.next();
    expect(deltaNames(fixed)).toEqual(['r1']);
    expect(await metricValue(metrics.pushes, { type_url: TYPE_URLS.route, mode: 'delta' })).toBe(2);
  });

  it('does not push when another proxy snapshot changes, or when nothing it holds changed', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), endpoints('c1')));
    cache.setSnapshot(ROLE_B, snapshotOf(cluster('c1')));
    const client = deltaClient();
    client.send({
      node: nodeWithRole('n1', ROLE_A),
      typeUrl: TYPE_URLS.cluster,
      resourceNamesSubscribe: ['*'],
    });
    client.ack(await client.next());
    client.send({ typeUrl: TYPE_URLS.endpoint, resourceNamesSubscribe: ['c1'] });
    client.ack(await client.next());

    cache.setSnapshot(ROLE_B, snapshotOf(cluster('c1', 9), cluster('b2')));
    await client.expectNothing(200);
    cache.setSnapshot(ROLE_A, snapshotOf(cluster('c1'), endpoints('c1'), endpoints('unsubscribed')));
    await client.expectNothing(200);
  });
});

describe('AdsServer pushes', () => {
  const ROUTES = ['r0', 'r1', 'r2', 'r3', 'r4'];
  const CLUSTERS = ['c0', 'c1', 'c2', 'c3', 'c4'];

  function world(variant: Record<string, number> = {}, without: string[] = []): XdsResource[] {
    const resources: XdsResource[] = [];
    for (const name of ROUTES)
      if (!without.includes(name)) resources.push(route(name, `to-${variant[name] ?? 0}`));
    for (const name of CLUSTERS)
      if (!without.includes(name)) resources.push(endpoints(name, 8000 + (variant[name] ?? 0)));
    return resources;
  }

  function ofType(resources: XdsResource[], typeUrl: TypeUrl): XdsResource[] {
    return resources.filter((r) => r.typeUrl === typeUrl);
  }

  async function subscribeAll(client: SotwClient, nodeId: string): Promise<SotwResponse[]> {
    client.send({ node: nodeWithRole(nodeId, ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ROUTES });
    const rds = await client.next();
    client.ack(rds, ROUTES);
    client.send({ typeUrl: TYPE_URLS.endpoint, resourceNames: CLUSTERS });
    const eds = await client.next();
    client.ack(eds, CLUSTERS);
    return [rds, eds];
  }

  it('sends RDS and EDS SotW pushes as subsets with the version of the whole state', async () => {
    const initial = world();
    cache.setSnapshot(ROLE_A, snapshotOf(...initial));
    const a = sotwClient();
    const [rds, eds] = await subscribeAll(a, 'a');
    expect(names(rds)).toEqual(ROUTES);
    expect(names(eds)).toEqual(CLUSTERS);
    expect(rds.versionInfo).toBe(sotwVersionOf(ofType(initial, TYPE_URLS.route)));
    await waitFor(() => acks.length === 2);

    // One route and one endpoint set change: each response carries only that resource.
    const changed = world({ r2: 1, c3: 1 });
    cache.setSnapshot(ROLE_A, snapshotOf(...changed));
    const eds2 = await a.next();
    const rds2 = await a.next();
    expect([eds2.typeUrl, rds2.typeUrl]).toEqual([TYPE_URLS.endpoint, TYPE_URLS.route]);
    expect(names(eds2)).toEqual(['c3']);
    expect(names(rds2)).toEqual(['r2']);
    expect(sotwResources(rds2).get('r2')).toMatchObject({
      virtualHosts: [{ routes: [{ route: { cluster: 'to-1' } }] }],
    });
    expect(rds2.versionInfo).toBe(sotwVersionOf(ofType(changed, TYPE_URLS.route)));
    expect(eds2.versionInfo).toBe(sotwVersionOf(ofType(changed, TYPE_URLS.endpoint)));
    a.ack(eds2, CLUSTERS);
    a.ack(rds2, ROUTES);
    await waitFor(() => acks.length === 4);
    expect(acks[3]).toMatchObject({ typeUrl: TYPE_URLS.route, resourceNames: ['r2'] });

    // A client connecting now gets every name it asks for, under the same versions.
    const b = sotwClient();
    const [rdsB, edsB] = await subscribeAll(b, 'b');
    expect(names(rdsB)).toEqual(ROUTES);
    expect(names(edsB)).toEqual(CLUSTERS);
    expect(rdsB.versionInfo).toBe(rds2.versionInfo);
    expect(edsB.versionInfo).toBe(eds2.versionInfo);
    expect(sotwResources(rdsB).get('r2')).toEqual(sotwResources(rds2).get('r2'));

    // A removal carries nothing (absence does not delete in RDS/EDS) but moves the version.
    const removed = world({ r2: 1, c3: 1 }, ['r4']);
    cache.setSnapshot(ROLE_A, snapshotOf(...removed));
    for (const client of [a, b]) {
      const response = await client.next();
      expect(response.typeUrl).toBe(TYPE_URLS.route);
      expect(response.resources).toEqual([]);
      expect(response.versionInfo).toBe(sotwVersionOf(ofType(removed, TYPE_URLS.route)));
      client.ack(response, ROUTES);
    }
    // ... and it comes back when it appears again.
    cache.setSnapshot(ROLE_A, snapshotOf(...world({ r2: 1, c3: 1, r4: 2 })));
    for (const client of [a, b]) {
      const response = await client.next();
      expect(names(response)).toEqual(['r4']);
      expect(response.versionInfo).toBe(
        sotwVersionOf(ofType(world({ r2: 1, c3: 1, r4: 2 }), TYPE_URLS.route)),
      );
    }
    await a.expectNothing(100);
    await b.expectNothing(0);
  });

  it('does nothing for an ACK that repeats the names, in any order', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `r${i}`);
    cache.setSnapshot(ROLE_A, snapshotOf(route('r0', 'c0'), route('r1', 'c1')));
    const client = sotwClient();
    client.send({ node: nodeWithRole('n1', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: many });
    const first = await client.next();
    expect(names(first)).toEqual(['r0', 'r1']);
    const subscribed = server.streamInfo()[0].types[0].resourceNames;
    expect(subscribed).toHaveLength(2000);

    client.ack(first, many);
    await client.expectNothing(150);
    expect(acks).toHaveLength(1);
    // The subscription was not rebuilt (same sorted list object).
    expect(server.streamInfo()[0].types[0].resourceNames).toBe(subscribed);

    // A re-ordered list is the same subscription: still nothing to send, nothing rebuilt.
    cache.setSnapshot(ROLE_A, snapshotOf(route('r0', 'c9'), route('r1', 'c1')));
    const pushed = await client.next();
    expect(names(pushed)).toEqual(['r0']);
    client.ack(pushed, [...many].reverse());
    await client.expectNothing(150);
    expect(acks).toHaveLength(2);
    expect(server.streamInfo()[0].types[0].resourceNames).toBe(subscribed);

    // A changed subscription is answered with the whole subscribed set.
    client.ack(pushed, [...many, 'extra']);
    await client.expectNothing(100); // 'extra' does not exist: the state did not change
    client.send({
      typeUrl: TYPE_URLS.route,
      versionInfo: pushed.versionInfo,
      responseNonce: pushed.nonce,
      resourceNames: ['r1'],
    });
    expect(names(await client.next())).toEqual(['r1']);
  });

  it('never sends a stream the same nonce twice, even for content it was sent before', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(route('r1', 'c1'), route('r2', 'c2')));
    const a = sotwClient();
    const b = sotwClient();
    a.send({ node: nodeWithRole('a', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    b.send({ node: nodeWithRole('b', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['r1'] });
    const a1 = await a.next();
    const b1 = await b.next();
    // Identical content is serialized once: the streams share the response, nonce included.
    expect(b1.nonce).toBe(a1.nonce);
    a.ack(a1, ['r1', 'r2']);
    const a2 = await a.next();
    a.ack(a2, ['r1']);
    const a3 = await a.next();
    expect(a3.versionInfo).toBe(a1.versionInfo);
    expect(new Set([a1.nonce, a2.nonce, a3.nonce]).size).toBe(3);
    a.ack(a3, ['r1']);
    await a.expectNothing(100);
    expect(acks.map((ack) => ack.nonce)).toEqual([a1.nonce, a2.nonce, a3.nonce]);
  });

  it('pushes a change to many streams', async () => {
    cache.setSnapshot(ROLE_A, snapshotOf(...world()));
    const streams = Array.from({ length: 60 }, () => sotwClient());
    await Promise.all(
      streams.map(async (client, i) => {
        client.send({ node: nodeWithRole(`n${i}`, ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ROUTES });
        client.ack(await client.next(), ROUTES);
      }),
    );
    cache.setSnapshot(ROLE_A, snapshotOf(...world({ r1: 5 })));
    const responses = await Promise.all(streams.map((client) => client.next()));
    for (const response of responses) expect(names(response)).toEqual(['r1']);
    expect(new Set(responses.map((r) => r.versionInfo)).size).toBe(1);
  });

  it('gives a stream that does not read only the newest state later, without delaying the others', async () => {
    const pad = 256 * 1024; // well over the 64 KiB HTTP/2 stream window
    const state = (bigTo: string, smallTo: string) =>
      snapshotOf(bigRoute('big', bigTo, pad), route('small', smallTo));
    const wanted = ['big', 'small'];
    cache.setSnapshot(ROLE_A, state('c0', 'c0'));

    const slow = new RawHttp2SotwClient(port);
    clients.push(slow);
    slow.send({ node: nodeWithRole('slow', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: wanted });
    expect(names(await slow.next())).toEqual(wanted);
    const fast = sotwClient();
    fast.send({ node: nodeWithRole('fast', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: wanted });
    fast.ack(await fast.next(), wanted);

    slow.pause();
    const pushed: SotwResponse[] = [];
    for (const [bigTo, smallTo] of [
      ['c1', 'c0'],
      ['c2', 'c0'],
      ['c2', 'c3'],
    ]) {
      const started = Date.now();
      cache.setSnapshot(ROLE_A, state(bigTo, smallTo));
      const response = await fast.next();
      expect(Date.now() - started).toBeLessThan(1000);
      fast.ack(response, wanted);
      pushed.push(response);
    }
    expect(pushed.map(names)).toEqual([['big'], ['big'], ['small']]);
    expect(slow.received).toHaveLength(1);

    slow.resume();
    // The response that was on its way when the stream stalled, then one with the newest state.
    const inFlight = await slow.next();
    expect(inFlight.versionInfo).toBe(pushed[0].versionInfo);
    const newest = await slow.next();
    expect(newest.versionInfo).toBe(pushed[2].versionInfo);
    expect(names(newest)).toEqual(wanted);
    expect(sotwResources(newest).get('big')).toMatchObject({
      virtualHosts: [{ routes: [{ route: { cluster: 'c2' } }] }],
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(slow.received).toHaveLength(3);
  });

  it('holds streams back beyond the write budget, and a stalled stream does not hold up the rest', async () => {
    const local = new AdsServer({
      cache,
      metrics: new Metrics(),
      logger: pino({ level: 'silent' }),
      shutdownGraceMs: 200,
      writeBudgetBytes: 1, // one stream writing at a time
      stalledWriteMs: 300,
    });
    const localPort = await local.start('127.0.0.1:0');
    try {
      const state = (to: string) => snapshotOf(bigRoute('big', to, 256 * 1024));
      cache.setSnapshot(ROLE_A, state('c0'));
      const slow = new RawHttp2SotwClient(localPort);
      clients.push(slow);
      slow.send({ node: nodeWithRole('slow', ROLE_A), typeUrl: TYPE_URLS.route, resourceNames: ['big'] });
      await slow.next();
      const others = Array.from({ length: 8 }, () => {
        const client = new SotwClient(localPort);
        clients.push(client);
        return client;
      });
      // The initial responses go out one stream at a time.
      await Promise.all(
        others.map(async (client, i) => {
          client.send({
            node: nodeWithRole(`n${i}`, ROLE_A),
            typeUrl: TYPE_URLS.route,
            resourceNames: ['big'],
          });
          client.ack(await client.next(), ['big']);
        }),
      );

      slow.pause();
      const started = Date.now();
      cache.setSnapshot(ROLE_A, state('c1'));
      // The slow stream (first registered, first written) holds the budget until it counts as stalled.
      const responses = await Promise.all(others.map((client) => client.next(5000)));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250); // held back by the budget...
      expect(elapsed).toBeLessThan(3000); // ... until the slow stream counted as stalled
      for (const response of responses) {
        expect(names(response)).toEqual(['big']);
        expect(response.versionInfo).toBe(responses[0].versionInfo);
      }
      slow.resume();
      expect((await slow.next()).versionInfo).toBe(responses[0].versionInfo);
    } finally {
      await local.stop();
    }
  });
});

/**
 * End to end with a real xDS client: Sluice (file store -> translation -> ADS) configures proxyless gRPC
 * channels of `@grpc/grpc-js-xds`, whose calls reach real `@grpc/grpc-js` backends.
 *
 * Backends a, b and c answer `sluice.test.Echo` (fixtures/echo.proto) with their own name. Each scenario
 * has its own VirtualService and domain, so each client (`xds:///DOMAIN`) gets its own api_listener.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type * as grpc from '@grpc/grpc-js';
import type { RunningSluice } from '../../src/control-plane/sluice-server';
import { ECHO_SERVICE, callEcho, type EchoBackend, type WhoReply } from '../helpers/echo-backend';
import {
  GrpcXdsHarness,
  callMany as callEchoMany,
  httpGet,
  meta,
  proxylessGateway,
  virtualService,
  type Document,
} from '../helpers/grpc-xds-harness';
import { waitFor } from '../helpers/wait';

jest.setTimeout(30000);

const DOMAINS = {
  routing: 'routing.test',
  canary: 'canary.test',
  split: 'split.test',
  live: 'live.test',
} as const;
type Scenario = keyof typeof DOMAINS;

let harness: GrpcXdsHarness | undefined;
let sluice: RunningSluice | undefined;
let backends: Record<string, EchoBackend> = {};
const clients = new Map<Scenario, grpc.Client>();

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

function upstream(name: string, port: number): Record<string, unknown> {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: meta(name),
    spec: { static: { hosts: [{ address: '127.0.0.1', port }] } },
  };
}

function to(upstreamName: string): Record<string, unknown> {
  return { single: { upstream: meta(upstreamName) } };
}

function liveVirtualService(upstreamName: string): Record<string, unknown> {
  return virtualService('live', DOMAINS.live, [
    { matchers: [{ prefix: '/' }], routeAction: to(upstreamName) },
  ]);
}

function writeYaml(file: string, ...documents: Document[]): Promise<void> {
  return harness!.writeYaml(file, ...documents);
}

async function writeInitialConfig(): Promise<void> {
  await writeYaml('gateway.yaml', proxylessGateway('grpc'));
  await writeYaml(
    'upstreams.yaml',
    upstream('backend-a', backends.a.port),
    upstream('backend-b', backends.b.port),
    upstream('backend-c', backends.c.port),
  );
  await writeYaml(
    'vs-routing.yaml',
    virtualService('routing', DOMAINS.routing, [
      { matchers: [{ exact: `/${ECHO_SERVICE}/Other` }], routeAction: to('backend-b') },
      { matchers: [{ prefix: `/${ECHO_SERVICE}/` }], routeAction: to('backend-a') },
    ]),
  );
  await writeYaml(
    'vs-canary.yaml',
    virtualService('canary', DOMAINS.canary, [
      {
        matchers: [{ prefix: `/${ECHO_SERVICE}/`, headers: [{ name: 'x-canary', value: 'true' }] }],
        routeAction: to('backend-b'),
      },
      { matchers: [{ prefix: '/' }], routeAction: to('backend-a') },
    ]),
  );
  await writeYaml(
    'vs-split.yaml',
    virtualService('split', DOMAINS.split, [
      {
        matchers: [{ prefix: '/' }],
        routeAction: {
          multi: {
            destinations: [
              { weight: 80, destination: { upstream: meta('backend-a') } },
              { weight: 20, destination: { upstream: meta('backend-b') } },
            ],
          },
        },
      },
    ]),
  );
  await writeYaml('vs-live.yaml', liveVirtualService('backend-a'));
}

// ---------------------------------------------------------------------------------------------
// Admin HTTP
// ---------------------------------------------------------------------------------------------

/** Sum of every sample of a metric family in Prometheus text format (undefined when absent). */
function metricValue(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`).exec(line);
    if (match) total = (total ?? 0) + Number(match[1]);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

function client(scenario: Scenario): grpc.Client {
  const found = clients.get(scenario);
  if (!found) throw new Error(`no client for ${scenario}`);
  return found;
}

/** `count` calls of Who, `concurrency` at a time. */
function callMany(scenario: Scenario, count: number, concurrency = 40) {
  return callEchoMany(client(scenario), 'Who', count, concurrency);
}

function statusFile(): Promise<{ statuses: Record<string, { state: string; reasons?: string[] }> }> {
  return fsp
    .readFile(path.join(harness!.dir, '.sluice', 'status.json'), 'utf8')
    .then((text) => JSON.parse(text));
}

// ---------------------------------------------------------------------------------------------
// Setup and teardown
// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  harness = await GrpcXdsHarness.start(['a', 'b', 'c']);
  backends = harness.backends;
  await writeInitialConfig();
  sluice = await harness.serve();
  for (const scenario of Object.keys(DOMAINS) as Scenario[]) {
    clients.set(scenario, harness.client(DOMAINS[scenario]));
  }
  // The first call on each channel waits for the whole LDS -> RDS -> CDS -> EDS chain.
  await Promise.all(
    [...clients.values()].map((channelClient) =>
      callEcho(channelClient, 'Who', { waitForReady: true, timeoutMs: 15000 }),
    ),
  );
}, 30000);

afterAll(async () => {
  clients.clear();
  await harness?.close();
}, 20000);

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('proxyless gRPC clients configured by Sluice', () => {
  test('every resource of the initial config is Accepted, and the status file says so', async () => {
    const statuses = sluice!.controlPlane.currentStatuses();
    for (const key of [
      'Gateway/default/grpc',
      'Upstream/default/backend-a',
      'Upstream/default/backend-b',
      'Upstream/default/backend-c',
      'VirtualService/default/routing',
      'VirtualService/default/canary',
      'VirtualService/default/split',
      'VirtualService/default/live',
    ]) {
      expect({ key, status: statuses.get(key) }).toEqual({
        key,
        status: expect.objectContaining({ state: 'Accepted' }),
      });
    }
    const file = await waitFor('status.json with the initial statuses', async () => {
      const contents = await statusFile();
      return contents.statuses['VirtualService/default/live'] ? contents : undefined;
    });
    expect(file.statuses['Upstream/default/backend-a'].state).toBe('Accepted');
    expect(file.statuses['VirtualService/default/routing'].state).toBe('Accepted');
  });

  test('an exact route and a prefix route reach different backends', async () => {
    const replies: WhoReply[] = [];
    for (let i = 0; i < 5; i++) {
      replies.push(await callEcho(client('routing'), 'Other'));
      replies.push(await callEcho(client('routing'), 'Who'));
    }
    for (const reply of replies) {
      // exact /sluice.test.Echo/Other -> b; everything else under the prefix -> a
      expect(reply).toEqual({
        backend: reply.method === 'Other' ? 'b' : 'a',
        method: reply.method,
        canary: '',
      });
    }
    expect(replies.filter((reply) => reply.method === 'Other')).toHaveLength(5);
  });

  test('a header matcher sends x-canary: true to the canary backend and the rest to the main one', async () => {
    const canary = await callEcho(client('canary'), 'Who', { metadata: { 'x-canary': 'true' } });
    expect(canary).toEqual({ backend: 'b', method: 'Who', canary: 'true' });
    const other = await callEcho(client('canary'), 'Other', { metadata: { 'x-canary': 'true' } });
    expect(other).toEqual({ backend: 'b', method: 'Other', canary: 'true' });

    const plain = await callEcho(client('canary'), 'Who');
    expect(plain).toEqual({ backend: 'a', method: 'Who', canary: '' });
    // An exact header match: another value is not the canary.
    const wrongValue = await callEcho(client('canary'), 'Who', { metadata: { 'x-canary': 'false' } });
    expect(wrongValue).toEqual({ backend: 'a', method: 'Who', canary: 'false' });
  });

  test('a weighted split 80/20 divides calls in proportion', async () => {
    const n = 400;
    const { byBackend, errors } = await callMany('split', n);
    expect(errors).toEqual([]);
    expect(Object.keys(byBackend).sort()).toEqual(['a', 'b']);
    expect(byBackend.a + byBackend.b).toBe(n);
    // b ~ Binomial(400, 0.2): mean 80, sd 8; 5 sigma = 40.
    const mean = n * 0.2;
    const sigma = Math.sqrt(n * 0.2 * 0.8);
    expect(byBackend.b).toBeGreaterThanOrEqual(mean - 5 * sigma);
    expect(byBackend.b).toBeLessThanOrEqual(mean + 5 * sigma);
  });

  test('a rewritten VirtualService reaches the running clients without a restart', async () => {
    const before = await callEcho(client('live'), 'Who');
    expect(before.backend).toBe('a');
    const generationBefore = sluice!.controlPlane
      .currentStatuses()
      .get('VirtualService/default/live')?.observedGeneration;
    const pushesBefore =
      metricValue((await httpGet(sluice!.adminPort, '/metrics')).body, 'sluice_xds_pushes_total') ?? 0;
    const cCallsBefore = backends.c.calls.Who;

    await writeYaml('vs-live.yaml', liveVirtualService('backend-c'));

    const seen: string[] = [];
    const errors: string[] = [];
    await waitFor(
      'calls to live.test to reach backend c',
      async () => {
        try {
          const reply = await callEcho(client('live'), 'Who', { timeoutMs: 2000 });
          seen.push(reply.backend);
          return reply.backend === 'c' ? reply : undefined;
        } catch (error) {
          errors.push((error as Error).message);
          return undefined;
        }
      },
      { timeoutMs: 10000, intervalMs: 20 },
    );
    // The switch is make-before-break: no call failed and none went anywhere but the old or new backend.
    expect(errors).toEqual([]);
    expect(seen.filter((backend) => backend !== 'a' && backend !== 'c')).toEqual([]);

    // From now on every call goes to c.
    const after = await callMany('live', 40, 10);
    expect(after).toEqual({ byBackend: { c: 40 }, errors: [] });
    expect(backends.c.calls.Who - cCallsBefore).toBeGreaterThanOrEqual(41);

    const pushesAfter =
      metricValue((await httpGet(sluice!.adminPort, '/metrics')).body, 'sluice_xds_pushes_total') ?? 0;
    expect(pushesAfter).toBeGreaterThan(pushesBefore);
    const generationAfter = sluice!.controlPlane.currentStatuses().get('VirtualService/default/live');
    expect(generationAfter?.state).toBe('Accepted');
    expect(generationBefore).toBeDefined();
    expect(generationAfter?.observedGeneration).toBe((generationBefore as number) + 1);

    // The other scenarios were not disturbed.
    expect(await callEcho(client('routing'), 'Other')).toMatchObject({ backend: 'b' });
  });

  test('an invalid Upstream written during the run is Rejected and the rest keeps being served', async () => {
    await writeYaml('broken.yaml', {
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: meta('broken'),
      spec: { static: { hosts: [{ address: '127.0.0.1', port: 70000 }] } },
    });

    const rejected = await waitFor('Upstream broken to be Rejected in status.json', async () => {
      const status = (await statusFile()).statuses['Upstream/default/broken'];
      return status?.state === 'Rejected' ? status : undefined;
    });
    expect(rejected.reasons?.some((reason) => reason.includes('spec.static.hosts[0].port'))).toBe(true);
    const inMemory = sluice!.controlPlane.currentStatuses().get('Upstream/default/broken');
    expect(inMemory?.state).toBe('Rejected');
    expect(inMemory?.reasons?.join('\n')).toContain('spec.static.hosts[0].port');

    // Everything else is still accepted and still served.
    const statuses = sluice!.controlPlane.currentStatuses();
    for (const key of [
      'Upstream/default/backend-a',
      'Upstream/default/backend-b',
      'VirtualService/default/routing',
    ]) {
      expect({ key, state: statuses.get(key)?.state }).toEqual({ key, state: 'Accepted' });
    }
    expect(await callEcho(client('routing'), 'Who')).toMatchObject({ backend: 'a' });
    expect(await callEcho(client('routing'), 'Other')).toMatchObject({ backend: 'b' });
    expect(await callEcho(client('canary'), 'Who', { metadata: { 'x-canary': 'true' } })).toMatchObject({
      backend: 'b',
    });
    const split = await callMany('split', 40);
    expect(split.errors).toEqual([]);
    expect((split.byBackend.a ?? 0) + (split.byBackend.b ?? 0)).toBe(40);
  });

  test('an invalid edit of an Upstream in use keeps its last good version serving', async () => {
    await writeYaml(
      'upstreams.yaml',
      upstream('backend-a', 70000),
      upstream('backend-b', backends.b.port),
      upstream('backend-c', backends.c.port),
    );
    const rejected = await waitFor('Upstream backend-a to be Rejected', () => {
      const status = sluice!.controlPlane.currentStatuses().get('Upstream/default/backend-a');
      return status?.state === 'Rejected' ? status : undefined;
    });
    expect(rejected.reasons?.join('\n')).toContain('spec.static.hosts[0].port');
    // Calls routed to backend-a still reach it (the last accepted version of the Upstream).
    const { byBackend, errors } = await callMany('canary', 20);
    expect(errors).toEqual([]);
    expect(byBackend).toEqual({ a: 20 });
    // Fixing it is picked up again.
    await writeYaml(
      'upstreams.yaml',
      upstream('backend-a', backends.a.port),
      upstream('backend-b', backends.b.port),
      upstream('backend-c', backends.c.port),
    );
    await waitFor('Upstream backend-a to be Accepted again', () =>
      sluice!.controlPlane.currentStatuses().get('Upstream/default/backend-a')?.state === 'Accepted'
        ? true
        : undefined,
    );
    expect(await callEcho(client('canary'), 'Who')).toMatchObject({ backend: 'a' });
  });

  test('the admin endpoint is ready and its metrics count the connected clients and pushes', async () => {
    const ready = await httpGet(sluice!.adminPort, '/readyz');
    expect(ready.status).toBe(200);
    const healthy = await httpGet(sluice!.adminPort, '/healthz');
    expect(healthy.status).toBe(200);

    const metrics = await httpGet(sluice!.adminPort, '/metrics');
    expect(metrics.status).toBe(200);
    // Four channels, each with its own xDS client and ADS stream.
    expect(metricValue(metrics.body, 'sluice_connected_proxies')).toBeGreaterThan(0);
    // At least one push of each of LDS, RDS, CDS and EDS per stream.
    expect(metricValue(metrics.body, 'sluice_xds_pushes_total')).toBeGreaterThanOrEqual(4 * clients.size);
    expect(metricValue(metrics.body, 'sluice_xds_nacks_total') ?? 0).toBe(0);
  });
});

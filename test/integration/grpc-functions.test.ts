/**
 * gRPC functions end to end: Sluice finds the services of HTTP/2 upstreams by server reflection, and
 * routes that name a function (`package.Service/Method`) send the calls of real proxyless
 * `@grpc/grpc-js-xds` clients to the backends they name.
 *
 * Backends a, b and c answer `sluice.test.Echo` (fixtures/echo.proto) with their own name and offer
 * server reflection. Each scenario has its own VirtualService and domain (`xds:///DOMAIN`).
 */
import * as grpc from '@grpc/grpc-js';
import { DISCOVERY_LABEL } from '../../src/discovery/fds/discoverer';
import type { Json } from '../../src/translator/plugin';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { ECHO_SERVICE, callEcho, servicesDefinedBy, type EchoMethod } from '../helpers/echo-backend';
import {
  GrpcXdsHarness,
  PROXY_KEY,
  callMany,
  httpGet,
  meta,
  proxylessGateway,
  virtualService,
  type Document,
} from '../helpers/grpc-xds-harness';
import { binomialRange } from '../helpers/grpc-xds-split-bounds';
import { waitFor } from '../helpers/wait';

jest.setTimeout(30000);

const WHO = `${ECHO_SERVICE}/Who`;
const OTHER = `${ECHO_SERVICE}/Other`;
const DOMAINS = {
  functions: 'functions.test',
  split: 'split.test',
  every: 'every-function.test',
  late: 'late.test',
} as const;
/** The share of the split's calls that go to backend b. */
const SPLIT_SHARE_B = 0.2;

let harness: GrpcXdsHarness;
const clients: Partial<Record<keyof typeof DOMAINS, grpc.Client>> = {};

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

/** An HTTP/2 upstream, labelled for function discovery unless `discovered` is false. */
function grpcUpstream(backend: string, discovered = true): Document {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: {
      ...meta(`backend-${backend}`),
      ...(discovered ? { labels: { [DISCOVERY_LABEL]: 'enabled' } } : {}),
    },
    spec: {
      static: { http2: true, hosts: [{ address: '127.0.0.1', port: harness.backends[backend].port }] },
    },
  };
}

function upstreams(discoverC: boolean): Document[] {
  return [grpcUpstream('a'), grpcUpstream('b'), grpcUpstream('c', discoverC)];
}

function functionOf(backend: string, name: string): Document {
  return { upstream: meta(`backend-${backend}`), function: name };
}

/** Who and Other each to the backend named; Who with `x-fault: abort` is aborted with HTTP 403. */
function functionsVirtualService(whoBackend: string, otherBackend: string): Document {
  return virtualService('functions', DOMAINS.functions, [
    {
      matchers: [{ headers: [{ name: 'x-fault', value: 'abort' }] }],
      routeAction: { single: functionOf(whoBackend, WHO) },
      options: { faults: { abort: { httpStatus: 403, percentage: 100 } } },
    },
    { routeAction: { single: functionOf(whoBackend, WHO) } },
    { routeAction: { single: functionOf(otherBackend, OTHER) } },
  ]);
}

async function writeInitialConfig(): Promise<void> {
  await harness.writeYaml('gateway.yaml', proxylessGateway('grpc'));
  await harness.writeYaml('upstreams.yaml', ...upstreams(false));
  await harness.writeYaml('vs-functions.yaml', functionsVirtualService('a', 'b'));
  await harness.writeYaml(
    'vs-split.yaml',
    virtualService('split', DOMAINS.split, [
      {
        routeAction: {
          multi: {
            destinations: [
              { weight: 100 * (1 - SPLIT_SHARE_B), destination: functionOf('a', WHO) },
              { weight: 100 * SPLIT_SHARE_B, destination: functionOf('b', WHO) },
            ],
          },
        },
      },
    ]),
  );
  await harness.writeYaml(
    'vs-every.yaml',
    virtualService('every', DOMAINS.every, [
      {
        matchers: [{ prefix: '/' }],
        routeAction: { functions: { upstream: meta('backend-b') } },
        // For HTTP/JSON clients of an Envoy; a proxyless client has no transcoder and must skip it.
        options: { grpc: { json: {} } },
      },
    ]),
  );
  await harness.writeYaml(
    'vs-late.yaml',
    virtualService('late', DOMAINS.late, [{ routeAction: { single: functionOf('c', WHO) } }]),
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function client(scenario: keyof typeof DOMAINS): grpc.Client {
  clients[scenario] ??= harness.client(DOMAINS[scenario]);
  return clients[scenario];
}

function statusOf(kind: string, name: string) {
  return harness.sluice.controlPlane.currentStatuses().get(`${kind}/default/${name}`);
}

async function failureOf(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('the call was expected to fail');
}

/** Calls `method` until a call reaches `backend`; returns the backends that answered and the failures. */
async function untilServedBy(
  scenario: keyof typeof DOMAINS,
  method: EchoMethod,
  backend: string,
): Promise<{ seen: string[]; errors: string[] }> {
  const seen: string[] = [];
  const errors: string[] = [];
  await waitFor(
    `${method} on ${DOMAINS[scenario]} to reach backend ${backend}`,
    async () => {
      try {
        const reply = await callEcho(client(scenario), method, { timeoutMs: 2000 });
        seen.push(reply.backend);
        return reply.backend === backend ? reply : undefined;
      } catch (error) {
        errors.push((error as Error).message);
        return undefined;
      }
    },
    { timeoutMs: 15000, intervalMs: 20 },
  );
  return { seen, errors };
}

// ---------------------------------------------------------------------------------------------
// Setup and teardown
// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  harness = await GrpcXdsHarness.start(['a', 'b', 'c']);
  await writeInitialConfig();
  await harness.serve();
  // Until reflection has answered, the routes name functions nobody knows yet.
  await waitFor(
    'the VirtualServices that route to discovered functions to be Accepted',
    () =>
      ['functions', 'split', 'every'].every((name) => statusOf('VirtualService', name)?.state === 'Accepted')
        ? true
        : undefined,
    { timeoutMs: 15000 },
  );
  // The first call on each channel waits for the whole LDS -> RDS -> CDS -> EDS chain.
  await Promise.all(
    (['functions', 'split', 'every'] as const).map((scenario) =>
      callEcho(client(scenario), 'Who', { waitForReady: true, timeoutMs: 15000 }),
    ),
  );
}, 30000);

afterAll(async () => {
  await harness?.close();
}, 20000);

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe('gRPC functions discovered by reflection and routed to proxyless clients', () => {
  test('reflection finds the services of the labelled upstreams only, with descriptors that define them', async () => {
    const discovered = harness.sluice.fds.current();
    const echo = {
      name: ECHO_SERVICE,
      methods: ['Who', 'Other'].map((name) => ({
        name,
        streaming: 'unary',
        inputType: 'sluice.test.WhoRequest',
        outputType: 'sluice.test.WhoReply',
      })),
    };
    for (const upstream of ['default/backend-a', 'default/backend-b']) {
      const found = discovered.get(upstream);
      // The reflection service itself is infrastructure, not a function.
      expect({
        upstream,
        discoverer: found?.discoverer,
        functions: found?.functions,
        error: found?.error,
      }).toEqual({ upstream, discoverer: 'grpc-reflection', functions: [echo], error: undefined });
      expect(servicesDefinedBy(found?.descriptorSet ?? '')).toEqual([ECHO_SERVICE]);
    }
    expect(discovered.has('default/backend-c')).toBe(false);

    const resources = await httpGet(harness.sluice.adminPort, '/resources');
    expect(resources.status).toBe(200);
    const { statuses } = JSON.parse(resources.body) as {
      statuses: Record<string, { state: string; reasons?: string[] }>;
    };
    for (const key of ['Upstream/default/backend-a', 'VirtualService/default/functions']) {
      expect({ key, state: statuses[key]?.state }).toEqual({ key, state: 'Accepted' });
    }
    // The route to the undiscovered upstream says which function it waits for.
    expect(statuses['VirtualService/default/late']).toMatchObject({ state: 'Warning' });
    expect(statuses['VirtualService/default/late'].reasons?.join('\n')).toContain(`"${WHO}"`);
  });

  test('each call lands on the backend its function route names', async () => {
    const before = { aWho: harness.backends.a.calls.Who, bOther: harness.backends.b.calls.Other };
    const untouched = { aOther: harness.backends.a.calls.Other, bWho: harness.backends.b.calls.Who };
    for (let i = 0; i < 5; i++) {
      expect(await callEcho(client('functions'), 'Who')).toEqual({ backend: 'a', method: 'Who', canary: '' });
      expect(await callEcho(client('functions'), 'Other')).toEqual({
        backend: 'b',
        method: 'Other',
        canary: '',
      });
    }
    expect(harness.backends.a.calls.Who - before.aWho).toBe(5);
    expect(harness.backends.b.calls.Other - before.bOther).toBe(5);
    expect({ aOther: harness.backends.a.calls.Other, bWho: harness.backends.b.calls.Who }).toEqual(untouched);
  });

  test('routeAction.functions serves every method of the upstream, its optional transcoder skipped', async () => {
    expect(await callMany(client('every'), 'Who', 10)).toEqual({ byBackend: { b: 10 }, errors: [] });
    expect(await callMany(client('every'), 'Other', 10)).toEqual({ byBackend: { b: 10 }, errors: [] });
    // What the clients were served: every method's route carries the transcoder, marked optional.
    const dump = await httpGet(harness.sluice.adminPort, `/snapshot?proxy=${PROXY_KEY}`);
    const routeConfigs = (JSON.parse(dump.body) as Record<string, Record<string, Array<{ resource: Json }>>>)[
      PROXY_KEY
    ][TYPE_URLS.route].map(({ resource }) => resource);
    const every = routeConfigs.find((config) => config.name === `${DOMAINS.every}-routes`);
    const routes = ((every?.virtualHosts as Json[])[0].routes ?? []) as Json[];
    expect(routes.map((route) => route.typedPerFilterConfig)).toEqual([
      { 'envoy.filters.http.grpc_json_transcoder': expect.objectContaining({ isOptional: true }) },
      { 'envoy.filters.http.grpc_json_transcoder': expect.objectContaining({ isOptional: true }) },
    ]);
    expect(statusOf('VirtualService', 'every')?.state).toBe('Accepted');
  });

  test('a weighted split between two backends on one method divides its calls 80/20', async () => {
    const calls = 500;
    // Fails by chance once in a billion runs; an even or one-sided split is far outside it.
    const { low, high } = binomialRange(calls, SPLIT_SHARE_B, 1e-9);
    expect(low).toBeGreaterThan(0);
    expect(high).toBeLessThan(calls / 2);

    const { byBackend, errors } = await callMany(client('split'), 'Who', calls);
    expect(errors).toEqual([]);
    expect(Object.keys(byBackend).sort()).toEqual(['a', 'b']);
    expect(byBackend.a + byBackend.b).toBe(calls);
    expect(byBackend.b).toBeGreaterThanOrEqual(low);
    expect(byBackend.b).toBeLessThanOrEqual(high);
  });

  test("a route to one method does not catch the service's other methods", async () => {
    const otherCalls = harness.backends.a.calls.Other + harness.backends.b.calls.Other;
    const failure = await failureOf(callEcho(client('split'), 'Other'));
    // A proxyless client answers UNAVAILABLE when no route matches.
    expect(failure.code).toBe(grpc.status.UNAVAILABLE);
    expect(harness.backends.a.calls.Other + harness.backends.b.calls.Other).toBe(otherCalls);
  });

  test('the fault route aborts matching calls with the gRPC status of its HTTP status; others pass', async () => {
    const whoCalls = harness.backends.a.calls.Who;
    for (let i = 0; i < 5; i++) {
      const failure = await failureOf(
        callEcho(client('functions'), 'Who', { metadata: { 'x-fault': 'abort' } }),
      );
      // HTTP 403 is PERMISSION_DENIED in gRPC's HTTP-to-gRPC status mapping.
      expect({ code: failure.code, name: grpc.status[failure.code] }).toEqual({
        code: grpc.status.PERMISSION_DENIED,
        name: 'PERMISSION_DENIED',
      });
    }
    expect(harness.backends.a.calls.Who).toBe(whoCalls);
    const passing = await callEcho(client('functions'), 'Who', { metadata: { 'x-fault': 'no' } });
    expect(passing).toMatchObject({ backend: 'a', method: 'Who' });
    // The fault route's function decides its path: other methods with the header are not aborted.
    const otherMethod = await callEcho(client('functions'), 'Other', { metadata: { 'x-fault': 'abort' } });
    expect(otherMethod).toMatchObject({ backend: 'b', method: 'Other' });
  });

  test('an edited VirtualService swaps the backends of the running clients without a failed call', async () => {
    const generation = statusOf('VirtualService', 'functions')?.observedGeneration;
    await harness.writeYaml('vs-functions.yaml', functionsVirtualService('b', 'a'));

    const { seen, errors } = await untilServedBy('functions', 'Who', 'b');
    expect(errors).toEqual([]);
    expect(seen.filter((backend) => backend !== 'a' && backend !== 'b')).toEqual([]);
    expect(await callMany(client('functions'), 'Who', 20)).toEqual({ byBackend: { b: 20 }, errors: [] });
    expect(await callMany(client('functions'), 'Other', 20)).toEqual({ byBackend: { a: 20 }, errors: [] });
    const failure = await failureOf(
      callEcho(client('functions'), 'Who', { metadata: { 'x-fault': 'abort' } }),
    );
    expect(failure.code).toBe(grpc.status.PERMISSION_DENIED);

    expect(statusOf('VirtualService', 'functions')).toMatchObject({
      state: 'Accepted',
      observedGeneration: (generation as number) + 1,
    });
  });

  test('labelling an upstream for discovery makes the routes to its functions work live', async () => {
    const failure = await failureOf(callEcho(client('late'), 'Who', { timeoutMs: 5000 }));
    expect(failure.code).toBe(grpc.status.UNAVAILABLE);
    expect(harness.backends.c.calls.Who).toBe(0);

    await harness.writeYaml('upstreams.yaml', ...upstreams(true));

    await untilServedBy('late', 'Who', 'c');
    expect(harness.sluice.fds.current().get('default/backend-c')?.functions).toEqual(
      harness.sluice.fds.current().get('default/backend-a')?.functions,
    );
    expect(statusOf('VirtualService', 'late')?.state).toBe('Accepted');
    expect(await callMany(client('late'), 'Who', 10)).toEqual({ byBackend: { c: 10 }, errors: [] });
  });
});

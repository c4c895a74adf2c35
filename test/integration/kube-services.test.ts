import pino from 'pino';
import { startSluice, type RunningSluice } from '../../src/control-plane/sluice-server';
import { KubeClient, type KubeObject } from '../../src/store/kube/kube-client';
import type { ServiceDiscovery } from '../../src/store/kube/service-discovery';
import { storeWithServices } from '../../src/store/kube/store-with-services';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { KubeApiServer } from '../helpers/kube-api-server';
import { endpointSlice, pod, service } from '../helpers/kube-services';
import { waitFor } from '../helpers/wait';
import { nodeWithRole, SotwClient, sotwResources, type SotwResponse } from '../xds/ads-client';

const silent = pino({ level: 'silent' });
const UPSTREAM = 'default-petstore-8080';
const CLUSTER = `${UPSTREAM}_default`;
const ROUTES = 'listener-::-8080-routes';
/** What the client asks for, as Envoy would: every cluster and listener, and what they name. */
const SUBSCRIBED = new Map<string, string[]>([
  [TYPE_URLS.cluster, []],
  [TYPE_URLS.endpoint, [CLUSTER]],
  [TYPE_URLS.listener, []],
  [TYPE_URLS.route, [ROUTES]],
]);

function virtualService(domain: string): KubeObject {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name: 'shop', namespace: 'default' },
    spec: {
      virtualHost: {
        domains: [domain],
        routes: [{ matchers: [{ prefix: '/' }], routeAction: { single: { upstream: { name: UPSTREAM } } } }],
      },
    },
  };
}

/** `address:port` of every endpoint of a decoded ClusterLoadAssignment. */
function addressesOf(assignment: Record<string, unknown> | undefined): string[] | undefined {
  const localities = assignment?.endpoints as
    | Array<{ lbEndpoints?: Array<{ endpoint: { address: { socketAddress: Record<string, unknown> } } }> }>
    | undefined;
  return localities?.flatMap((locality) =>
    (locality.lbEndpoints ?? []).map(({ endpoint }) => {
      const { address, portValue } = endpoint.address.socketAddress;
      return `${String(address)}:${String(portValue)}`;
    }),
  );
}

/**
 * `serve --kube` as serve wires it (`storeWithServices`, discovery started as the sole replica), with a
 * raw ADS client subscribed the way Envoy is: Kubernetes Services become Upstreams and EDS clusters,
 * and a change of endpoints re-sends the ClusterLoadAssignment alone.
 */
describe('Service discovery and EndpointSlices over ADS', () => {
  let server: KubeApiServer;
  let sluice: RunningSluice;
  let discovery: ServiceDiscovery;
  let client: SotwClient;
  /** The latest resources of each type the client received, by name. */
  const latest = new Map<string, Map<string, Record<string, unknown>>>();

  /** Reads responses (ACKing each) until `ready` likes the latest resources. */
  function until<T>(description: string, ready: () => T | undefined): Promise<T> {
    return waitFor(
      description,
      async () => {
        const response: SotwResponse = await client.next(10000);
        const resources = sotwResources(response);
        latest.set(response.typeUrl, resources);
        client.ack(response, SUBSCRIBED.get(response.typeUrl) ?? []);
        return ready();
      },
      { timeoutMs: 20000, intervalMs: 0 },
    );
  }
  const endpointsServed = () => addressesOf(latest.get(TYPE_URLS.endpoint)?.get(CLUSTER));
  const virtualHosts = () =>
    latest.get(TYPE_URLS.route)?.get(ROUTES)?.virtualHosts as
      Array<{ domains: string[]; routes?: Array<{ route?: { cluster?: string } }> }> | undefined;
  const domainsServed = () => virtualHosts()?.flatMap((host) => host.domains);
  /** Routes reach the cluster once the Upstream exists (before, the route is rejected). */
  const routedToCluster = () =>
    virtualHosts()?.some((host) => host.routes?.some((route) => route.route?.cluster === CLUSTER)) ||
    undefined;

  beforeEach(async () => {
    latest.clear();
    server = new KubeApiServer();
    await server.start();
    server.put(service('petstore', [{ name: 'http', port: 8080, targetPort: 'web' }]));
    server.put(
      endpointSlice(
        'petstore',
        'petstore-a',
        [{ name: 'http', port: 3000 }],
        [{ address: '10.1.0.1' }, { address: '10.1.0.2', ready: false }],
      ),
    );
    server.put(virtualService('shop.example.com'));
    const { store, serviceDiscovery } = storeWithServices({
      client: new KubeClient(server.kubeConfig()),
      logger: silent,
      debounceMs: 20,
    });
    sluice = await startSluice({
      store,
      logger: silent,
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
    });
    discovery = serviceDiscovery;
    discovery.start();
    client = new SotwClient(sluice.xdsPort);
    for (const [typeUrl, resourceNames] of SUBSCRIBED) {
      client.send({ node: nodeWithRole('envoy-1'), typeUrl, resourceNames });
    }
  });

  afterEach(async () => {
    client.close();
    await discovery.stop();
    await sluice.stop();
    await server.close();
  });

  it('serves a discovered Service as an EDS cluster whose endpoints are its ready pods on the target port', async () => {
    await until('the ready endpoint', () =>
      endpointsServed()?.join() === '10.1.0.1:3000' ? true : undefined,
    );
    await until('the route to the cluster', routedToCluster);
    expect(latest.get(TYPE_URLS.cluster)?.get(CLUSTER)).toMatchObject({
      type: 'EDS',
      edsClusterConfig: { edsConfig: { ads: {} } },
    });
    const status = await waitFor(
      'the status of the Upstream',
      () => server.object('upstreams', 'default', UPSTREAM)?.status,
    );
    expect(status).toMatchObject({ state: 'Accepted' });
  });

  it('re-sends only the ClusterLoadAssignment when pods come and go', async () => {
    // The route comes last (RDS after CDS and EDS) in the push that follows the Upstream's creation.
    await until('the first endpoints and the route to them', () =>
      endpointsServed()?.length && routedToCluster() ? true : undefined,
    );
    const before = client.received.length;

    server.put(
      endpointSlice(
        'petstore',
        'petstore-a',
        [{ name: 'http', port: 3000 }],
        [{ address: '10.1.0.1' }, { address: '10.1.0.2' }, { address: '10.1.0.3' }],
      ),
    );
    await until('three endpoints', () => (endpointsServed()?.length === 3 ? true : undefined));
    // A change of the routes: whatever the scaling made the server send arrives before this one.
    server.put(virtualService('pets.example.com'));
    await until('the new domain', () => (domainsServed()?.includes('pets.example.com') ? true : undefined));

    const types = client.received.slice(before).map((response) => response.typeUrl);
    expect(types.at(-1)).toBe(TYPE_URLS.route);
    expect(new Set(types.slice(0, -1))).toEqual(new Set([TYPE_URLS.endpoint]));
    expect(endpointsServed()).toEqual(['10.1.0.1:3000', '10.1.0.2:3000', '10.1.0.3:3000']);
  });

  it('follows an Upstream selector as Pods are relabelled, re-sending only the ClusterLoadAssignment', async () => {
    await until('the first endpoints and the route to them', () =>
      endpointsServed()?.length && routedToCluster() ? true : undefined,
    );
    const discovered = server.object('upstreams', 'default', UPSTREAM)!;
    server.put(pod('petstore-1', { version: 'v1' }));
    server.put(pod('petstore-2', { version: 'v2' }));
    server.put(
      endpointSlice(
        'petstore',
        'petstore-a',
        [{ name: 'http', port: 3000 }],
        [
          { address: '10.1.0.1', pod: 'petstore-1' },
          { address: '10.1.0.2', pod: 'petstore-2' },
        ],
      ),
    );
    const kube = (discovered.spec as { kube: object }).kube;
    server.put({ ...discovered, spec: { kube: { ...kube, selector: { version: 'v2' } } } });
    await until('the selected Pod', () => (endpointsServed()?.join() === '10.1.0.2:3000' ? true : undefined));
    const before = client.received.length;

    server.put(pod('petstore-1', { version: 'v2' }));
    await until('both Pods', () => (endpointsServed()?.length === 2 ? true : undefined));
    server.put(pod('petstore-2', { version: 'v1' }));
    await until('the other Pod', () => (endpointsServed()?.join() === '10.1.0.1:3000' ? true : undefined));
    server.put(virtualService('pets.example.com'));
    await until('the new domain', () => (domainsServed()?.includes('pets.example.com') ? true : undefined));

    const types = client.received.slice(before).map((response) => response.typeUrl);
    expect(types.at(-1)).toBe(TYPE_URLS.route);
    expect(new Set(types.slice(0, -1))).toEqual(new Set([TYPE_URLS.endpoint]));
  });

  it('removes the cluster when the Service is deleted', async () => {
    await until('the cluster', () => latest.get(TYPE_URLS.cluster)?.get(CLUSTER));
    server.remove('services', 'default', 'petstore');
    server.remove('endpointslices', 'default', 'petstore-a');
    await until('no cluster', () => (latest.get(TYPE_URLS.cluster)?.has(CLUSTER) ? undefined : true));
    expect(server.object('upstreams', 'default', UPSTREAM)).toBeUndefined();
  });
});

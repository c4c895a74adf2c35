import pino from 'pino';
import type { ServiceEndpointsMap } from '../../src/api/snapshot';
import { KubeClient, type KubeObject } from '../../src/store/kube/kube-client';
import type { KubeStore } from '../../src/store/kube/kube-store';
import { PodLabels } from '../../src/store/kube/pod-labels';
import type { ServiceDiscovery } from '../../src/store/kube/service-discovery';
import { KubeServiceEndpoints } from '../../src/store/kube/service-endpoints';
import { storeWithServices } from '../../src/store/kube/store-with-services';
import { KubeApiServer } from '../helpers/kube-api-server';
import { loopbackCluster } from '../helpers/kube-cluster';
import { endpointSlice, namespace, pod, service } from '../helpers/kube-services';
import { waitFor } from '../helpers/wait';

const silent = pino({ level: 'silent' });
const FAST_RETRIES = { initialMs: 5, maxMs: 50 };
const DISCOVERED = { 'discovery.sluice.dev/discovered-by': 'kubernetes' };
const FUNCTION_DISCOVERY = 'discovery.sluice.dev/function-discovery';

describe('KubeServiceEndpoints against the loopback API server', () => {
  let server: KubeApiServer;
  let endpoints: KubeServiceEndpoints;

  beforeEach(async () => {
    server = new KubeApiServer();
    await server.start();
    endpoints = new KubeServiceEndpoints({
      client: new KubeClient(server.kubeConfig()),
      logger: silent,
      debounceMs: 10,
      backoff: FAST_RETRIES,
    });
  });

  afterEach(async () => {
    endpoints.stop();
    await server.close();
  });

  it('holds the endpoints of each Service by slice port, and follows scaling per Service', async () => {
    server.put(service('petstore', [{ name: 'http', port: 8080, targetPort: 'web' }]));
    server.put(service('reviews', [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }]));
    server.put({
      ...service('external', [{ port: 443 }]),
      spec: { type: 'ExternalName', externalName: 'x.example', ports: [{ port: 443 }] },
    });
    server.put(
      endpointSlice(
        'petstore',
        'petstore-a',
        [{ name: 'http', port: 3000 }],
        [{ address: '10.1.0.2' }, { address: '10.1.0.1', ready: false }],
      ),
    );
    server.put(endpointSlice('reviews', 'reviews-a', [{ port: 9080 }], [{ address: '10.2.0.1' }]));
    server.put(
      endpointSlice('reviews', 'reviews-names', [{ port: 9080 }], [{ address: 'reviews.example' }], {
        addressType: 'FQDN',
      }),
    );
    endpoints.start();
    await endpoints.whenSynced();

    const first = endpoints.current();
    expect([...first.keys()].sort()).toEqual(['default/petstore', 'default/reviews']);
    expect(first.get('default/petstore')).toEqual({
      ports: [{ port: 8080, name: 'http' }],
      endpoints: [
        { address: '10.1.0.1', port: 3000, portName: 'http', ready: false },
        { address: '10.1.0.2', port: 3000, portName: 'http', ready: true },
      ],
    });
    expect(first.get('default/reviews')).toEqual({
      ports: [{ port: 80, name: '' }],
      endpoints: [{ address: '10.2.0.1', port: 9080, portName: '', ready: true }],
    });

    const notified: ServiceEndpointsMap[] = [];
    endpoints.watch((map) => notified.push(map));
    server.put(
      endpointSlice('petstore', 'petstore-b', [{ name: 'http', port: 3001 }], [{ address: '10.1.0.3' }]),
    );
    const scaled = await waitFor('the new slice', () =>
      notified.find((map) => map.get('default/petstore')?.endpoints.length === 3),
    );
    expect(
      scaled.get('default/petstore')?.endpoints.map(({ address, port }) => `${address}:${port}`),
    ).toEqual(['10.1.0.1:3000', '10.1.0.2:3000', '10.1.0.3:3001']);
    // Untouched Services keep their entries (translation remembers their clusters by them).
    expect(scaled.get('default/reviews')).toBe(first.get('default/reviews'));

    server.remove('endpointslices', 'default', 'petstore-a');
    server.remove('endpointslices', 'default', 'petstore-b');
    await waitFor('no endpoints', () =>
      notified.at(-1)?.get('default/petstore')?.endpoints.length === 0 ? true : undefined,
    );
    server.remove('services', 'default', 'petstore');
    await waitFor('the Service gone', () => (notified.at(-1)?.has('default/petstore') ? undefined : true));
    expect(notified.at(-1)?.get('default/reviews')).toBe(first.get('default/reviews'));
  });

  it("gives each endpoint its Pod's labels, and follows relabels and late Pods per Service", async () => {
    server.put(service('petstore', [{ port: 8080 }]));
    server.put(service('reviews', [{ port: 80 }]));
    server.put(pod('petstore-1', { app: 'petstore', version: 'v1' }));
    server.put(pod('petstore-2', { app: 'petstore', version: 'v2' }));
    server.put(
      endpointSlice(
        'petstore',
        'petstore-a',
        [{ port: 3000 }],
        [
          { address: '10.1.0.1', pod: 'petstore-1' },
          { address: '10.1.0.2', pod: 'petstore-2' },
          { address: '10.1.0.3' },
          { address: '10.1.0.4', pod: 'petstore-late' },
        ],
      ),
    );
    server.put(endpointSlice('reviews', 'reviews-a', [{ port: 9080 }], [{ address: '10.2.0.1' }]));
    endpoints.start();
    await endpoints.whenSynced();

    const first = endpoints.current();
    const labelsOf = (map: ServiceEndpointsMap) =>
      map.get('default/petstore')?.endpoints.map(({ address, podLabels }) => [address, podLabels]);
    // No targetRef, or a Pod not known yet: no labels.
    expect(labelsOf(first)).toEqual([
      ['10.1.0.1', { app: 'petstore', version: 'v1' }],
      ['10.1.0.2', { app: 'petstore', version: 'v2' }],
      ['10.1.0.3', undefined],
      ['10.1.0.4', undefined],
    ]);

    const notified: ServiceEndpointsMap[] = [];
    endpoints.watch((map) => notified.push(map));
    server.put(pod('petstore-2', { app: 'petstore', version: 'v1' }));
    const relabelled = await waitFor('the relabel', () =>
      notified.find((map) => map.get('default/petstore')?.endpoints[1].podLabels?.version === 'v1'),
    );
    expect(relabelled.get('default/reviews')).toBe(first.get('default/reviews'));

    server.put(pod('petstore-late', { app: 'petstore', version: 'v3' }));
    const late = await waitFor('the late Pod', () =>
      notified.find((map) => map.get('default/petstore')?.endpoints[3].podLabels?.version === 'v3'),
    );
    expect(labelsOf(late)?.[3]).toEqual(['10.1.0.4', { app: 'petstore', version: 'v3' }]);

    server.remove('pods', 'default', 'petstore-1');
    const gone = await waitFor('the deleted Pod', () =>
      notified.find((map) => map.get('default/petstore')?.endpoints[0].podLabels === undefined),
    );
    expect(gone.get('default/reviews')).toBe(first.get('default/reviews'));
  });
});

describe('PodLabels against the loopback API server', () => {
  const cluster = loopbackCluster();

  it('keeps the labels of each Pod, and tells of new labels but not of status changes', async () => {
    const { server, client } = cluster;
    const pods = new PodLabels({ client, logger: silent, backoff: FAST_RETRIES });
    server.put(pod('petstore-1', { app: 'petstore' }, { namespace: 'shop' }));
    pods.start();
    await pods.whenSynced();
    expect(pods.get('shop', 'petstore-1')).toEqual({ app: 'petstore' });
    expect(pods.get('shop', 'petstore-2')).toBeUndefined();

    const changed: string[] = [];
    pods.onChange((name) => changed.push(name));
    server.putStatus('pods', 'shop', 'petstore-1', { phase: 'Running', podIP: '10.1.0.1' });
    server.put(pod('petstore-1', { app: 'petstore', version: 'v2' }, { namespace: 'shop' }));
    // One watch delivers in order: once the relabel is seen, so was the status change.
    await waitFor('the relabel', () => (changed.length > 0 ? true : undefined));
    expect(changed).toEqual(['shop/petstore-1']);
    expect(pods.get('shop', 'petstore-1')).toEqual({ app: 'petstore', version: 'v2' });

    server.put(pod('petstore-2', {}, { namespace: 'shop' }));
    server.remove('pods', 'shop', 'petstore-1');
    await waitFor('the deletion', () => (changed.length === 3 ? true : undefined));
    expect(changed).toEqual(['shop/petstore-1', 'shop/petstore-2', 'shop/petstore-1']);
    expect(pods.get('shop', 'petstore-2')).toEqual({});
    expect(pods.get('shop', 'petstore-1')).toBeUndefined();
    pods.stop();
  });
});

describe('ServiceDiscovery against the loopback API server', () => {
  let server: KubeApiServer;
  let store: KubeStore;
  let discovery: ServiceDiscovery;

  const upstream = (name: string, ns = 'default') => server.object('upstreams', ns, name);
  const appears = (name: string, ns = 'default') =>
    waitFor(`Upstream ${ns}/${name}`, () => upstream(name, ns));
  const disappears = (name: string, ns = 'default') =>
    waitFor(`Upstream ${ns}/${name} to go`, () => (upstream(name, ns) ? undefined : true));

  beforeEach(async () => {
    server = new KubeApiServer();
    await server.start();
    ({ store, serviceDiscovery: discovery } = storeWithServices({
      client: new KubeClient(server.kubeConfig()),
      logger: silent,
      debounceMs: 10,
      backoff: FAST_RETRIES,
    }));
    await store.load();
    discovery.start();
  });

  afterEach(async () => {
    await discovery.stop();
    await store.close();
    await server.close();
  });

  it('makes one Upstream per TCP port of each Service, and deletes it with its port and its Service', async () => {
    server.put(
      service('petstore', [
        { name: 'http', port: 8080 },
        { name: 'grpc-api', port: 9090 },
        { name: 'metrics', port: 9100, appProtocol: 'http' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ]),
    );
    server.put(service('orders', [{ port: 80, appProtocol: 'kubernetes.io/h2c' }], { namespace: 'shop' }));

    expect(await appears('default-petstore-8080')).toMatchObject({
      metadata: { labels: DISCOVERED },
      spec: { kube: { serviceName: 'petstore', serviceNamespace: 'default', servicePort: 8080 } },
    });
    expect((await appears('default-petstore-9090')).spec).toEqual({
      kube: { serviceName: 'petstore', serviceNamespace: 'default', servicePort: 9090, http2: true },
    });
    expect((await appears('default-petstore-9100')).spec).toEqual({
      kube: { serviceName: 'petstore', serviceNamespace: 'default', servicePort: 9100 },
    });
    expect((await appears('shop-orders-80', 'shop')).spec).toEqual({
      kube: { serviceName: 'orders', serviceNamespace: 'shop', servicePort: 80, http2: true },
    });
    expect(upstream('default-petstore-53')).toBeUndefined();
    expect(upstream('default-petstore-8080')!.metadata.labels).toEqual(DISCOVERED);

    server.put(service('petstore', [{ name: 'http', port: 8080 }]));
    await disappears('default-petstore-9090');
    await disappears('default-petstore-9100');
    expect(upstream('default-petstore-8080')).toBeDefined();

    server.remove('services', 'default', 'petstore');
    await disappears('default-petstore-8080');
    expect(upstream('shop-orders-80', 'shop')).toBeDefined();
  });

  it('creates an Upstream its copy does not hold without reading it first', async () => {
    server.put(service('petstore', [{ port: 8080 }]));
    await appears('default-petstore-8080');

    const upstreamRequests = server
      .requestsMatching({ resource: 'upstreams', subresource: '' })
      .filter((request) => request.verb !== 'list' && request.verb !== 'watch');
    expect(upstreamRequests.map((request) => [request.verb, request.code])).toEqual([['create', 201]]);
  });

  it('on 409 AlreadyExists reads the Upstream made meanwhile and sets only what discovery owns on it', async () => {
    const madeMeanwhile = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: {
        name: 'default-petstore-8080',
        namespace: 'default',
        labels: { ...DISCOVERED, team: 'payments' },
      },
      spec: {
        connectTimeout: '2s',
        kube: { serviceName: 'elsewhere', serviceNamespace: 'default', servicePort: 1 },
      },
    };
    // Another writer (a previous leader, a user) makes it right before discovery's create.
    server.beforeNext({ verb: 'create', resource: 'upstreams' }, () => server.put(madeMeanwhile));
    server.put(service('petstore', [{ port: 8080 }]));

    const merged = await waitFor('the Service reference set', () => {
      const current = upstream('default-petstore-8080');
      return (current?.spec as { kube: { servicePort: number } } | undefined)?.kube.servicePort === 8080
        ? current
        : undefined;
    });
    expect(merged.metadata.labels).toEqual({ ...DISCOVERED, team: 'payments' });
    expect(merged.spec).toEqual({
      connectTimeout: '2s',
      kube: { serviceName: 'petstore', serviceNamespace: 'default', servicePort: 8080 },
    });
    const codes = (verb: 'create' | 'update') =>
      server
        .requestsMatching({ verb, resource: 'upstreams', subresource: '' })
        .map((request) => request.code);
    expect(codes('create')).toEqual([409]);
    expect(codes('update')).toEqual([200]);
  });

  it('on 409 AlreadyExists leaves alone an Upstream a user made meanwhile without the discovered-by label', async () => {
    const mine = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: { name: 'default-petstore-8080', namespace: 'default' },
      spec: { static: { hosts: [{ address: '10.0.0.12', port: 8080 }] } },
    };
    let made: KubeObject | undefined;
    server.beforeNext({ verb: 'create', resource: 'upstreams' }, () => (made = server.put(mine)));
    server.put(service('petstore', [{ port: 8080 }, { port: 8081 }]));
    // The ports are reconciled in order: once 8081's Upstream is there, 8080's was looked at.
    await appears('default-petstore-8081');

    expect(upstream('default-petstore-8080')).toEqual(made);
    // 8080's create, refused, then 8081's (a later pass may race the watch and meet a 409 on 8081 too).
    expect(
      server
        .requestsMatching({ verb: 'create', resource: 'upstreams' })
        .slice(0, 2)
        .map((request) => request.code),
    ).toEqual([409, 201]);
    expect(server.requestsMatching({ verb: 'update', resource: 'upstreams' })).toHaveLength(0);
  });

  it('never changes nor deletes an Upstream without the discovered-by label, even of a discovered name', async () => {
    const mine = server.put({
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: { name: 'default-petstore-8080', namespace: 'default' },
      spec: { static: { hosts: [{ address: '10.0.0.12', port: 8080 }] } },
    });
    server.put(service('petstore', [{ port: 8080 }, { port: 8081 }]));
    // The ports are reconciled in order: once 8081's Upstream is there, 8080's was looked at.
    await appears('default-petstore-8081');
    expect(upstream('default-petstore-8080')).toEqual(mine);
    // The store's copy holds it: no write was even tried.
    expect(server.requestsMatching({ verb: 'create', resource: 'upstreams' })).toHaveLength(1);

    server.remove('services', 'default', 'petstore');
    await disappears('default-petstore-8081');
    expect(upstream('default-petstore-8080')).toEqual(mine);
  });

  it("keeps a user's edit made while discovery writes (conflict: read again, merge again)", async () => {
    server.put(service('petstore', [{ port: 8080 }]));
    const made = await appears('default-petstore-8080');
    const edited = {
      ...made,
      metadata: { ...made.metadata, labels: { ...made.metadata.labels, team: 'payments' } },
      spec: { ...(made.spec as object), connectTimeout: '2s' },
    };
    // The user's edit lands right before discovery's write, which then conflicts.
    server.beforeNext({ verb: 'update', resource: 'upstreams', subresource: '' }, () => server.put(edited));
    server.put(service('petstore', [{ port: 8080 }], { labels: { [FUNCTION_DISCOVERY]: 'enabled' } }));

    const merged = await waitFor('the label from the Service', () => {
      const current = upstream('default-petstore-8080');
      return current?.metadata.labels?.[FUNCTION_DISCOVERY] ? current : undefined;
    });
    expect(merged.metadata.labels).toEqual({
      ...DISCOVERED,
      team: 'payments',
      [FUNCTION_DISCOVERY]: 'enabled',
    });
    expect(merged.spec).toEqual({
      connectTimeout: '2s',
      kube: { serviceName: 'petstore', serviceNamespace: 'default', servicePort: 8080 },
    });
    const updates = server.requestsMatching({ verb: 'update', resource: 'upstreams', subresource: '' });
    expect(updates.map((request) => request.code)).toEqual([409, 200]);

    // What discovery owns is put back.
    server.put({
      ...merged,
      spec: { ...(merged.spec as object), kube: { serviceName: 'elsewhere', servicePort: 1 } },
    });
    const restored = await waitFor('the Service reference put back', () => {
      const current = upstream('default-petstore-8080');
      return (current?.spec as { kube: { servicePort: number } }).kube.servicePort === 8080
        ? current
        : undefined;
    });
    expect(restored.spec).toEqual(merged.spec);
  });

  it('does not delete an Upstream a user took over (removed the label) while discovery deleted it', async () => {
    server.put(service('petstore', [{ port: 8080 }]));
    const made = await appears('default-petstore-8080');
    const takenOver = { ...made, metadata: { ...made.metadata, labels: { team: 'payments' } } };
    server.beforeNext({ verb: 'delete', resource: 'upstreams' }, () => server.put(takenOver));
    server.remove('services', 'default', 'petstore');
    await waitFor('the refused delete', () =>
      server.requestsMatching({ verb: 'delete', resource: 'upstreams' }).length > 0 ? true : undefined,
    );
    // One Service is never reconciled twice at once: once 8081 is there, the delete above is over.
    server.put(service('petstore', [{ port: 8081 }]));
    await appears('default-petstore-8081');

    expect(upstream('default-petstore-8080')!.metadata.labels).toEqual({ team: 'payments' });
    expect(server.requestsMatching({ verb: 'delete', resource: 'upstreams' }).map((r) => r.code)).toEqual([
      409,
    ]);
  });

  it('follows the discovery label of the Service, else of its Namespace, and copies it onto the Upstreams', async () => {
    server.put(namespace('shop'));
    server.put(service('cart', [{ port: 80 }], { namespace: 'shop' }));
    server.put(
      service('search', [{ port: 80 }], { namespace: 'shop', labels: { [FUNCTION_DISCOVERY]: 'enabled' } }),
    );
    expect((await appears('shop-cart-80', 'shop')).metadata.labels).toEqual(DISCOVERED);
    expect((await appears('shop-search-80', 'shop')).metadata.labels).toEqual({
      ...DISCOVERED,
      [FUNCTION_DISCOVERY]: 'enabled',
    });

    server.put(namespace('shop', { [FUNCTION_DISCOVERY]: 'disabled' }));
    await disappears('shop-cart-80', 'shop');
    server.put(namespace('shop', { [FUNCTION_DISCOVERY]: 'enabled' }));
    const relabelled = await appears('shop-cart-80', 'shop');
    expect(relabelled.metadata.labels).toEqual({ ...DISCOVERED, [FUNCTION_DISCOVERY]: 'enabled' });
    expect(upstream('shop-search-80', 'shop')!.metadata.labels).toEqual({
      ...DISCOVERED,
      [FUNCTION_DISCOVERY]: 'enabled',
    });

    server.put(
      service('cart', [{ port: 80 }], { namespace: 'shop', labels: { [FUNCTION_DISCOVERY]: 'disabled' } }),
    );
    await disappears('shop-cart-80', 'shop');
  });

  it('catches up when started again (a new leader): Services made and deleted meanwhile', async () => {
    server.put(service('petstore', [{ port: 8080 }]));
    await appears('default-petstore-8080');
    await discovery.stop();

    server.remove('services', 'default', 'petstore');
    server.put(service('orders', [{ port: 80 }]));
    discovery.start();

    await appears('default-orders-80');
    await disappears('default-petstore-8080');
  });
});

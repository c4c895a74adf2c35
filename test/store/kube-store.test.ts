import pino from 'pino';
import { keyOf, keyString, type Resource, type Status } from '../../src/api/resource';
import { Informer, type InformerEventType } from '../../src/store/kube/informer';
import { KubeClient, type KubeObject } from '../../src/store/kube/kube-client';
import { KubeStore } from '../../src/store/kube/kube-store';
import { SLUICE_CRDS } from '../../src/store/kube/resource-types';
import { ConflictError, type StoreContents } from '../../src/store/store';
import { KubeApiServer } from '../helpers/kube-api-server';
import { loopbackCluster } from '../helpers/kube-cluster';
import { waitFor } from '../helpers/wait';

const silent = pino({ level: 'silent' });
const FAST_RETRIES = { initialMs: 5, maxMs: 50 };

function virtualService(name: string, namespace = 'default', domains = ['*']): KubeObject {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name, namespace },
    spec: { virtualHost: { domains, routes: [] } },
  };
}

function upstream(name: string, namespace = 'default', port = 8080): KubeObject {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: { name, namespace },
    spec: { static: { hosts: [{ address: '10.0.0.12', port }] } },
  };
}

function coreSecret(name: string, data: Record<string, string>, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

/** The store has listed, and has a watch open for each of its six kinds (two for Secrets). */
async function watching(store: KubeStore, server: KubeApiServer): Promise<void> {
  await store.load();
  await waitFor('seven open watches', () => (server.openWatches() === 7 ? true : undefined));
}

const ids = (contents: StoreContents) => contents.resources.map(({ resource }) => keyString(keyOf(resource)));
const find = (contents: StoreContents, id: string): Resource | undefined =>
  contents.resources.find(({ resource }) => keyString(keyOf(resource)) === id)?.resource;

/** Every notification a watcher gets, and a way to wait for one that satisfies a condition. */
function recordNotifications(store: KubeStore) {
  const seen: StoreContents[] = [];
  const stop = store.watch((contents) => seen.push(contents));
  return {
    seen,
    stop,
    until: (description: string, test: (contents: StoreContents) => boolean) =>
      waitFor(description, () => {
        const latest = seen[seen.length - 1];
        return latest && test(latest) ? latest : undefined;
      }),
  };
}

describe('KubeStore against the loopback API server', () => {
  let server: KubeApiServer;
  let store: KubeStore;

  const open = (namespaces?: string[]) =>
    new KubeStore({
      client: new KubeClient(server.kubeConfig()),
      namespaces,
      logger: silent,
      debounceMs: 10,
      backoff: FAST_RETRIES,
      pageSize: 2,
    });

  beforeEach(async () => {
    server = new KubeApiServer();
    await server.start();
    store = open();
  });

  afterEach(async () => {
    await store.close();
    await server.close();
  });

  it('loads every Sluice CRD and the labelled Secrets, in pages, from all namespaces', async () => {
    server.put(virtualService('shop', 'team-a'));
    server.put(virtualService('blog', 'team-b'));
    server.put(upstream('petstore'));
    server.put(upstream('reviews'));
    server.put(upstream('ratings'));
    server.put({
      ...coreSecret(
        'aws-creds',
        { accessKeyId: 'AKIA1', secretAccessKey: 's3cr3t' },
        { 'sluice.dev/secret-type': 'aws' },
      ),
      metadata: {
        name: 'aws-creds',
        namespace: 'default',
        labels: { 'sluice.dev/secret-type': 'aws', team: 'payments' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":"..."}', owner: 'ops' },
      },
    });
    server.put(coreSecret('unrelated', { password: 'hunter2' }));

    const contents = await store.load();

    expect(ids(contents)).toEqual([
      'Secret/default/aws-creds',
      'Upstream/default/petstore',
      'Upstream/default/ratings',
      'Upstream/default/reviews',
      'VirtualService/team-a/shop',
      'VirtualService/team-b/blog',
    ]);
    expect(contents.errors).toEqual([]);
    const shop = contents.resources.find(({ resource }) => resource.metadata.name === 'shop')!;
    expect(shop.location).toEqual({ file: 'team-a/VirtualService/shop' });
    expect(shop.resource).toEqual({
      apiVersion: 'sluice.dev/v1',
      kind: 'VirtualService',
      metadata: {
        name: 'shop',
        namespace: 'team-a',
        generation: 1,
        resourceVersion: server.object('virtualservices', 'team-a', 'shop')!.metadata.resourceVersion,
      },
      spec: { virtualHost: { domains: ['*'], routes: [] } },
    });
    const secret = find(contents, 'Secret/default/aws-creds')!;
    expect(secret.type).toBe('aws');
    expect(secret.data).toEqual({ accessKeyId: 'AKIA1', secretAccessKey: 's3cr3t' });
    expect(secret.metadata.labels).toEqual({ team: 'payments' });
    expect(secret.metadata.annotations).toEqual({ owner: 'ops' });
    // Three upstreams at two per page: a continued list.
    expect(
      server.requestsMatching({ verb: 'list', resource: 'upstreams' }).map((r) => r.query.continue),
    ).toEqual([undefined, expect.any(String)]);
    // Only Sluice Secrets are asked for: labelled ones, and unlabelled kubernetes.io/tls ones.
    const secretSelectors = server
      .requestsMatching({ verb: 'list', resource: 'secrets' })
      .map(({ query }) => [query.labelSelector, query.fieldSelector]);
    expect(secretSelectors).toHaveLength(2);
    expect(secretSelectors).toEqual(
      expect.arrayContaining([
        ['sluice.dev/secret-type', undefined],
        ['!sluice.dev/secret-type', 'type=kubernetes.io/tls'],
      ]),
    );
  });

  it('watches only the namespaces it is given', async () => {
    await store.close();
    store = open(['team-a', 'team-c']);
    server.put(virtualService('shop', 'team-a'));
    server.put(virtualService('blog', 'team-b'));
    expect(ids(await store.load())).toEqual(['VirtualService/team-a/shop']);
    const watcher = recordNotifications(store);
    server.put(virtualService('news', 'team-b'));
    server.put(virtualService('docs', 'team-c'));
    await watcher.until('docs in team-c', (contents) => ids(contents).includes('VirtualService/team-c/docs'));
    expect(ids(watcher.seen[watcher.seen.length - 1])).not.toContain('VirtualService/team-b/news');
    expect(
      server
        .requestsMatching({ verb: 'list', resource: 'virtualservices' })
        .map((r) => r.namespace)
        .sort(),
    ).toEqual(['team-a', 'team-c']);
  });

  it('turns watch events into debounced full contents, and says nothing of status changes', async () => {
    server.put(upstream('petstore'));
    server.put(virtualService('shop'));
    await store.load();
    const watcher = recordNotifications(store);

    server.put(upstream('reviews'));
    await watcher.until('reviews added', (contents) => ids(contents).includes('Upstream/default/reviews'));

    server.put(virtualService('shop', 'default', ['shop.example.com']));
    const modified = await watcher.until('shop modified', (contents) => {
      const shop = find(contents, 'VirtualService/default/shop');
      return shop?.metadata.generation === 2;
    });
    expect(find(modified, 'VirtualService/default/shop')!.spec).toEqual({
      virtualHost: { domains: ['shop.example.com'], routes: [] },
    });

    server.remove('upstreams', 'default', 'petstore');
    await watcher.until(
      'petstore deleted',
      (contents) => !ids(contents).includes('Upstream/default/petstore'),
    );

    const notified = watcher.seen.length;
    server.putStatus('virtualservices', 'default', 'shop', { state: 'Accepted', reportedBy: 'someone' });
    await waitFor('the status in the cache', async () =>
      (await store.readStatuses()).get('VirtualService/default/shop')?.state === 'Accepted'
        ? true
        : undefined,
    );
    server.put(upstream('ratings'));
    await watcher.until('ratings added', (contents) => ids(contents).includes('Upstream/default/ratings'));
    expect(watcher.seen.length).toBe(notified + 1);
    watcher.stop();
  });

  it('writes statuses through the status subresource, rereading and retrying after a 409', async () => {
    server.put(virtualService('shop'));
    await store.load();
    const key = { kind: 'VirtualService' as const, namespace: 'default', name: 'shop' };
    const status: Status = { state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 };
    // A user edits the spec between Sluice's read and its status write.
    server.beforeNext({ verb: 'update', resource: 'virtualservices', subresource: 'status' }, () => {
      server.put(virtualService('shop', 'default', ['edited.example.com']));
    });

    await store.writeStatuses([{ key, status }]);

    const stored = server.object('virtualservices', 'default', 'shop')!;
    expect(stored.status).toEqual(status);
    expect(stored.spec).toEqual({ virtualHost: { domains: ['edited.example.com'], routes: [] } });
    expect(stored.metadata.generation).toBe(2);
    const statusWrites = server.requestsMatching({ verb: 'update', subresource: 'status' });
    expect(statusWrites.map((request) => request.code)).toEqual([409, 200]);
    expect(server.requestsMatching({ verb: 'get', name: 'shop' })).toHaveLength(1);
    expect(server.requestsMatching({ verb: 'update', subresource: '' })).toHaveLength(0);

    await waitFor('the status in the cache', async () =>
      (await store.readStatuses()).get(keyString(key))?.state === 'Accepted' ? true : undefined,
    );
    await store.writeStatuses([{ key, status }]);
    await store.writeStatuses([{ key: { ...key, name: 'gone' }, status }]);
    expect(server.requestsMatching({ verb: 'update', subresource: 'status' })).toHaveLength(2);
  });

  it('reports status writes that keep failing, and keeps Secret statuses in memory', async () => {
    server.put(virtualService('shop'));
    server.put(
      coreSecret('tls-cert', { certChain: 'C', privateKey: 'K' }, { 'sluice.dev/secret-type': 'tls' }),
    );
    await store.load();
    const rejected: Status = { state: 'Rejected', reasons: ['certChain: not PEM'], reportedBy: 'sluice' };
    server.failNext({ verb: 'update', subresource: 'status' }, { code: 500, reason: 'InternalError' });

    await expect(
      store.writeStatuses([
        {
          key: { kind: 'VirtualService', namespace: 'default', name: 'shop' },
          status: { state: 'Accepted' },
        },
        { key: { kind: 'Secret', namespace: 'default', name: 'tls-cert' }, status: rejected },
      ]),
    ).rejects.toThrow(/VirtualService\/default\/shop: 500 InternalError/);

    expect((await store.readStatuses()).get('Secret/default/tls-cert')).toEqual(rejected);
    expect(find(await store.load(), 'Secret/default/tls-cert')!.status).toEqual(rejected);
    expect(server.object('secrets', 'default', 'tls-cert')!.status).toBeUndefined();
  });

  it('applies with optimistic concurrency: a concurrent edit is never overwritten', async () => {
    server.put(upstream('petstore'));
    const loaded = find(await store.load(), 'Upstream/default/petstore')!;
    const readVersion = loaded.metadata.resourceVersion!;
    server.put(upstream('petstore', 'default', 9090)); // someone else's edit

    const ours = { ...loaded, spec: { static: { hosts: [{ address: '10.0.0.99', port: 80 }] } } };
    await expect(store.apply(ours, readVersion)).rejects.toThrow(ConflictError);
    await expect(store.apply(upstreamResource('petstore'), '')).rejects.toThrow(/already exists/);
    await expect(store.apply(upstreamResource('missing'), readVersion)).rejects.toThrow(/does not exist/);
    expect(server.object('upstreams', 'default', 'petstore')!.spec).toEqual(
      upstream('petstore', 'default', 9090).spec,
    );

    const current = server.object('upstreams', 'default', 'petstore')!.metadata.resourceVersion!;
    const applied = await store.apply(ours, current);
    expect(applied.metadata.generation).toBe(3);
    expect(applied.metadata.resourceVersion).not.toBe(current);
    expect(server.object('upstreams', 'default', 'petstore')!.spec).toEqual(ours.spec);

    // A write that loses the race between Sluice's read and its write is a conflict too.
    server.beforeNext({ verb: 'update', resource: 'upstreams' }, () =>
      server.put(upstream('petstore', 'default', 7070)),
    );
    await expect(store.apply({ ...ours, spec: {} }, applied.metadata.resourceVersion)).rejects.toThrow(
      ConflictError,
    );
    expect(server.object('upstreams', 'default', 'petstore')!.spec).toEqual(
      upstream('petstore', 'default', 7070).spec,
    );
  });

  it("creates with expected version '' without reading first: 409 AlreadyExists is a ConflictError", async () => {
    const created = await store.apply(upstreamResource('petstore'), '');
    expect(created.metadata).toMatchObject({ name: 'petstore', namespace: 'default', generation: 1 });

    server.beforeNext({ verb: 'create', resource: 'upstreams' }, () =>
      server.put(upstream('orders', 'default', 9090)),
    );
    await expect(store.apply(upstreamResource('orders'), '')).rejects.toThrow(ConflictError);
    expect(server.object('upstreams', 'default', 'orders')!.spec).toEqual(
      upstream('orders', 'default', 9090).spec,
    );
    expect(server.requestsMatching({ verb: 'create', resource: 'upstreams' }).map((r) => r.code)).toEqual([
      201, 409,
    ]);
    expect(server.requestsMatching({ verb: 'get', resource: 'upstreams' })).toHaveLength(0);
  });

  it('applies without an expected version: creates, replaces over concurrent edits, and skips no-ops', async () => {
    const created = await store.apply(upstreamResource('petstore'));
    expect(created.metadata).toMatchObject({ name: 'petstore', namespace: 'default', generation: 1 });

    server.beforeNext({ verb: 'update', resource: 'upstreams' }, () =>
      server.put(upstream('petstore', 'default', 1)),
    );
    const replaced = await store.apply({ ...upstreamResource('petstore'), spec: { static: { hosts: [] } } });
    expect(replaced.spec).toEqual({ static: { hosts: [] } });
    expect(server.requestsMatching({ verb: 'update', resource: 'upstreams' }).map((r) => r.code)).toEqual([
      409, 200,
    ]);

    await store.apply({ ...upstreamResource('petstore'), spec: { static: { hosts: [] } } });
    expect(server.requestsMatching({ verb: 'update', resource: 'upstreams' })).toHaveLength(2);
  });

  it('maps Sluice Secrets to labelled core Secrets and leaves other Secrets alone', async () => {
    const secret: Resource = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Secret',
      metadata: { name: 'aws-creds', namespace: 'default', labels: { team: 'payments' } },
      type: 'aws',
      data: { accessKeyId: 'AKIA1', secretAccessKey: 'sécret' },
    };
    await store.apply(secret, '');
    const stored = server.object('secrets', 'default', 'aws-creds')!;
    expect(stored.type).toBe('Opaque');
    expect(stored.metadata.labels).toEqual({ team: 'payments', 'sluice.dev/secret-type': 'aws' });
    expect(stored.data).toEqual({
      accessKeyId: Buffer.from('AKIA1').toString('base64'),
      secretAccessKey: Buffer.from('sécret').toString('base64'),
    });
    const loaded = await waitFor('the secret in the cache', async () =>
      find(await store.load(), 'Secret/default/aws-creds'),
    );
    expect(loaded).toMatchObject({
      type: 'aws',
      data: secret.data,
      metadata: { labels: { team: 'payments' } },
    });

    server.put(coreSecret('db-password', { password: 'hunter2' }));
    await expect(
      store.apply({ ...secret, metadata: { name: 'db-password', namespace: 'default' } }),
    ).rejects.toThrow(/not Sluice's/);
    // A create (no read first) is refused with 409 AlreadyExists: said so too, not a conflict to retry.
    await expect(
      store.apply({ ...secret, metadata: { name: 'db-password', namespace: 'default' } }, ''),
    ).rejects.toThrow(/not Sluice's/);
    await store.delete({ kind: 'Secret', namespace: 'default', name: 'db-password' });
    expect(server.object('secrets', 'default', 'db-password')).toBeDefined();
    await store.delete({ kind: 'Secret', namespace: 'default', name: 'aws-creds' });
    expect(server.object('secrets', 'default', 'aws-creds')).toBeUndefined();
    await store.delete({ kind: 'Upstream', namespace: 'default', name: 'never-was' });
  });

  it('reconnects a dropped watch from where it was, without relisting', async () => {
    server.put(upstream('petstore'));
    await watching(store, server);
    const watcher = recordNotifications(store);
    const listsBefore = server.requestsMatching({ verb: 'list' }).length;
    const versionBefore = server.resourceVersion;
    server.failNext({ verb: 'watch', resource: 'upstreams' }, { code: 503, reason: 'ServiceUnavailable' }, 2);

    expect(server.dropWatches()).toBe(7);
    server.put(upstream('reviews'));

    await watcher.until('reviews after the reconnect', (contents) =>
      ids(contents).includes('Upstream/default/reviews'),
    );
    const rewatches = server.requestsMatching({ verb: 'watch', resource: 'upstreams' }).slice(1);
    expect(rewatches.map((request) => request.code)).toEqual([503, 503, 200]);
    expect(rewatches.every((request) => request.query.resourceVersion === versionBefore)).toBe(true);
    expect(server.requestsMatching({ verb: 'list' })).toHaveLength(listsBefore);
    watcher.stop();
  });

  it.each(['event', 'http'] as const)(
    'relists after 410 Gone (as an %s) without losing or duplicating objects',
    async (expiredAs) => {
      server.expiredWatchAs = expiredAs;
      server.put(upstream('kept'));
      server.put(upstream('changed'));
      server.put(upstream('removed'));
      await store.load();
      const watcher = recordNotifications(store);
      server.pauseWatches();
      server.put(upstream('added'));
      server.put(upstream('changed', 'default', 9999));
      server.remove('upstreams', 'default', 'removed');
      server.compact();
      if (expiredAs === 'event') server.expireWatches();
      else server.dropWatches();

      const after = await watcher.until('the missed changes', (contents) =>
        ids(contents).includes('Upstream/default/added'),
      );
      expect(ids(after)).toEqual([
        'Upstream/default/added',
        'Upstream/default/changed',
        'Upstream/default/kept',
      ]);
      expect(find(after, 'Upstream/default/changed')!.spec).toEqual(
        upstream('changed', 'default', 9999).spec,
      );
      expect(server.requestsMatching({ verb: 'list', resource: 'upstreams' }).length).toBeGreaterThanOrEqual(
        2,
      );
      watcher.stop();
    },
  );

  it('resumes from the last bookmark, so a compaction after it needs no relist', async () => {
    server.put(virtualService('shop'));
    await watching(store, server);
    server.put(upstream('petstore')); // moves the global resourceVersion past the last VirtualService
    await waitFor('the upstream in the cache', async () =>
      ids(await store.load()).includes('Upstream/default/petstore') ? true : undefined,
    );
    const bookmark = server.resourceVersion;
    expect(server.sendBookmarks()).toBe(7);
    server.compact();
    server.endWatches();

    const rewatch = await waitFor(
      'a new VirtualService watch',
      () => server.requestsMatching({ verb: 'watch', resource: 'virtualservices' })[1],
    );
    expect(rewatch.query.resourceVersion).toBe(bookmark);
    expect(rewatch.query.allowWatchBookmarks).toBe('true');
    server.put(virtualService('blog'));
    await waitFor('blog', async () =>
      ids(await store.load()).includes('VirtualService/default/blog') ? true : undefined,
    );
    expect(server.requestsMatching({ verb: 'list', resource: 'virtualservices' })).toHaveLength(1);
  });

  it('fails the first load when a CRD is missing, and retries other errors', async () => {
    server.failNext({ verb: 'list', resource: 'routetables' }, { code: 500, reason: 'InternalError' }, 2);
    await store.load();
    expect(server.requestsMatching({ verb: 'list', resource: 'routetables' }).map((r) => r.code)).toEqual([
      500, 500, 200,
    ]);

    await store.close();
    store = open();
    server.failNext(
      { verb: 'list', resource: 'gateways' },
      { code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' },
    );
    await expect(store.load()).rejects.toThrow(
      /cannot list gateways\.sluice\.dev on http:\/\/127\.0\.0\.1:\d+: 404 NotFound/,
    );
  });
});

describe('Informer', () => {
  const cluster = loopbackCluster();
  const upstreamInformer = (keep?: (object: KubeObject) => KubeObject) =>
    new Informer<KubeObject>({
      client: cluster.client,
      type: SLUICE_CRDS.Upstream,
      logger: silent,
      backoff: FAST_RETRIES,
      keep,
    });

  it('reports exactly what changed during a relist, once', async () => {
    const { server } = cluster;
    server.put(upstream('kept'));
    server.put(upstream('changed'));
    server.put(upstream('removed'));
    const informer = upstreamInformer();
    const events: Array<[InformerEventType, string]> = [];
    informer.on((event, object) => events.push([event, object.metadata.name]));
    informer.start();
    await informer.whenSynced();
    expect(events.map(([event]) => event)).toEqual(['added', 'added', 'added']);
    events.length = 0;

    server.pauseWatches();
    server.put(upstream('added'));
    server.put(upstream('changed', 'default', 1));
    server.remove('upstreams', 'default', 'removed');
    server.compact();
    server.expireWatches();

    await waitFor('three events', () => (events.length >= 3 ? true : undefined));
    expect(events.sort()).toEqual([
      ['added', 'added'],
      ['deleted', 'removed'],
      ['modified', 'changed'],
    ]);
    server.put(upstream('later'));
    await waitFor('the next watch event', () => (events.length > 3 ? true : undefined));
    expect(events[3]).toEqual(['added', 'later']);
    expect(
      informer
        .list()
        .map((object) => object.metadata.name)
        .sort(),
    ).toEqual(['added', 'changed', 'kept', 'later']);
    informer.stop();
  });

  it('keeps what `keep` returns, and gives listeners the previous object of a change', async () => {
    const { server } = cluster;
    server.put(upstream('petstore'));
    const informer = upstreamInformer(({ metadata: { name, namespace, resourceVersion } }) => ({
      metadata: { name, namespace, resourceVersion },
    }));
    const previous: Array<KubeObject | undefined> = [];
    informer.on((_event, _object, before) => previous.push(before));
    informer.start();
    await informer.whenSynced();
    const listed = informer.get('default', 'petstore');
    expect(listed).toEqual({
      metadata: { name: 'petstore', namespace: 'default', resourceVersion: expect.any(String) },
    });

    server.put(upstream('petstore', 'default', 1));
    await waitFor('the change', () => (previous.length === 2 ? true : undefined));
    expect(previous).toEqual([undefined, listed]);
    expect(informer.get('default', 'petstore')).toEqual({
      metadata: { name: 'petstore', namespace: 'default', resourceVersion: expect.any(String) },
    });
    informer.stop();
  });
});

function upstreamResource(name: string): Resource {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: { name, namespace: 'default' },
    spec: { static: { hosts: [{ address: '10.0.0.12', port: 8080 }] } },
  };
}

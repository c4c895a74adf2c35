import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import type { DiscoveredFunctions, DiscoveredMap } from '../../src/discovery/fds/discovered';
import { KubeClient } from '../../src/store/kube/kube-client';
import { DISCOVERED_FUNCTIONS_SECRET, KubeDiscoveryState } from '../../src/store/kube/kube-discovery-state';
import { loopbackCluster } from '../helpers/kube-cluster';
import { waitFor } from '../helpers/wait';

const NAMESPACE = 'sluice-system';

function discovered(...names: string[]): Map<string, DiscoveredFunctions> {
  return new Map([
    [
      'default/aws-east',
      {
        discoverer: 'aws-lambda',
        functions: names.map((logicalName) => ({ logicalName })),
        updatedAt: '2026-11-01T00:00:00.000Z',
      },
    ],
  ]);
}

describe('KubeDiscoveryState', () => {
  const states: KubeDiscoveryState[] = [];
  afterEach(() => states.splice(0).forEach((state) => state.close()));
  const cluster = loopbackCluster();

  function state(): KubeDiscoveryState {
    const created = new KubeDiscoveryState({
      client: new KubeClient(cluster.server.kubeConfig()),
      namespace: NAMESPACE,
      logger: pino({ level: 'silent' }),
    });
    states.push(created);
    return created;
  }

  const secret = () => cluster.server.object('secrets', NAMESPACE, DISCOVERED_FUNCTIONS_SECRET);
  const writes = () =>
    cluster.server
      .requestsMatching({ resource: 'secrets' })
      .filter((request) => request.verb === 'create' || request.verb === 'update');

  it("shares the leader's saves with every replica through one gzipped Secret", async () => {
    const leader = state();
    const follower = state();
    expect(await follower.load()).toEqual(new Map());
    const seen: DiscoveredMap[] = [];
    follower.watch((map) => seen.push(map));

    await leader.save(discovered('hello'));
    const stored = secret() as { type: string; data: Record<string, string> } & ReturnType<typeof secret>;
    expect(stored.metadata.labels).toMatchObject({ 'sluice.dev/discovered-functions': 'true' });
    expect(stored.type).toBe('Opaque');
    const json = gunzipSync(Buffer.from(stored.data['discovered.json.gz'], 'base64')).toString('utf8');
    expect(new Map(Object.entries(JSON.parse(json)))).toEqual(discovered('hello'));
    await waitFor('the follower to see the first save', () => (seen.length === 1 ? seen[0] : undefined));
    expect(seen[0]).toEqual(discovered('hello'));

    await leader.save(discovered('hello', 'goodbye'));
    await waitFor('the follower to see the second save', () => (seen.length === 2 ? true : undefined));
    expect(seen[1]).toEqual(discovered('hello', 'goodbye'));
    expect(await state().load()).toEqual(discovered('hello', 'goodbye'));
    expect(writes().map((request) => request.verb)).toEqual(['create', 'update']);
  });

  it('writes nothing for a save equal to the stored one, and only the latest of saves made during a write', async () => {
    const leader = state();
    await leader.save(discovered('a'));
    await leader.save(discovered('a'));
    expect(writes()).toHaveLength(1);

    await Promise.all([
      leader.save(discovered('b')),
      leader.save(discovered('c')),
      leader.save(discovered('d')),
    ]);
    expect(writes()).toHaveLength(3);
    expect(await state().load()).toEqual(discovered('d'));
  });

  it('writes again over a concurrent write (a previous leader its last save)', async () => {
    const leader = state();
    await leader.save(discovered('a'));
    const server = cluster.server;
    server.beforeNext({ verb: 'update', resource: 'secrets' }, () =>
      server.put({ ...secret()!, data: { 'discovered.json.gz': '' } }),
    );

    await leader.save(discovered('b'));
    expect(writes().map((request) => request.code)).toEqual([201, 409, 200]);
    expect(await state().load()).toEqual(discovered('b'));
  });

  it('reads a Secret that does not decode as nothing discovered', async () => {
    cluster.server.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: DISCOVERED_FUNCTIONS_SECRET,
        namespace: NAMESPACE,
        labels: { 'sluice.dev/discovered-functions': 'true' },
      },
      data: { 'discovered.json.gz': Buffer.from('not gzip').toString('base64') },
    });
    expect(await state().load()).toEqual(new Map());
  });

  it('says which Secret it cannot read when listing Secrets is forbidden', async () => {
    cluster.server.failNext(
      { verb: 'list', resource: 'secrets' },
      { code: 403, reason: 'Forbidden', message: 'secrets is forbidden' },
    );
    await expect(state().load()).rejects.toThrow(
      `cannot read the discovered functions (Secret ${NAMESPACE}/${DISCOVERED_FUNCTIONS_SECRET})`,
    );
  });
});

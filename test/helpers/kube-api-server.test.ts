import type { KubeObject, WatchEvent } from '../../src/store/kube/kube-client';
import { LEASES, SERVICES } from '../../src/store/kube/resource-types';
import { loopbackCluster } from './kube-cluster';
import { waitFor } from './wait';

/** The loopback API server behaves as the real one where later work relies on it (leases, patches, selectors). */
describe('KubeApiServer', () => {
  const cluster = loopbackCluster();

  const call = (method: string, path: string, body?: unknown, contentType = 'application/json') =>
    fetch(`${cluster.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${cluster.server.token}`, 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('takes a Lease with a create and renews it with conditional replaces', async () => {
    const { client } = cluster;
    const lease: KubeObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'sluice-leader', namespace: 'sluice-system' },
      spec: { holderIdentity: 'replica-a', leaseDurationSeconds: 15 },
    };
    const spec = lease.spec as Record<string, unknown>;
    const taken = await client.create(LEASES, lease);
    await expect(client.create(LEASES, lease)).rejects.toMatchObject({ code: 409, reason: 'AlreadyExists' });
    const renewed = await client.replace(LEASES, { ...taken, spec: { ...spec, renewTime: 'now' } });
    expect(Number(renewed.metadata.resourceVersion)).toBeGreaterThan(Number(taken.metadata.resourceVersion));
    await expect(
      client.replace(LEASES, { ...taken, spec: { ...spec, holderIdentity: 'replica-b' } }),
    ).rejects.toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await client.get<KubeObject>(LEASES, 'sluice-system', 'sluice-leader')).spec).toEqual({
      ...spec,
      renewTime: 'now',
    });
  });

  it('patches the status subresource without touching the rest, and honours preconditions', async () => {
    const { server } = cluster;
    server.put({
      apiVersion: 'sluice.dev/v1',
      kind: 'Gateway',
      metadata: { name: 'gw', namespace: 'default', labels: { a: '1' } },
      spec: { bindPort: 8080 },
    });
    const path = '/apis/sluice.dev/v1/namespaces/default/gateways/gw';
    const patched = await call(
      'PATCH',
      `${path}/status`,
      { metadata: { labels: { a: '2' } }, spec: { bindPort: 1 }, status: { state: 'Accepted' } },
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(200);
    const stored = server.object('gateways', 'default', 'gw')!;
    expect(stored).toMatchObject({
      spec: { bindPort: 8080 },
      status: { state: 'Accepted' },
      metadata: { labels: { a: '1' }, generation: 1 },
    });

    const stale = await call(
      'PATCH',
      path,
      { metadata: { resourceVersion: '1' }, spec: { bindPort: 9090 } },
      'application/merge-patch+json',
    );
    expect(stale.status).toBe(409);
    const deleted = await call('DELETE', path, { preconditions: { resourceVersion: '1' } });
    expect(deleted.status).toBe(409);
    expect((await call('DELETE', path)).status).toBe(200);
    expect((await call('GET', path)).status).toBe(404);
    expect((await fetch(`${server.url}${path}`)).status).toBe(401);
  });

  it('watches with a label selector as the real server does: leaving it is a DELETED', async () => {
    const { server, client } = cluster;
    const service = (labels: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'petstore', namespace: 'default', labels },
      spec: { ports: [{ port: 80 }] },
    });
    server.put(service({ discovered: 'yes' }));
    const events: Array<WatchEvent<KubeObject>> = [];
    const watch = client.watch<KubeObject>(
      SERVICES,
      { resourceVersion: '0', labelSelector: 'discovered=yes', timeoutSeconds: 60 },
      (event) => events.push(event),
      () => undefined,
    );
    await waitFor('the synthetic ADDED', () => (events.length === 1 ? true : undefined));
    server.put(service({ discovered: 'no' }));
    server.put(service({ discovered: 'yes' }));
    server.remove('services', 'default', 'petstore');
    await waitFor('four events', () => (events.length === 4 ? true : undefined));
    expect(events.map((event) => event.type)).toEqual(['ADDED', 'DELETED', 'ADDED', 'DELETED']);
    watch.stop();
    const discovery = (await (await call('GET', '/apis/discovery.k8s.io/v1')).json()) as {
      resources: Array<{ name: string }>;
    };
    expect(discovery.resources.map((resource) => resource.name)).toEqual(['endpointslices']);
  });
});

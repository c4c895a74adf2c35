import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import { Metrics } from '../../src/admin/metrics';
import type { Resource } from '../../src/api/resource';
import { ControlPlane } from '../../src/control-plane/control-plane';
import { MemoryStore } from '../../src/store/memory-store';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { UPSTREAMS, virtualService } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';

function resourcesOf(yaml: string): Resource[] {
  return parseAllDocuments(yaml)
    .filter((doc) => doc.contents !== null)
    .map((doc) => doc.toJS() as Resource);
}

const YAML =
  UPSTREAMS +
  virtualService('[{matchers: [{prefix: /}], routeAction: {single: {upstream: {name: petstore}}}}]');

describe('ControlPlane', () => {
  let store: MemoryStore;
  let cache: SnapshotCache;
  let controlPlane: ControlPlane;

  beforeEach(async () => {
    store = new MemoryStore(resourcesOf(YAML), { debounceMs: 10 });
    cache = new SnapshotCache();
    controlPlane = new ControlPlane({
      store,
      cache,
      metrics: new Metrics(),
      logger: pino({ level: 'silent' }),
    });
    await controlPlane.start();
  });

  afterEach(async () => {
    controlPlane.stop();
    await controlPlane.idle();
    await store.close();
  });

  const petstorePort = (key = 'default~gateway-proxy') => {
    const assignment = cache.getSnapshot(key)?.get(TYPE_URLS.endpoint)?.get('petstore_default')?.json as
      | {
          endpoints: Array<{
            lbEndpoints: Array<{ endpoint: { address: { socketAddress: { portValue: number } } } }>;
          }>;
        }
      | undefined;
    return assignment?.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress.portValue;
  };

  it('publishes each proxy under its full and short name and writes every status', async () => {
    expect(controlPlane.isReady()).toBe(true);
    expect(cache.keys().sort()).toEqual(['default~gateway-proxy', 'gateway-proxy']);
    expect(cache.getSnapshot('gateway-proxy')).toBe(cache.getSnapshot('default~gateway-proxy'));
    expect(petstorePort()).toBe(8080);
    const statuses = await store.readStatuses();
    expect(statuses.get('VirtualService/default/vs')).toMatchObject({
      state: 'Accepted',
      reportedBy: 'sluice',
    });
    expect(statuses.get('Upstream/default/petstore')).toMatchObject({ state: 'Accepted' });
  });

  it('applies store changes live and keeps the last good version of a resource broken by an edit', async () => {
    const petstore = resourcesOf(UPSTREAMS)[0];
    const moved = structuredClone(petstore);
    (moved.spec as { static: { hosts: Array<{ port: number }> } }).static.hosts[0].port = 9090;
    await store.apply(moved);
    await waitFor('the new port', () => (petstorePort() === 9090 ? true : undefined));
    const broken = structuredClone(petstore);
    (broken.spec as { static: { hosts: Array<{ port: number }> } }).static.hosts[0].port = 123456;
    await store.apply(broken);
    const status = await waitFor('the rejection', async () => {
      const current = (await store.readStatuses()).get('Upstream/default/petstore');
      return current?.state === 'Rejected' ? current : undefined;
    });
    expect(status.reasons).toEqual([
      'spec.static.hosts[0].port: must be <= 65535; still serving the last accepted version',
    ]);
    expect(petstorePort()).toBe(9090);
  });

  it('reports a NACK on the resources behind the rejected xDS resource until the proxy ACKs again', async () => {
    const routeConfig = [
      ...(cache.getSnapshot('default~gateway-proxy')?.get(TYPE_URLS.route)?.keys() ?? []),
    ][0];
    controlPlane.recordNack({
      proxyKey: 'default~gateway-proxy',
      typeUrl: TYPE_URLS.route,
      resourceNames: [routeConfig],
      message: 'unknown field',
    });
    await controlPlane.idle();
    const warned = (await store.readStatuses()).get('VirtualService/default/vs');
    expect(warned?.state).toBe('Warning');
    expect(warned?.reasons).toEqual([
      `proxy default~gateway-proxy rejected RouteConfiguration ${routeConfig}: unknown field`,
    ]);
    expect((await store.readStatuses()).get('Upstream/default/petstore')?.state).toBe('Accepted');
    controlPlane.recordAck('default~gateway-proxy', TYPE_URLS.route);
    await controlPlane.idle();
    expect((await store.readStatuses()).get('VirtualService/default/vs')?.state).toBe('Accepted');
  });

  it('empties the snapshot of a proxy that no gateway names any more', async () => {
    await store.apply(
      resourcesOf(`
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: other, namespace: default}
spec: {bindPort: 8080, proxyNames: [other-proxy]}
`)[0],
    );
    await waitFor('the new proxy', () => (cache.getSnapshot('default~other-proxy') ? true : undefined));
    const emptied = cache.getSnapshot('default~gateway-proxy');
    expect([...(emptied?.values() ?? [])].every((byName) => byName.size === 0)).toBe(true);
    expect([...(cache.getSnapshot('default~other-proxy')?.get(TYPE_URLS.listener)?.keys() ?? [])]).toEqual([
      'listener-::-8080',
    ]);
  });
});

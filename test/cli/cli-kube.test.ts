import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { KubeApiServer, type KubeObject } from '../helpers/kube-api-server';
import { servingLine, spawnKubeServe } from '../helpers/kube-serve';
import { sluice } from '../helpers/sluice-cli';
import { waitFor } from '../helpers/wait';
import { nodeWithRole, SotwClient, sotwResources } from '../xds/ads-client';

const ROUTES = 'listener-::-8080-routes';

function virtualService(name: string, domain: string): KubeObject {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: 'default' },
    spec: {
      virtualHost: {
        domains: [domain],
        routes: [
          { matchers: [{ prefix: '/' }], routeAction: { single: { upstream: { name: 'petstore' } } } },
        ],
      },
    },
  };
}

/**
 * `sluice serve --kube` in a child process against the loopback API server: resources created through
 * the Kubernetes API reach a raw ADS client, and their statuses come back through the status subresource.
 */
describe('sluice serve --kube', () => {
  let server: KubeApiServer;
  let dir: string;
  let kubeconfig: string;

  beforeEach(async () => {
    server = new KubeApiServer();
    await server.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kube-'));
    kubeconfig = server.writeKubeconfig(path.join(dir, 'kubeconfig'));
  });

  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves VirtualServices created through the API over ADS and writes their statuses back', async () => {
    server.put({
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: { name: 'petstore', namespace: 'default' },
      spec: { static: { hosts: [{ address: '10.0.0.12', port: 8080 }] } },
    });
    server.put(virtualService('shop', 'shop.example.com'));
    const serve = spawnKubeServe(kubeconfig);
    let ads: SotwClient | undefined;
    try {
      const { source, xdsPort } = await servingLine(serve);
      expect(source).toBe(`Kubernetes at ${server.url} (all namespaces)`);
      const client = new SotwClient(xdsPort);
      ads = client;
      client.send({ node: nodeWithRole('envoy-1'), typeUrl: TYPE_URLS.route, resourceNames: [ROUTES] });
      // Pushes carry the whole route configuration; the first one that serves `domains` is awaited.
      const serving = (domains: string[]) =>
        waitFor(
          `routes for ${domains.join(', ')}`,
          async () => {
            const response = await client.next(10000);
            client.ack(response, [ROUTES]);
            const config = sotwResources(response).get(ROUTES) as {
              virtualHosts: Array<{ domains: string[] }>;
            };
            const served = config.virtualHosts.flatMap((host) => host.domains).sort();
            return served.join() === domains.join() ? served : undefined;
          },
          { timeoutMs: 20000, intervalMs: 0 },
        );
      await serving(['shop.example.com']);

      server.put(virtualService('blog', 'blog.example.com'));
      await serving(['blog.example.com', 'shop.example.com']);
      const status = await waitFor(
        'the status of blog',
        () => server.object('virtualservices', 'default', 'blog')?.status,
      );
      expect(status).toEqual({ state: 'Accepted', reportedBy: 'sluice', observedGeneration: 1 });

      server.put(virtualService('blog', 'news.example.com'));
      await serving(['news.example.com', 'shop.example.com']);
      await waitFor('the status of the second generation', () => {
        const blog = server.object('virtualservices', 'default', 'blog')!;
        return blog.metadata.generation === 2 &&
          (blog.status as { observedGeneration?: number }).observedGeneration === 2
          ? true
          : undefined;
      });
      expect(server.object('upstreams', 'default', 'petstore')!.status).toMatchObject({ state: 'Accepted' });
      // Statuses go through /status only (the leader renewing its Lease is another matter).
      const updates = server.requestsMatching({ verb: 'update', subresource: '' });
      expect(updates.filter((request) => request.resource !== 'leases')).toEqual([]);
    } finally {
      ads?.close();
      serve.child.kill('SIGTERM');
    }
    expect(await serve.exited).toBe(0);
  });

  it('exits 1 and says what to install when a CRD is missing', async () => {
    server.failNext(
      { verb: 'list', resource: 'gateways' },
      { code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' },
    );
    const result = await sluice(['serve', '--kube', '--kubeconfig', kubeconfig, '--namespaces', 'shop']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot list gateways.sluice.dev in shop');
    expect(result.stderr).toContain('kubectl apply -k crds/');
  });

  it('exits 1 for a kubeconfig that does not exist', async () => {
    const result = await sluice(['serve', '--kube', '--kubeconfig', path.join(dir, 'nowhere')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot load the kubeconfig');
  });
});

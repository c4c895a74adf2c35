import type { KubeApiServer, KubeObject } from '../helpers/kube-api-server';
import { loopbackKubeconfig } from '../helpers/kube-cluster';
import { coreSecret, petstoreUpstream, sluiceObject } from '../helpers/kube-objects';
import { sluice } from '../helpers/sluice-cli';

const SECRET_VALUE = 's3cr3t-never-printed';

/** A VirtualService `NAME.example.com` -> petstore, whose route has `timeout`. */
function virtualService(name: string, timeout = '3s'): KubeObject {
  const route = { matchers: [{ prefix: '/' }], routeAction: { single: { upstream: { name: 'petstore' } } } };
  return sluiceObject('VirtualService', name, {
    virtualHost: { domains: [`${name}.example.com`], routes: [{ ...route, options: { timeout } }] },
  });
}

/** The Deployment install/sluice.yaml makes, with `ready` of its two replicas ready. */
function putSluiceDeployment(server: KubeApiServer, ready: number): void {
  server.put({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'sluice', namespace: 'sluice-system' },
    spec: { replicas: 2 },
  });
  server.putStatus('deployments', 'sluice-system', 'sluice', {
    replicas: 2,
    readyReplicas: ready,
    conditions: [
      ready > 0
        ? { type: 'Available', status: 'True' }
        : { type: 'Available', status: 'False', message: 'Deployment does not have minimum availability.' },
    ],
  });
}

/** `sluice check --kube` and `sluice get --kube` against the loopback API server. */
describe('sluice check --kube', () => {
  const cluster = loopbackKubeconfig();

  beforeEach(() => {
    cluster.server.put(petstoreUpstream());
    cluster.server.put(virtualService('shop'));
    cluster.server.put(
      coreSecret(
        'aws-creds',
        'Opaque',
        { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET_VALUE },
        { 'sluice.dev/secret-type': 'aws' },
      ),
    );
  });

  const check = (...args: string[]) =>
    sluice(['check', '--kube', '--kubeconfig', cluster.kubeconfig, ...args]);

  it('says "No problems" for a healthy cluster', async () => {
    putSluiceDeployment(cluster.server, 2);
    const result = await check();
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('No problems detected (3 resources checked).\n');
    expect(result.code).toBe(0);
  });

  it('names a broken VirtualService and the field, in the table and in JSON, and exits 1', async () => {
    putSluiceDeployment(cluster.server, 2);
    cluster.server.put(virtualService('broken', 'soon'));

    const table = await check();
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('Rejected: VirtualService default/broken');
    expect(table.stdout).toContain(
      'spec.virtualHost.routes[0].options.timeout: invalid value (expected a duration such as 3s or 250ms) (default/VirtualService/broken)',
    );
    expect(table.stdout).toContain('1 resource(s) need attention.');

    const json = await check('-o', 'json');
    expect(json.code).toBe(1);
    const { ok, problems } = JSON.parse(json.stdout) as {
      ok: boolean;
      problems: Array<{ kind: string; namespace: string; name: string; state: string; reasons: string[] }>;
    };
    expect(ok).toBe(false);
    expect(problems).toEqual([
      expect.objectContaining({
        kind: 'VirtualService',
        namespace: 'default',
        name: 'broken',
        state: 'Rejected',
      }),
    ]);
    expect(table.stdout + json.stdout + table.stderr).not.toContain(SECRET_VALUE);
  });

  it('exits 1 with what to install when the CRDs are missing', async () => {
    for (const resource of ['upstreams', 'virtualservices', 'routetables', 'gateways', 'settings']) {
      cluster.server.failNext(
        { verb: 'list', resource },
        { code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' },
      );
    }
    const result = await check();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the Sluice CRDs are not installed');
    expect(result.stderr).toContain('upstreams.sluice.dev');
    expect(result.stderr).toContain('kubectl apply -k crds/');
    expect(result.stdout).toBe('');
  });

  it('reports a Sluice Deployment that is missing or has no ready replica', async () => {
    const missing = await check();
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('Missing: Deployment sluice-system/sluice');

    putSluiceDeployment(cluster.server, 0);
    const notReady = await check();
    expect(notReady.code).toBe(1);
    expect(notReady.stdout).toContain('NotReady: Deployment sluice-system/sluice');
    expect(notReady.stdout).toContain(
      '0 of 2 replicas ready: Deployment does not have minimum availability.',
    );

    const elsewhere = await check('--sluice-namespace', 'platform');
    expect(elsewhere.stdout).toContain('Missing: Deployment platform/sluice');

    // Sluice run outside the cluster (`serve --kube` with a kubeconfig): the Deployment check is skipped.
    const outside = await check('--exclude', 'deployment');
    expect(outside.code).toBe(0);
    expect(outside.stdout).not.toContain('Deployment');
    const unknown = await check('-x', 'pods');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('--exclude pods: checks that can be skipped: deployment');
  });

  it('reports what the control plane rejected, even when this check accepts it', async () => {
    putSluiceDeployment(cluster.server, 2);
    cluster.server.putStatus('upstreams', 'default', 'petstore', {
      state: 'Rejected',
      reasons: ['spec.static.hosts: 10.0.0.12 does not answer'],
      reportedBy: 'sluice',
      observedGeneration: 1,
    });
    const result = await check();
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Rejected: Upstream default/petstore');
    expect(result.stdout).toContain('reported by sluice: spec.static.hosts: 10.0.0.12 does not answer');
  });

  it('exits 1 and names the kubeconfig when the API server cannot be reached', async () => {
    await cluster.server.close();
    const result = await check();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the Kubernetes API server at ${cluster.server.url}`);
    expect(result.stderr).toContain('--kubeconfig');
  });
});

describe('sluice get --kube', () => {
  const cluster = loopbackKubeconfig();

  it('lists the resources in the cluster with their status, and Secrets without their values', async () => {
    cluster.server.put(petstoreUpstream());
    cluster.server.put(
      coreSecret('cert', 'kubernetes.io/tls', { 'tls.crt': 'CERT', 'tls.key': SECRET_VALUE }),
    );
    const upstreams = await sluice(['get', 'upstreams', '--kube', '--kubeconfig', cluster.kubeconfig]);
    expect(upstreams.code).toBe(0);
    expect(upstreams.stdout).toMatch(/petstore\s+static\s+Accepted\s+10\.0\.0\.12:8080/);

    const secrets = await sluice([
      'get',
      'secrets',
      '--kube',
      '--kubeconfig',
      cluster.kubeconfig,
      '-o',
      'json',
    ]);
    expect(secrets.code).toBe(0);
    expect(JSON.parse(secrets.stdout)).toEqual([
      expect.objectContaining({
        type: 'tls',
        metadata: expect.objectContaining({ name: 'cert' }),
        data: { certChain: '<redacted>', privateKey: '<redacted>' },
      }),
    ]);
    expect(secrets.stdout).not.toContain(SECRET_VALUE);

    const missing = await sluice([
      'get',
      'upstream',
      'nowhere',
      '--kube',
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      `Upstream nowhere not found in Kubernetes at ${cluster.server.url} (all namespaces)`,
    );
  });
});

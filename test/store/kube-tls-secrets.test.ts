import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import pino from 'pino';
import { keyOf, keyString, type Resource } from '../../src/api/resource';
import { translateOnce } from '../../src/control-plane/translate-once';
import { statusOf } from '../../src/reporter/statuses';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { KubeStore } from '../../src/store/kube/kube-store';
import type { StoreContents } from '../../src/store/store';
import { loopbackCluster } from '../helpers/kube-cluster';
import { coreSecret, petstoreUpstream, sluiceObject } from '../helpers/kube-objects';
import { TestCertificateAuthority } from '../helpers/tls-certs';
import { waitFor } from '../helpers/wait';

const silent = pino({ level: 'silent' });
const base64 = (text: string) => Buffer.from(text).toString('base64');

/** A core Secret as `kubectl create secret tls` (or cert-manager) makes it. */
const kubeTlsSecret = (name: string, data: Record<string, string>, labels?: Record<string, string>) =>
  coreSecret(name, 'kubernetes.io/tls', data, labels);

const secretsOf = (contents: StoreContents): Resource[] =>
  contents.resources.map(({ resource }) => resource).filter((resource) => resource.kind === 'Secret');

describe('kubernetes.io/tls Secrets in the Kubernetes store', () => {
  const cluster = loopbackCluster();
  let store: KubeStore;

  beforeEach(() => {
    store = new KubeStore({ client: cluster.client, logger: silent, debounceMs: 10 });
  });

  afterEach(() => store.close());

  it('reads them as Sluice tls Secrets under the Sluice keys, once, and other Secrets not at all', async () => {
    cluster.server.put(kubeTlsSecret('cert', { 'tls.crt': 'CERT', 'tls.key': 'KEY', 'ca.crt': 'CA' }));
    cluster.server.put(
      kubeTlsSecret(
        'labelled',
        { 'tls.crt': 'CERT2', 'tls.key': 'KEY2' },
        { 'sluice.dev/secret-type': 'tls' },
      ),
    );
    cluster.server.put(coreSecret('db-password', 'Opaque', { password: 'hunter2' }));

    const secrets = secretsOf(await store.load());

    expect(secrets.map((secret) => keyString(keyOf(secret)))).toEqual([
      'Secret/default/cert',
      'Secret/default/labelled',
    ]);
    expect(secrets[0]).toMatchObject({
      type: 'tls',
      data: { certChain: 'CERT', privateKey: 'KEY', rootCa: 'CA' },
    });
    expect(secrets[1]).toMatchObject({ type: 'tls', data: { certChain: 'CERT2', privateKey: 'KEY2' } });
  });

  it('follows a renewed certificate, and a Secret that gets the label', async () => {
    cluster.server.put(kubeTlsSecret('cert', { 'tls.crt': 'OLD', 'tls.key': 'KEY' }));
    await store.load();
    const seen: StoreContents[] = [];
    store.watch((contents) => seen.push(contents));
    const latestSecrets = (description: string, test: (secrets: Resource[]) => boolean) =>
      waitFor(description, () => {
        const latest = seen[seen.length - 1];
        return latest && test(secretsOf(latest)) ? secretsOf(latest) : undefined;
      });

    cluster.server.put(kubeTlsSecret('cert', { 'tls.crt': 'NEW', 'tls.key': 'KEY' }));
    await latestSecrets('the renewed certificate', (secrets) => secrets[0]?.data?.certChain === 'NEW');

    cluster.server.put(
      kubeTlsSecret(
        'cert',
        { 'tls.crt': 'NEW', 'tls.key': 'KEY' },
        { team: 'edge', 'sluice.dev/secret-type': 'tls' },
      ),
    );
    const labelled = await latestSecrets(
      'the labelled Secret',
      (secrets) => secrets[0]?.metadata.labels?.team === 'edge',
    );
    expect(labelled).toHaveLength(1);
  });

  it('writes over and deletes none without the label, and keeps the tls.* keys of a labelled one', async () => {
    cluster.server.put(kubeTlsSecret('cert', { 'tls.crt': 'CERT', 'tls.key': 'KEY' }));
    const secret: Resource = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Secret',
      metadata: { name: 'cert', namespace: 'default' },
      type: 'tls',
      data: { certChain: 'MINE', privateKey: 'MINE' },
    };
    await expect(store.apply(secret)).rejects.toThrow(/not Sluice's/);
    await expect(store.delete({ kind: 'Secret', namespace: 'default', name: 'cert' })).rejects.toThrow(
      'Secret default/cert is a kubernetes.io/tls Secret that Sluice reads but does not own (no sluice.dev/secret-type label): delete it with kubectl',
    );
    expect(cluster.server.object('secrets', 'default', 'cert')).toBeDefined();

    cluster.server.put(
      kubeTlsSecret('labelled', { 'tls.crt': 'CERT', 'tls.key': 'KEY' }, { 'sluice.dev/secret-type': 'tls' }),
    );
    await store.apply({ ...secret, metadata: { name: 'labelled', namespace: 'default' } });
    const stored = cluster.server.object('secrets', 'default', 'labelled')!;
    expect(stored.type).toBe('kubernetes.io/tls');
    expect(stored.data).toEqual({ 'tls.crt': base64('MINE'), 'tls.key': base64('MINE') });
  });

  it("serves a VirtualService's sslConfig.secretRef from one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kube-tls-'));
    const issued = TestCertificateAuthority.create(dir, 'edge').issue('secure', {
      commonName: 'secure.example',
      altNames: ['DNS:secure.example'],
    });
    fs.rmSync(dir, { recursive: true, force: true });
    cluster.server.put(
      kubeTlsSecret('cert', { 'tls.crt': issued.cert.toString(), 'tls.key': issued.key.toString() }),
    );
    cluster.server.put(petstoreUpstream());
    cluster.server.put(sluiceObject('Gateway', 'https', { bindPort: 8443, ssl: true }));
    cluster.server.put(
      sluiceObject('VirtualService', 'secure', {
        sslConfig: { secretRef: { name: 'cert' } },
        virtualHost: {
          domains: ['secure.example'],
          routes: [{ routeAction: { single: { upstream: { name: 'petstore' } } } }],
        },
      }),
    );

    const { translation } = translateOnce(await store.load());

    const states = Object.fromEntries(
      translation.reports.all().map((report) => [keyString(report.key), statusOf(report)]),
    );
    expect(states['VirtualService/default/secure']).toMatchObject({ state: 'Accepted' });
    expect(states['Secret/default/cert']).toMatchObject({ state: 'Accepted' });
    const [sds] = translation.envoy.byProxy.get('default~gateway-proxy')!.get(TYPE_URLS.secret)!.values();
    expect(sds).toMatchObject({
      name: 'cert_default',
      tlsCertificate: { certificateChain: { inlineString: issued.cert.toString() } },
    });
  });
});

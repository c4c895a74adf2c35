import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { parse } from 'yaml';
import { Metrics } from '../../src/admin/metrics';
import type { RunningSluice } from '../../src/control-plane/sluice-server';
import { PACKAGE_ROOT } from '../../src/package-root';
import { AdsServer } from '../../src/xds/ads-server';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { isLoopbackAddress, loadXdsTls, type XdsTls } from '../../src/xds/xds-tls';
import { serveDirectory } from '../helpers/serve-directory';
import { checkBootstrap } from '../helpers/envoy-bootstrap';
import { sluice as runSluice } from '../helpers/sluice-cli';
import { TestCertificateAuthority, type IssuedCertificate } from '../helpers/tls-certs';
import { UPSTREAMS } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';
import { SotwClient, nodeWithRole, sotwResources } from './ads-client';

/**
 * ADS over TLS and mTLS with certificates made for the run. The clients are the raw ADS client over
 * grpc-js TLS credentials: @grpc/grpc-js-xds 1.14 only knows `insecure` and `google_default` channel
 * credentials for its xDS server, so it cannot present a client certificate (xds-mtls-grpc-js-xds.test.ts
 * in test/security runs it through a client-side mTLS tunnel instead).
 */

const PROXY_A = 'default~proxy-a';
const PROXY_B = 'default~proxy-b';
/** What each proxy gets: its Gateway's listener. */
const LISTENER_OF: Record<string, string> = { [PROXY_A]: 'listener-::-8080', [PROXY_B]: 'listener-::-8081' };

const GATEWAYS = `
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec: {virtualHost: {domains: ["*"], routes: [{routeAction: {single: {upstream: {name: petstore}}}}]}}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: a, namespace: default}
spec: {bindPort: 8080, proxyNames: [proxy-a]}
---
apiVersion: sluice.dev/v1
kind: Gateway
metadata: {name: b, namespace: default}
spec: {bindPort: 8081, proxyNames: [proxy-b]}
`;

let dir: string;
/** Signs Sluice's serving certificate. */
let xdsCa: TestCertificateAuthority;
/** Signs the proxies' client certificates: the client CA Sluice trusts. */
let proxyCa: TestCertificateAuthority;
/** A CA Sluice does not trust. */
let otherCa: TestCertificateAuthority;
let serving: IssuedCertificate;
const clients: SotwClient[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-xds-tls-'));
  xdsCa = TestCertificateAuthority.create(dir, 'xds');
  proxyCa = TestCertificateAuthority.create(dir, 'proxies');
  otherCa = TestCertificateAuthority.create(dir, 'other');
  serving = xdsCa.issue('sluice', { commonName: 'sluice', altNames: ['IP:127.0.0.1', 'DNS:localhost'] });
});

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function mtls(clientCaFile: string, bindRoleToCertificate = false): XdsTls {
  const tls = loadXdsTls({
    certFile: serving.certFile,
    keyFile: serving.keyFile,
    clientCaFile,
    bindRoleToCertificate,
  });
  if (!tls) throw new Error('no TLS configured');
  return tls;
}

/** A client of its own connection that trusts Sluice's CA and presents `certificate`, if any. */
function tlsClient(port: number, certificate?: IssuedCertificate): SotwClient {
  const credentials = grpc.credentials.createSsl(
    xdsCa.authority.cert,
    certificate?.key ?? null,
    certificate?.cert ?? null,
  );
  const client = new SotwClient(port, { ownConnection: true, credentials });
  clients.push(client);
  return client;
}

/** Asks for every listener as `role`; resolves to the names of those of the first response. */
async function listenersAs(client: SotwClient, role: string): Promise<string[]> {
  client.send({ node: nodeWithRole('envoy-test', role), typeUrl: TYPE_URLS.listener });
  return [...sotwResources(await client.next(5000)).keys()];
}

describe('ADS over mTLS with roles bound to certificates', () => {
  let sluice: RunningSluice;
  let proxyA: IssuedCertificate;

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, 'config.yaml'), UPSTREAMS + GATEWAYS);
    proxyA = proxyCa.issue('proxy-a', { commonName: PROXY_A });
    sluice = await serveDirectory(dir, { xdsTls: mtls(proxyCa.certFile, true) });
  });

  afterAll(async () => {
    await sluice.stop();
    fs.rmSync(path.join(dir, 'config.yaml'));
  });

  it('serves a proxy presenting a certificate signed by the client CA its own config', async () => {
    expect(await listenersAs(tlsClient(sluice.xdsPort, proxyA), PROXY_A)).toEqual([LISTENER_OF[PROXY_A]]);
  });

  it('takes the identity from a SPIFFE URI SAN as well as from the CN', async () => {
    const proxyB = proxyCa.issue('proxy-b', {
      commonName: 'proxy b',
      altNames: ['URI:spiffe://sluice.test/ns/default/sa/proxy-b'],
    });
    expect(await listenersAs(tlsClient(sluice.xdsPort, proxyB), PROXY_B)).toEqual([LISTENER_OF[PROXY_B]]);
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const stranger = otherCa.issue('proxy-a', { commonName: PROXY_A });
    for (const client of [tlsClient(sluice.xdsPort), tlsClient(sluice.xdsPort, stranger)]) {
      await expect(listenersAs(client, PROXY_A)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    }
  });

  it('refuses plaintext clients', async () => {
    const plaintext = new SotwClient(sluice.xdsPort, { ownConnection: true });
    clients.push(plaintext);
    await expect(listenersAs(plaintext, PROXY_A)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it("refuses a proxy that asks for another proxy's config with PERMISSION_DENIED", async () => {
    await expect(listenersAs(tlsClient(sluice.xdsPort, proxyA), PROXY_B)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: `role ${PROXY_B} refused: the client certificate is for ${PROXY_A}`,
    });
  });

  it('refuses a role without a namespace and a certificate that names no proxy', async () => {
    await expect(listenersAs(tlsClient(sluice.xdsPort, proxyA), 'proxy-a')).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    const anonymous = proxyCa.issue('anonymous', { commonName: 'some envoy', altNames: ['DNS:envoy.test'] });
    await expect(listenersAs(tlsClient(sluice.xdsPort, anonymous), PROXY_A)).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: expect.stringContaining('the client certificate names no proxy'),
    });
  });
});

describe('the xDS server at start', () => {
  /** The messages of the warnings the ADS server logs while it starts on `address`. */
  async function startWarnings(address: string, tls?: XdsTls): Promise<string[]> {
    const warnings: string[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) },
    );
    const server = new AdsServer({ cache: new SnapshotCache(), metrics: new Metrics(), logger, tls });
    await server.start(address);
    await server.stop();
    return warnings;
  }

  it('warns about plaintext xDS on a non-loopback address', async () => {
    expect(await startWarnings('0.0.0.0:0')).toEqual([
      expect.stringContaining('xDS in plaintext on a non-loopback address'),
    ]);
  });

  it('does not warn on loopback, nor with mTLS', async () => {
    expect(await startWarnings('127.0.0.1:0')).toEqual([]);
    expect(await startWarnings('0.0.0.0:0', mtls(proxyCa.certFile))).toEqual([]);
  });

  it.each([
    ['127.0.0.1:9977', true],
    ['127.5.0.1:9977', true],
    ['[::1]:9977', true],
    ['localhost:9977', true],
    ['unix:/run/sluice.sock', true],
    ['0.0.0.0:9977', false],
    ['[::]:9977', false],
    ['10.0.0.5:9977', false],
    ['sluice.example:9977', false],
  ])('knows whether %s is loopback', (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });

  it('says what is wrong with the TLS files', () => {
    const other = otherCa.issue('mismatch', { commonName: 'other' });
    const files = { certFile: serving.certFile, keyFile: serving.keyFile };
    expect(() => loadXdsTls({ certFile: serving.certFile })).toThrow(
      'needs both a certificate and its private key',
    );
    expect(() => loadXdsTls({ ...files, keyFile: other.keyFile })).toThrow(
      `xDS TLS private key ${other.keyFile}: does not belong to the certificate ${serving.certFile}`,
    );
    expect(() => loadXdsTls({ ...files, bindRoleToCertificate: true })).toThrow('set a client CA');
    expect(() => loadXdsTls({ ...files, clientCaFile: path.join(dir, 'missing.crt') })).toThrow(
      `xDS client CA ${path.join(dir, 'missing.crt')}: cannot read it (ENOENT)`,
    );
    expect(() => loadXdsTls({ ...files, clientCaFile: serving.keyFile })).toThrow('not a PEM certificate');
    expect(loadXdsTls({ certFile: '', keyFile: '' })).toBeUndefined();
  });
});

describe('sluice serve with xDS TLS', () => {
  it('takes xdsTls from Settings, and a flag wins over its field', async () => {
    const configDir = fs.mkdtempSync(path.join(dir, 'serve-'));
    const settings = {
      apiVersion: 'sluice.dev/v1',
      kind: 'Settings',
      metadata: { name: 'default' },
      spec: {
        xdsAddress: '127.0.0.1:0',
        adminAddress: '127.0.0.1:0',
        xdsTls: { certFile: serving.certFile, keyFile: serving.keyFile, clientCaFile: otherCa.certFile },
      },
    };
    fs.writeFileSync(path.join(configDir, 'settings.yaml'), JSON.stringify(settings));
    fs.writeFileSync(path.join(configDir, 'upstreams.yaml'), UPSTREAMS);
    const child = spawn(
      process.execPath,
      [
        path.join(PACKAGE_ROOT, 'bin', 'sluice'),
        'serve',
        '--config-dir',
        configDir,
        '--xds-client-ca',
        proxyCa.certFile,
      ],
      { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const [, xdsPort] = await waitFor(
        'the serving line',
        () => /xDS on port (\d+)/.exec(stderr) ?? undefined,
        {
          timeoutMs: 20000,
        },
      );
      const proxy = proxyCa.issue('gateway-proxy', { commonName: 'default~gateway-proxy' });
      expect(await listenersAs(tlsClient(Number(xdsPort), proxy), 'default~gateway-proxy')).toEqual([
        'listener-::-8080',
      ]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('exits with a user error that names the problem when the files are incomplete or wrong', async () => {
    const configDir = fs.mkdtempSync(path.join(dir, 'serve-'));
    const incomplete = await runSluice([
      'serve',
      '--config-dir',
      configDir,
      '--xds-tls-cert',
      serving.certFile,
    ]);
    expect(incomplete).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('needs both a certificate'),
    });
    const unreadable = await runSluice([
      'serve',
      '--config-dir',
      configDir,
      '--xds-tls-cert',
      serving.certFile,
      '--xds-tls-key',
      path.join(dir, 'nope.key'),
    ]);
    expect(unreadable).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('nope.key: cannot read it'),
    });
  });
});

describe('docs/envoy-bootstrap-tls.yaml', () => {
  const bootstrapIn = (file: string) =>
    checkBootstrap(parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'docs', file), 'utf8')));

  it('is docs/envoy-bootstrap.yaml with mTLS on the cluster that ADS streams to', () => {
    const { decoded, violations, adsTargets } = bootstrapIn('envoy-bootstrap-tls.yaml');
    expect(violations).toEqual([]);
    expect(adsTargets).toEqual(['127.0.0.1:9977']);
    const [{ transportSocket, ...cluster }] = decoded.staticResources.clusters;
    expect(transportSocket).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        commonTlsContext: {
          alpnProtocols: ['h2'],
          tlsCertificates: [
            {
              certificateChain: { filename: '/etc/envoy/xds/tls.crt' },
              privateKey: { filename: '/etc/envoy/xds/tls.key' },
            },
          ],
          validationContext: {
            trustedCa: { filename: '/etc/envoy/xds/ca.crt' },
            matchTypedSubjectAltNames: [{ sanType: 'IP_ADDRESS', matcher: { exact: '127.0.0.1' } }],
          },
        },
      },
    });
    const plain = bootstrapIn('envoy-bootstrap.yaml').decoded;
    expect({ ...decoded, staticResources: { clusters: [cluster] } }).toEqual(plain);
  });
});

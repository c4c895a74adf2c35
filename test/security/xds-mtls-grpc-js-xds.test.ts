/**
 * `@grpc/grpc-js-xds` against Sluice's ADS over mTLS with roles bound to certificates. grpc-js-xds 1.14
 * cannot present a client certificate (its bootstrap knows only `insecure` and `google_default` channel
 * credentials), so, as deployed in practice, it speaks plaintext to a client-side mTLS tunnel on
 * loopback that carries its xDS stream to Sluice with the client certificate (test/helpers/mtls-tunnel).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { loadXdsTls, type XdsTls } from '../../src/xds/xds-tls';
import { callEcho } from '../helpers/echo-backend';
import {
  GrpcXdsHarness,
  PROXY_KEY,
  meta,
  proxylessGateway,
  virtualService,
} from '../helpers/grpc-xds-harness';
import { startMtlsTunnel, type MtlsTunnel } from '../helpers/mtls-tunnel';
import { TestCertificateAuthority, type IssuedCertificate } from '../helpers/tls-certs';

jest.setTimeout(30000);

const DOMAIN = 'mtls.test';
/** A proxy that has a certificate but is not the proxyless Gateway's. */
const OTHER_PROXY = 'default~other-clients';

let certDir: string;
/** Signs Sluice's serving certificate; the tunnels trust it. */
let xdsCa: TestCertificateAuthority;
/** Signs the clients' certificates: the client CA Sluice trusts. */
let clientCa: TestCertificateAuthority;
let harness: GrpcXdsHarness;
/** A client certificate for the proxyless Gateway's proxy, whose config the clients ask for. */
let gatewayProxyCertificate: IssuedCertificate;
/** What Sluice logged at `warn` and above, such as the ADS streams it refused. */
const sluiceWarnings: Array<{ msg: string; role?: string; refusal?: string }> = [];
const tunnels: MtlsTunnel[] = [];

function mutualTls(serving: IssuedCertificate): XdsTls {
  const tls = loadXdsTls({
    certFile: serving.certFile,
    keyFile: serving.keyFile,
    clientCaFile: clientCa.certFile,
    bindRoleToCertificate: true,
  });
  if (!tls) throw new Error('no TLS configured');
  return tls;
}

beforeAll(async () => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-xds-mtls-grpc-'));
  xdsCa = TestCertificateAuthority.create(certDir, 'xds');
  clientCa = TestCertificateAuthority.create(certDir, 'clients');
  const serving = xdsCa.issue('sluice', { commonName: 'sluice', altNames: ['IP:127.0.0.1'] });
  gatewayProxyCertificate = clientCa.issue('grpc-clients', { commonName: PROXY_KEY });
  harness = await GrpcXdsHarness.start(['a']);
  await harness.writeYaml(
    'config.yaml',
    proxylessGateway('grpc'),
    harness.upstream('a'),
    virtualService('mtls', DOMAIN, [
      { matchers: [{ prefix: '/' }], routeAction: { single: { upstream: meta('backend-a') } } },
    ]),
  );
  await harness.serve({
    xdsTls: mutualTls(serving),
    logger: pino({ level: 'warn' }, { write: (line: string) => sluiceWarnings.push(JSON.parse(line)) }),
  });
});

afterAll(async () => {
  try {
    // Clients first, while their ADS streams still reach Sluice: a grpc-js-xds 1.14 client whose stream
    // breaks before it closes restarts it and waits for a tunnel that is gone, which nothing cancels.
    await harness?.close();
    await Promise.all(tunnels.splice(0).map((tunnel) => tunnel.close()));
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true });
  }
});

/** A tunnel to Sluice's xDS port that presents `clientCertificate`, if any. */
async function tunnelToSluice(clientCertificate?: IssuedCertificate): Promise<MtlsTunnel> {
  const tunnel = await startMtlsTunnel({
    targetPort: harness.sluice.xdsPort,
    ca: xdsCa.authority.cert,
    clientCertificate,
  });
  tunnels.push(tunnel);
  return tunnel;
}

/** A new client of the test's domain, as the Gateway's proxy, whose xDS stream goes through `tunnel`. */
function clientThrough(tunnel: MtlsTunnel): grpc.Client {
  return harness.client(DOMAIN, { xdsPort: tunnel.port });
}

/** How a call fails when its channel never got a config from Sluice. */
const NO_CONFIG = {
  code: grpc.status.DEADLINE_EXCEEDED,
  details: expect.stringContaining('waiting for name resolution'),
};

// First: each ADS stream grpc-js-xds 1.14 starts arms a 15 s resource-does-not-exist timer that nothing
// cancels when the stream is refused or the client closed, and that holds the process open; the other
// tests run while the timers of this one run out.
it("refuses the ADS stream of a tunnel whose certificate is another proxy's: no config for the client's role", async () => {
  const tunnel = await tunnelToSluice(clientCa.issue('other-clients', { commonName: OTHER_PROXY }));
  const client = clientThrough(tunnel);
  await expect(callEcho(client, 'Who', { timeoutMs: 2000 })).rejects.toMatchObject(NO_CONFIG);
  // The client CA signed the certificate, so TLS and HTTP/2 go through; the role is what Sluice refuses.
  expect(tunnel.connections).toEqual([{ secured: true, bytesFromServer: expect.any(Number) }]);
  expect(tunnel.connections[0].bytesFromServer).toBeGreaterThan(0);
  expect(sluiceWarnings).toContainEqual(
    expect.objectContaining({
      msg: 'ADS stream refused',
      role: PROXY_KEY,
      refusal: `role ${PROXY_KEY} refused: the client certificate is for ${OTHER_PROXY}`,
    }),
  );
  // The tunnel takes the certificate for the role and reconnects, and the same client gets its config.
  // This also ends grpc-js-xds 1.14's ADS retries over the refused connection, which would else keep
  // the process alive for minutes after the suite: closing the client stops neither.
  tunnel.useClientCertificate(gatewayProxyCertificate);
  tunnel.dropConnections();
  await expect(callEcho(client, 'Who', { waitForReady: true, timeoutMs: 15000 })).resolves.toMatchObject({
    backend: 'a',
  });
  client.close();
});

it("configures a client whose tunnel presents a certificate for the client's role: its calls reach the backend", async () => {
  const tunnel = await tunnelToSluice(gatewayProxyCertificate);
  await expect(callEcho(clientThrough(tunnel), 'Who', { waitForReady: true })).resolves.toMatchObject({
    backend: 'a',
    method: 'Who',
  });
  expect(tunnel.connections).toEqual([{ secured: true, bytesFromServer: expect.any(Number) }]);
  expect(tunnel.connections[0].bytesFromServer).toBeGreaterThan(0);
});

it.each([
  {
    presented: 'no client certificate',
    certificate: () => undefined,
    refused: { error: expect.objectContaining({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' }) },
  },
  {
    // Sluice closes such a connection without an alert that reaches the tunnel.
    presented: 'a certificate another CA signed',
    certificate: () =>
      TestCertificateAuthority.create(certDir, 'other').issue('grpc-clients', { commonName: PROXY_KEY }),
    refused: {},
  },
])(
  'refuses the TLS connections of a tunnel with $presented: the client gets no config',
  async ({ certificate, refused }) => {
    const tunnel = await tunnelToSluice(certificate());
    const client = clientThrough(tunnel);
    await expect(callEcho(client, 'Who', { timeoutMs: 2000 })).rejects.toMatchObject(NO_CONFIG);
    expect(tunnel.connections.length).toBeGreaterThan(0);
    for (const connection of tunnel.connections) {
      // With TLS 1.3 the tunnel's side of the handshake completes before Sluice checks its certificate.
      expect(connection).toMatchObject({ secured: true, bytesFromServer: 0, ...refused });
    }
    // Once the tunnel has a certificate for the role, the same client gets its config on its next retry.
    // This also ends grpc-js-xds 1.14's wait-for-ready ADS call, which would else hold the process open:
    // closing the client does not cancel it nor close the channel it waits on.
    tunnel.useClientCertificate(gatewayProxyCertificate);
    await expect(callEcho(client, 'Who', { waitForReady: true, timeoutMs: 15000 })).resolves.toMatchObject({
      backend: 'a',
    });
  },
);

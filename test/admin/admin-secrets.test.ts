import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { RunningSluice } from '../../src/control-plane/sluice-server';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { serveDirectory } from '../helpers/serve-directory';
import { tlsGatewayYaml } from '../helpers/tls-gateway';
import { UPSTREAMS } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';
import { SotwClient, nodeWithRole } from '../xds/ads-client';

/** Fresh values each run, so that nothing else in an answer can match them by chance. */
const PRIVATE_KEY = `private-key-${randomUUID()}`;
const API_KEY = `api-key-${randomUUID()}`;
const CERT_CHAIN = `cert-chain-${randomUUID()}`;

const CONFIG = `${UPSTREAMS}${tlsGatewayYaml(CERT_CHAIN, PRIVATE_KEY)}
---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: unused, namespace: default}
type: generic
data: {key: ${API_KEY}}
`;

/** A proxy whose NACK message quotes secrets back, as an Envoy error about a bad key or header could. */
const NACK_MESSAGE = `cannot load private key ${PRIVATE_KEY}; bad header value ${API_KEY}`;

describe.each([
  ['by default', false],
  ['with --admin-show-secrets', true],
])('the admin endpoint %s', (_when, showSecrets) => {
  let dir: string;
  let sluice: RunningSluice;
  let proxy: SotwClient;
  const admin = async (route: string) => (await fetch(`http://127.0.0.1:${sluice.adminPort}${route}`)).text();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-admin-secrets-'));
    fs.writeFileSync(path.join(dir, 'config.yaml'), CONFIG);
    sluice = await serveDirectory(dir, { adminShowSecrets: showSecrets });
    proxy = new SotwClient(sluice.xdsPort, { ownConnection: true });
    proxy.send({
      node: nodeWithRole('envoy-admin-test', 'default~gateway-proxy'),
      typeUrl: TYPE_URLS.listener,
    });
    const response = await proxy.next();
    proxy.send({
      typeUrl: response.typeUrl,
      responseNonce: response.nonce,
      errorDetail: { code: 3, message: NACK_MESSAGE },
    });
    await waitFor('the NACK on /resources', async () =>
      (await admin('/resources')).includes('"lastNack"') ? true : undefined,
    );
  });

  afterAll(async () => {
    proxy.close();
    await sluice.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(showSecrets ? 'shows private keys on /snapshot' : 'redacts private keys on /snapshot', async () => {
    const dump = JSON.parse(await admin('/snapshot?proxy=default~gateway-proxy'));
    expect(dump['default~gateway-proxy'][TYPE_URLS.secret]).toEqual([
      {
        version: expect.any(String),
        resource: {
          name: 'cert_default',
          tlsCertificate: {
            certificateChain: { inlineString: CERT_CHAIN },
            privateKey: showSecrets ? { inlineString: PRIVATE_KEY } : '[redacted]',
          },
        },
      },
    ]);
  });

  it(
    showSecrets
      ? 'shows the secret values a proxy quoted on /resources'
      : 'hides secret values wherever they appear on /resources, /snapshot and /proxies',
    async () => {
      const resources = await admin('/resources');
      const stream = JSON.parse(resources).streams[0];
      expect(stream.types[0].lastNack.message).toBe(
        showSecrets ? NACK_MESSAGE : 'cannot load private key [redacted]; bad header value [redacted]',
      );
      const everything = resources + (await admin('/snapshot')) + (await admin('/proxies'));
      const shown = [PRIVATE_KEY, API_KEY].filter((secret) => everything.includes(secret));
      expect(shown).toEqual(showSecrets ? [PRIVATE_KEY, API_KEY] : []);
    },
  );
});

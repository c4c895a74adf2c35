import { serveDirectory } from '../helpers/serve-directory';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { type RunningSluice } from '../../src/control-plane/sluice-server';
import { FileDiscoveryState } from '../../src/discovery/fds/discovery-state';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient, sotwResources } from '../xds/ads-client';
import { GcfApiServer, type FunctionFixture } from '../helpers/gcf-api-server';
import { gcpUpstreamYaml } from '../helpers/gcf-config';
import { giveGaxiosNodeFetch } from '../helpers/gcf-fetch';
import { waitFor } from '../helpers/wait';

giveGaxiosNodeFetch();

const ROUTES = 'listener-::-8080-routes';
const HELLO: FunctionFixture = { project: 'shop', region: 'us-central1', name: 'hello', generation: 2 };
const LEGACY: FunctionFixture = {
  project: 'shop',
  region: 'us-central1',
  name: 'legacy',
  generation: 1,
  public: true,
};

type Route = { match: unknown; route?: Record<string, unknown>; requestHeadersToAdd?: unknown[] };

describe('serve: Cloud Functions discovered, routed over ADS with identity tokens Sluice minted', () => {
  let gcf: GcfApiServer;
  let dir: string;
  let sluice: RunningSluice;
  let client: SotwClient;

  beforeAll(async () => {
    gcf = new GcfApiServer();
    await gcf.start();
    gcf.addFunction(HELLO);
    gcf.addFunction(LEGACY);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-gcp-'));
    fs.writeFileSync(
      path.join(dir, 'gcp.yaml'),
      `${gcpUpstreamYaml(
        gcf.createServiceAccount('gateway@shop.iam.gserviceaccount.com'),
        `apiEndpoint: "${gcf.endpoint()}", secretRef: {name: gcp-key}`,
      )}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: default, namespace: default}
spec:
  virtualHost:
    domains: ["*"]
    routes:
    - matchers: [{prefix: /gcf/hello}]
      routeAction: {single: {upstream: {name: gcf}, function: hello}}
    - matchers: [{prefix: /gcf/legacy}]
      routeAction: {single: {upstream: {name: gcf}, function: legacy}}
`,
    );
    sluice = await serveDirectory(dir, {
      discoveryState: new FileDiscoveryState(dir),
    });
    client = new SotwClient(sluice.xdsPort);
  });

  afterAll(async () => {
    client?.close();
    await sluice?.stop();
    await gcf?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves /gcf/hello with a Google ID token for the function URL, and /gcf/legacy (public) without one', async () => {
    client.send({ node: nodeWithRole('envoy-1'), typeUrl: TYPE_URLS.route, resourceNames: [ROUTES] });
    const routes = await waitFor(
      'routes with an identity token',
      async () => {
        const response = await client.next(10000);
        client.ack(response, [ROUTES]);
        const config = sotwResources(response).get(ROUTES) as
          { virtualHosts: Array<{ routes: Route[] }> } | undefined;
        const list = config?.virtualHosts[0].routes;
        return list?.[0].requestHeadersToAdd && list[1].route ? list : undefined;
      },
      { timeoutMs: 15000, intervalMs: 0 },
    );
    const [header] = routes[0].requestHeadersToAdd as Array<{ header: { key: string; value: string } }>;
    expect(header.header.key).toBe('authorization');
    const claims = gcf.verifyIdToken(header.header.value.replace(/^Bearer /, ''));
    expect(claims).toMatchObject({
      aud: GcfApiServer.functionUrl(HELLO),
      email: 'gateway@shop.iam.gserviceaccount.com',
    });
    expect(routes[0].route).toMatchObject({
      cluster: `gcf_default~${new URL(GcfApiServer.functionUrl(HELLO)).host}:443`,
      autoHostRewrite: { value: true },
    });
    expect(routes[1].requestHeadersToAdd).toBeUndefined();
    expect(routes[1].route).toMatchObject({
      cluster: 'gcf_default~us-central1-shop.cloudfunctions.net:443',
      regexRewrite: { pattern: { regex: '^/gcf/legacy/?' }, substitution: '/legacy/' },
    });
    const status = await waitFor('the VirtualService to be Accepted', () => {
      const current = sluice.controlPlane.currentStatuses().get('VirtualService/default/default');
      return current?.state === 'Accepted' ? current : undefined;
    });
    expect(status.reasons).toBeUndefined();

    const dump = JSON.stringify(await (await fetch(`http://127.0.0.1:${sluice.adminPort}/snapshot`)).json());
    expect(dump).toContain('"key":"authorization","value":"[redacted]"');
    expect(dump).not.toContain(header.header.value);
    const saved = fs.readFileSync(path.join(dir, '.sluice', 'discovered.json'), 'utf8');
    expect(saved).not.toContain(header.header.value);
  });
});

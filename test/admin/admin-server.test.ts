import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { RunningSluice } from '../../src/control-plane/sluice-server';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { serveDirectory } from '../helpers/serve-directory';
import { tlsGatewayYaml } from '../helpers/tls-gateway';
import { UPSTREAMS, virtualService } from '../helpers/translate-yaml';

describe('admin HTTP server', () => {
  let dir: string;
  let sluice: RunningSluice;
  const get = async (route: string) => {
    const response = await fetch(`http://127.0.0.1:${sluice.adminPort}${route}`);
    return {
      status: response.status,
      text: await response.text(),
      type: response.headers.get('content-type'),
    };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-admin-'));
    fs.writeFileSync(
      path.join(dir, 'all.yaml'),
      UPSTREAMS +
        virtualService('[{routeAction: {single: {upstream: {name: petstore}}}}]') +
        tlsGatewayYaml('CERT-VALUE', 'PRIVATE-KEY-VALUE'),
    );
    sluice = await serveDirectory(dir);
  });

  afterAll(async () => {
    await sluice.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers health and readiness', async () => {
    expect(await get('/healthz')).toMatchObject({ status: 200, text: 'ok\n' });
    expect(await get('/readyz')).toMatchObject({ status: 200, text: 'ready\n' });
  });

  it('exports Prometheus metrics', async () => {
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^sluice_translations_total 1$/m);
    expect(metrics.text).toContain('# TYPE sluice_connected_proxies gauge');
    expect(metrics.text).toContain('# TYPE sluice_xds_nacks_total counter');
  });

  it('dumps the config of each proxy with private keys redacted', async () => {
    const dump = JSON.parse((await get('/snapshot?proxy=default~gateway-proxy')).text);
    expect(Object.keys(dump)).toEqual(['default~gateway-proxy']);
    const clusters = dump['default~gateway-proxy'][TYPE_URLS.cluster] as Array<{
      version: string;
      resource: { name: string };
    }>;
    expect(clusters.map((cluster) => cluster.resource.name)).toEqual(['canary_default', 'petstore_default']);
    expect(dump['default~gateway-proxy'][TYPE_URLS.secret]).toEqual([
      {
        version: expect.any(String),
        resource: {
          name: 'cert_default',
          tlsCertificate: { certificateChain: { inlineString: 'CERT-VALUE' }, privateKey: '[redacted]' },
        },
      },
    ]);
    const everything =
      (await get('/snapshot')).text + (await get('/resources')).text + (await get('/proxies')).text;
    expect(everything).not.toContain('PRIVATE-KEY-VALUE');
  });

  it('lists statuses and the computed proxies', async () => {
    const resources = JSON.parse((await get('/resources')).text);
    expect(resources.statuses['VirtualService/default/vs']).toMatchObject({ state: 'Accepted' });
    expect(resources.streams).toEqual([]);
    const proxies = JSON.parse((await get('/proxies')).text);
    expect(proxies.map((proxy: { metadata: { name: string } }) => proxy.metadata.name)).toEqual([
      'gateway-proxy',
    ]);
    expect((await get('/nope')).status).toBe(404);
  });
});

import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { sluice, tempConfigDir } from '../helpers/sluice-cli';
import { UPSTREAMS } from '../helpers/translate-yaml';

const EXAMPLES = path.join(PACKAGE_ROOT, 'examples');
const dirs: string[] = [];

function configDir(files: Record<string, string> = {}): string {
  const dir = tempConfigDir(files);
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every `typedConfig`, and every value of a `typedExtensionProtocolOptions` map, is an expanded Any. */
function anysWithoutType(value: unknown, at = '', key = '', parentKey = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => anysWithoutType(item, `${at}[${index}]`));
  if (!value || typeof value !== 'object') return [];
  const record = value as Record<string, unknown>;
  const isAny = key === 'typedConfig' || parentKey === 'typedExtensionProtocolOptions';
  const missing = isAny && !record['@type'] ? [at] : [];
  return [
    ...missing,
    ...Object.entries(record).flatMap(([child, nested]) =>
      anysWithoutType(nested, `${at}.${child}`, child, key),
    ),
  ];
}

describe('sluice CLI', () => {
  it('prints help and exits 0; an unknown command exits 1', async () => {
    const help = await sluice(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['serve', 'translate', 'discover', 'get', 'check', 'create', 'add'])
      expect(help.stdout).toContain(command);
    const wrong = await sluice(['frobnicate']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("unknown command 'frobnicate'");
  });

  it('translate prints xDS resources by type URL in config-dump form, and every report', async () => {
    const result = await sluice(['translate', '--config-dir', EXAMPLES]);
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(Object.keys(output.xds)).toEqual([
      TYPE_URLS.cluster,
      TYPE_URLS.endpoint,
      TYPE_URLS.listener,
      TYPE_URLS.route,
    ]);
    const [listener] = output.xds[TYPE_URLS.listener];
    expect(listener.filterChains[0].filters[0].typedConfig['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    );
    expect(anysWithoutType(output.xds)).toEqual([]);
    expect(output.reports).toContainEqual({
      kind: 'VirtualService',
      namespace: 'default',
      name: 'default',
      state: 'Accepted',
      reasons: [],
    });
    const yaml = await sluice(['translate', '--config-dir', EXAMPLES, '-o', 'yaml']);
    expect(parse(yaml.stdout)).toEqual(output);
  });

  it('says what to fix when the config directory is missing (exit 1)', async () => {
    const result = await sluice(['translate', '--config-dir', '/nonexistent/sluice']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('config directory /nonexistent/sluice does not exist');
  });

  it('get lists resources as a table, JSON or YAML, and never prints secret values', async () => {
    const dir = configDir({
      'upstreams.yaml': UPSTREAMS,
      'secret.yaml':
        'apiVersion: sluice.dev/v1\nkind: Secret\nmetadata: {name: cert}\ntype: tls\ndata: {certChain: TOPSECRETCERT, privateKey: TOPSECRETKEY}\n',
    });
    const table = await sluice(['get', 'upstreams', '--config-dir', dir]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^UPSTREAM\s+TYPE\s+STATUS\s+DETAILS$/);
    expect(table.stdout).toMatch(/petstore\s+static\s+Accepted\s+10\.0\.0\.12:8080/);
    const one = JSON.parse(
      (await sluice(['get', 'upstream', 'canary', '--config-dir', dir, '-o', 'json'])).stdout,
    );
    expect(one).toMatchObject({
      kind: 'Upstream',
      metadata: { name: 'canary' },
      status: { state: 'Accepted' },
    });
    for (const format of ['table', 'json', 'yaml']) {
      const secrets = await sluice(['get', 'secrets', '--config-dir', dir, '-o', format]);
      expect(secrets.code).toBe(0);
      expect(secrets.stdout).toContain('cert');
      expect(secrets.stdout).not.toContain('TOPSECRET');
    }
    const missing = await sluice(['get', 'upstream', 'nope', '--config-dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Upstream nope not found');
    const proxies = await sluice(['get', 'proxies', '--config-dir', dir, '-o', 'yaml']);
    expect(parse(proxies.stdout)[0]).toMatchObject({
      kind: 'Proxy',
      metadata: { name: 'gateway-proxy', namespace: 'default' },
    });
  });

  it('check exits 0 on a healthy directory and 1 naming every broken resource', async () => {
    const healthy = await sluice(['check', '--config-dir', EXAMPLES]);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toContain('No problems detected');
    const dir = configDir({
      'good.yaml': UPSTREAMS,
      'bad.yaml':
        'apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: broken}\nspec: {static: {hosts: [{address: 10.0.0.1, port: 0}]}}\n',
      'syntax.yaml': 'apiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: [unclosed\n',
    });
    const broken = await sluice(['check', '--config-dir', dir]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('Rejected: Upstream default/broken');
    expect(broken.stdout).toContain('spec.static.hosts[0].port: must be >= 1');
    expect(broken.stdout).toMatch(/syntax\.yaml:\d+/);
    expect(broken.stdout).not.toContain('Upstream default/petstore');
  });

  it('create upstream and add route write resources that translate, creating the default VirtualService', async () => {
    const dir = configDir();
    const created = await sluice([
      'create',
      'upstream',
      'static',
      '--name',
      'petstore',
      '--host',
      '10.0.0.12:8080',
      '--config-dir',
      dir,
    ]);
    expect(created.code).toBe(0);
    const added = await sluice([
      'add',
      'route',
      '--path-prefix',
      '/petstore',
      '--dest-name',
      'petstore',
      '--prefix-rewrite',
      '/',
      '--config-dir',
      dir,
    ]);
    expect(added.code).toBe(0);
    const second = await sluice([
      'add',
      'route',
      '--path-exact',
      '/health',
      '--method',
      'get',
      '--dest-name',
      'petstore',
      '--config-dir',
      dir,
    ]);
    expect(second.code).toBe(0);
    const vs = JSON.parse((await sluice(['get', 'vs', 'default', '--config-dir', dir, '-o', 'json'])).stdout);
    expect(vs.spec.virtualHost).toEqual({
      domains: ['*'],
      routes: [
        {
          matchers: [{ exact: '/health', methods: ['GET'] }],
          routeAction: { single: { upstream: { name: 'petstore', namespace: 'default' } } },
        },
        {
          matchers: [{ prefix: '/petstore' }],
          routeAction: { single: { upstream: { name: 'petstore', namespace: 'default' } } },
          options: { prefixRewrite: '/' },
        },
      ],
    });
    const output = JSON.parse((await sluice(['translate', '--config-dir', dir])).stdout);
    const routes = output.xds[TYPE_URLS.route][0].virtualHosts[0].routes;
    expect(routes[1]).toEqual({
      match: { prefix: '/petstore' },
      route: { cluster: 'petstore_default', prefixRewrite: '/' },
    });
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('.') && name !== '.sluice')).toEqual([]);
  });

  it('refuses invalid writes with exit 1 and leaves the directory untouched', async () => {
    const dir = configDir();
    const badHost = await sluice([
      'create',
      'upstream',
      'static',
      '--name',
      'x',
      '--host',
      'nowhere',
      '--config-dir',
      dir,
    ]);
    expect(badHost.code).toBe(1);
    expect(badHost.stderr).toContain('--host nowhere: write ADDRESS:PORT');
    const badPort = await sluice([
      'create',
      'upstream',
      'static',
      '--name',
      'x',
      '--host',
      '10.0.0.1:70000',
      '--config-dir',
      dir,
    ]);
    expect(badPort.code).toBe(1);
    expect(badPort.stderr).toContain('spec.static.hosts[0].port: must be <= 65535');
    const twoPaths = await sluice([
      'add',
      'route',
      '--path-prefix',
      '/a',
      '--path-exact',
      '/b',
      '--dest-name',
      'x',
      '--config-dir',
      dir,
    ]);
    expect(twoPaths.code).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('--dry-run prints without writing and never prints secret values', async () => {
    const dir = configDir({ 'cert.pem': 'CERTDATA', 'key.pem': 'KEYDATA' });
    const result = await sluice([
      'create',
      'secret',
      'tls',
      '--name',
      'cert',
      '--cert-file',
      path.join(dir, 'cert.pem'),
      '--key-file',
      path.join(dir, 'key.pem'),
      '--config-dir',
      dir,
      '--dry-run',
    ]);
    expect(result.code).toBe(0);
    expect(parse(result.stdout)).toEqual({
      apiVersion: 'sluice.dev/v1',
      kind: 'Secret',
      metadata: { name: 'cert', namespace: 'default' },
      type: 'tls',
      data: { certChain: '<redacted>', privateKey: '<redacted>' },
    });
    expect(fs.readdirSync(dir).sort()).toEqual(['cert.pem', 'key.pem']);
  });

  it('discover finds nothing to discover where no upstream opts in, and says so as JSON', async () => {
    const dir = configDir({ 'upstreams.yaml': UPSTREAMS });
    const result = await sluice(['discover', '--config-dir', dir]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({});
  });
});

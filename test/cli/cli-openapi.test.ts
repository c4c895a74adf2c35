import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { TYPE_URLS } from '../../src/xds/type-urls';
import {
  operationKeys,
  petstoreDocument,
  routeKeys,
  SpecServer,
  SPEC_PATH,
  withOperation,
  type RouteJson,
} from '../helpers/openapi-live-spec-server';
import { sluice, tempConfigDir } from '../helpers/sluice-cli';

const PETSTORE_BASE_PATH = '/v2'; // the path of the document's server URL, http://petstore.swagger.io/v2

function readYaml(file: string): Record<string, unknown> {
  return parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function routesOf(translateOutput: string): string[] {
  const output = JSON.parse(translateOutput) as {
    xds: Record<string, Array<{ virtualHosts: Array<{ routes: RouteJson[] }> }>>;
  };
  return routeKeys(output.xds[TYPE_URLS.route][0].virtualHosts[0].routes);
}

describe('sluice CLI with OpenAPI functions', () => {
  let specServer: SpecServer;
  let specPort: number;
  let dir: string;

  beforeAll(async () => {
    specServer = new SpecServer(petstoreDocument());
    specPort = await specServer.start();
    dir = tempConfigDir();
  });

  afterAll(async () => {
    await specServer?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('create upstream static --swagger-url sets serviceSpec.rest.swaggerUrl and enables discovery', async () => {
    const created = await sluice([
      'create',
      'upstream',
      'static',
      '--name',
      'petstore',
      '--host',
      `127.0.0.1:${specPort}`,
      '--swagger-url',
      SPEC_PATH,
      '--config-dir',
      dir,
    ]);
    expect(created.code).toBe(0);
    expect(readYaml(path.join(dir, 'default', 'upstreams', 'petstore.yaml'))).toEqual({
      apiVersion: 'sluice.dev/v1',
      kind: 'Upstream',
      metadata: {
        name: 'petstore',
        namespace: 'default',
        labels: { 'discovery.sluice.dev/function-discovery': 'enabled' },
      },
      spec: {
        static: {
          hosts: [{ address: '127.0.0.1', port: specPort }],
          serviceSpec: { rest: { swaggerUrl: SPEC_PATH } },
        },
      },
    });
  });

  it('create upstream kube --swagger-url takes an absolute URL; anything else is a user error', async () => {
    const kube = await sluice([
      'create',
      'upstream',
      'kube',
      '--name',
      'orders',
      '--service-name',
      'orders',
      '--service-port',
      '8080',
      '--swagger-url',
      'https://docs.example.com/orders.yaml',
      '--dry-run',
    ]);
    expect(kube.code).toBe(0);
    expect(parse(kube.stdout)).toMatchObject({
      metadata: { labels: { 'discovery.sluice.dev/function-discovery': 'enabled' } },
      spec: { kube: { serviceSpec: { rest: { swaggerUrl: 'https://docs.example.com/orders.yaml' } } } },
    });
    const relative = await sluice([
      'create',
      'upstream',
      'static',
      '--name',
      'x',
      '--host',
      '10.0.0.1:80',
      '--swagger-url',
      'openapi.json',
      '--dry-run',
    ]);
    expect(relative.code).toBe(1);
    expect(relative.stderr).toContain(
      '--swagger-url openapi.json: give an http(s) URL or a path on the upstream starting with /',
    );
  });

  it('add route --all-functions writes a functions route, and refuses what cannot go with it', async () => {
    const added = await sluice([
      'add',
      'route',
      '--path-prefix',
      '/petstore',
      '--dest-name',
      'petstore',
      '--all-functions',
      '--config-dir',
      dir,
    ]);
    expect(added.code).toBe(0);
    const virtualServiceFile = path.join(dir, 'default', 'virtualservices', 'default.yaml');
    expect(readYaml(virtualServiceFile).spec).toEqual({
      virtualHost: {
        domains: ['*'],
        routes: [
          {
            matchers: [{ prefix: '/petstore' }],
            routeAction: { functions: { upstream: { name: 'petstore', namespace: 'default' } } },
          },
        ],
      },
    });
    const written = fs.readFileSync(virtualServiceFile, 'utf8');
    const refusals: Array<[string[], string]> = [
      [
        ['--path-prefix', '/p', '--function', 'getPetById'],
        '--all-functions routes every function of the upstream: drop --function',
      ],
      [['--path-exact', '/p'], '--all-functions needs --path-prefix'],
      [['--path-prefix', '/p', '--prefix-rewrite', '/'], 'drop --prefix-rewrite'],
    ];
    for (const [flags, message] of refusals) {
      const refused = await sluice([
        'add',
        'route',
        ...flags,
        '--dest-name',
        'petstore',
        '--all-functions',
        '--config-dir',
        dir,
      ]);
      expect({ code: refused.code, stderr: refused.stderr }).toEqual({
        code: 1,
        stderr: expect.stringContaining(message),
      });
    }
    expect(fs.readFileSync(virtualServiceFile, 'utf8')).toBe(written);
    const help = await sluice(['add', 'route', '--help']);
    expect(help.stdout).toContain('--all-functions');
    expect(help.stdout).toContain(
      'sluice add route --path-prefix /petstore --dest-name petstore --all-functions',
    );
  });

  it('check warns until discovery has run, then passes; get upstream lists every operation', async () => {
    const early = await sluice(['check', '--config-dir', dir]);
    expect(early.code).toBe(1);
    expect(early.stdout).toContain('upstream default/petstore has no functions yet');

    const discovered = await sluice(['discover', '--config-dir', dir, '-o', 'table']);
    expect(discovered.code).toBe(0);
    expect(discovered.stdout).toMatch(/default\/petstore\s+openapi\s+20\s*$/m);
    const check = await sluice(['check', '--config-dir', dir]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('No problems detected');

    const expected = operationKeys(petstoreDocument(), PETSTORE_BASE_PATH).map((key) => {
      const [method, upstreamPath, name] = key.split(' ');
      return { name, target: `${method} ${upstreamPath}`, source: 'discovered' };
    });
    const json = await sluice(['get', 'upstream', 'petstore', '--config-dir', dir, '-o', 'json']);
    expect(json.code).toBe(0);
    const shown = JSON.parse(json.stdout) as { functions: Array<{ name: string }>; status: unknown };
    expect(shown.status).toEqual({ state: 'Accepted', reasons: [] });
    expect([...shown.functions].sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      [...expected].sort((a, b) => a.name.localeCompare(b.name)),
    );

    const table = await sluice(['get', 'upstream', 'petstore', '--config-dir', dir]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      new RegExp(`petstore\\s+static\\s+Accepted\\s+127\\.0\\.0\\.1:${specPort}, 20 functions`),
    );
    const rows = table.stdout.split('\n').filter((line) => / discovered /.test(line));
    expect(rows.map((row) => row.split(/\s+/).join(' ')).sort()).toEqual(
      expected.map((fn) => `${fn.name} discovered ${fn.target}`).sort(),
    );
  });

  it('translate --discover routes each operation, including one published since the last discovery', async () => {
    const grown = withOperation(petstoreDocument(), 'get', '/pet/{petId}/owner', 'getPetOwner');
    specServer.serve(grown);
    const stale = await sluice(['translate', '--config-dir', dir]);
    expect(routesOf(stale.stdout)).toEqual(operationKeys(petstoreDocument(), '/petstore'));

    const fresh = await sluice(['translate', '--discover', '--config-dir', dir]);
    expect(fresh.code).toBe(0);
    const routes = routesOf(fresh.stdout);
    expect(routes).toEqual(operationKeys(grown, '/petstore'));
    expect(routes).toHaveLength(21);
    expect(routes).toContain('GET /petstore/pet/{petId}/owner getPetOwner');
    expect(
      (JSON.parse(fresh.stdout) as { reports: Array<{ state: string }> }).reports.map(
        (report) => report.state,
      ),
    ).toEqual(['Accepted', 'Accepted']);
  });
});

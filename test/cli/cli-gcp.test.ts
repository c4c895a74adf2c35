import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { GcfApiServer, type FunctionFixture } from '../helpers/gcf-api-server';
import { sluice, tempConfigDir } from '../helpers/sluice-cli';

const HELLO: FunctionFixture = { project: 'shop', region: 'us-central1', name: 'hello', generation: 2 };
const EVENT = 'google.cloud.storage.object.v1.finalized';

describe('sluice CLI with Google Cloud Functions', () => {
  let gcf: GcfApiServer;
  let dir: string;
  let keyFile: string;
  let keyLine: string;

  beforeAll(async () => {
    gcf = new GcfApiServer();
    await gcf.start();
    gcf.addFunction(HELLO);
    gcf.addFunction({ project: 'shop', region: 'us-central1', name: 'legacy', generation: 1, public: true });
    gcf.addFunction({
      project: 'shop',
      region: 'us-central1',
      name: 'on-upload',
      generation: 2,
      eventType: EVENT,
    });
    const key = gcf.createServiceAccount('gateway@shop.iam.gserviceaccount.com');
    keyLine = JSON.parse(key).private_key.split('\n')[1];
    dir = tempConfigDir({ 'keys/gateway.json': key, 'keys/user.json': '{"type": "authorized_user"}' });
    keyFile = path.join(dir, 'keys', 'gateway.json');
  });

  afterAll(async () => {
    await gcf.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `sluice WORDS... EXTRA... --config-dir DIR`; WORDS are split at spaces. */
  const run = (words: string, ...extra: string[]) =>
    sluice([...words.split(' '), ...extra, '--config-dir', dir]);

  it('creates the secret from a service-account key file without ever printing the key', async () => {
    const dryRun = await run('create secret gcp --name gcp-key --dry-run --service-account-file', keyFile);
    expect(dryRun.code).toBe(0);
    expect(parse(dryRun.stdout)).toMatchObject({ kind: 'Secret', data: { serviceAccount: '<redacted>' } });
    const created = await run('create secret gcp --name gcp-key --service-account-file', keyFile);
    expect(created.code).toBe(0);
    const listed = await run('get secret gcp-key -o yaml');
    expect(parse(listed.stdout)).toMatchObject({ type: 'gcp', data: { serviceAccount: '<redacted>' } });
    for (const output of [dryRun, created, listed])
      expect(output.stdout + output.stderr).not.toContain(keyLine);
  });

  it('refuses what is not a service-account key, saying what to fix', async () => {
    const user = await run(
      'create secret gcp --name x --service-account-file',
      path.join(dir, 'keys', 'user.json'),
    );
    expect(user.code).toBe(1);
    expect(user.stderr).toContain(
      'user.json: the file has "type" "authorized_user", not "service_account": create a JSON key for a service account',
    );
    const missing = await run(
      'create secret gcp --name x --service-account-file',
      path.join(dir, 'nowhere.json'),
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nowhere.json: cannot read the file');
    expect((await run('get secret x')).code).toBe(1);
  });

  it('creates the upstream and a route, discovers, lists the functions and translates /gcf/hello', async () => {
    const badMode = await run('create upstream gcp --name gcf --project shop --auth-mode magic');
    expect(badMode.code).toBe(1);
    expect(badMode.stderr).toContain('spec.gcp.authMode');
    const onGcp = await run(
      'create upstream gcp --name x --project shop --region us-central1 --auth-mode gcp_authn --ca-file /etc/envoy/ca.pem --dry-run',
    );
    expect(parse(onGcp.stdout).spec).toEqual({
      gcp: { project: 'shop', region: 'us-central1', authMode: 'gcp_authn', caFile: '/etc/envoy/ca.pem' },
    });
    const upstream = await run(
      'create upstream gcp --name gcf --project shop --secret-name gcp-key --api-endpoint',
      gcf.endpoint(),
    );
    expect(upstream.code).toBe(0);
    expect((await run('add route --path-prefix /gcf/hello --dest-name gcf --function hello')).code).toBe(0);

    const discovered = await run('discover -o json');
    expect(discovered.code).toBe(0);
    const functions = JSON.parse(discovered.stdout)['default/gcf'].functions as Array<Record<string, string>>;
    expect(functions.map((fn) => [fn.name, fn.url ?? fn.eventType])).toEqual([
      ['hello', GcfApiServer.functionUrl(HELLO)],
      ['legacy', 'https://us-central1-shop.cloudfunctions.net/legacy'],
      ['on-upload', EVENT],
    ]);

    const table = await run('get upstream gcf');
    expect(table.stdout).toMatch(/gcf\s+gcp\s+Accepted\s+3 functions/);
    const rows = table.stdout.split('\n').map((line) => line.trim().split(/\s{2,}/));
    expect(rows).toContainEqual(['hello', 'GEN_2 ACTIVE', 'discovered', GcfApiServer.functionUrl(HELLO)]);
    expect(rows).toContainEqual(['on-upload', 'GEN_2 ACTIVE', 'discovered', `event ${EVENT} (not routable)`]);

    const output = JSON.parse((await run('translate')).stdout);
    const [helloRoute] = output.xds[TYPE_URLS.route][0].virtualHosts[0].routes;
    const host = new URL(GcfApiServer.functionUrl(HELLO)).host;
    expect(helloRoute.route).toEqual({
      cluster: `gcf_default~${host}:443`,
      autoHostRewrite: true,
      regexRewrite: { pattern: { regex: '^/gcf/hello/?' }, substitution: '/' },
    });
    // The identity token is minted by `serve`; a one-off translation has none to show.
    expect(helloRoute.requestHeadersToAdd).toBeUndefined();
    const clusters = output.xds[TYPE_URLS.cluster] as Array<{
      name: string;
      transportSocket?: { typedConfig: { sni: string } };
    }>;
    expect(
      clusters.find((cluster) => cluster.name === `gcf_default~${host}:443`)?.transportSocket?.typedConfig
        .sni,
    ).toBe(host);
    expect(output.reports.filter((report: { state: string }) => report.state !== 'Accepted')).toEqual([]);
    expect(new Set(gcf.requests.map((request) => request.account))).toEqual(
      new Set(['gateway@shop.iam.gserviceaccount.com']),
    );
  });

  it('reports a denied project on stderr and keeps the functions it knew', async () => {
    gcf.deny('shop');
    const denied = await run('discover -o table');
    expect(denied.stdout).toMatch(
      /default\/gcf\s+gcp-functions\s+3\s+PERMISSION_DENIED: Permission 'cloudfunctions.functions.list' denied/,
    );
    expect(denied.stderr).toContain(
      "sluice: discovery of default/gcf failed (last known functions kept): PERMISSION_DENIED: Permission 'cloudfunctions.functions.list' denied on 'projects/shop/locations/-/functions'",
    );
    const checked = await run('check');
    expect(checked.code).toBe(1);
    expect(checked.stdout).toContain('Warning: Upstream default/gcf');
  });
});

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient, sotwResources } from '../xds/ads-client';
import type { Json } from '../../src/translator/plugin';
import { AzureArmServer } from '../helpers/azure-arm-server';
import { sluice, tempConfigDir } from '../helpers/sluice-cli';
import { waitFor } from '../helpers/wait';

/**
 * The CLI in child processes against loopback Resource Manager and Entra ID. The children trust the
 * servers' test certificate through NODE_EXTRA_CA_CERTS, and get no Azure credentials from this
 * machine's environment: discovery only ever uses the secret the test writes.
 */
describe('sluice CLI with Azure Functions', () => {
  let azure: AzureArmServer;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    azure = new AzureArmServer();
    await azure.start();
    azure.addFunctionApp('orders', { resourceGroup: 'shop', masterKey: 'MASTER%KEY' });
    azure.addFunction('orders', 'hello', { keys: { default: 'HELLO-KEY' } });
    azure.addFunction('orders', 'status', { authLevel: 'anonymous' });
    azure.addFunction('orders', 'purge', { authLevel: 'admin' });
    azure.addFunctionApp('empty', { resourceGroup: 'shop' });
    dir = tempConfigDir();
    env = {
      NODE_EXTRA_CA_CERTS: azure.caFile(),
      AZURE_TENANT_ID: '',
      AZURE_CLIENT_ID: '',
      AZURE_CLIENT_SECRET: '',
      AZURE_AUTHORITY_HOST: '',
    };
  });

  afterAll(async () => {
    await azure.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    sluice([...args, '--config-dir', dir], { ...env, ...extra });

  function upstreamArgs(name: string, app: string, secret: string): string[] {
    return [
      'create',
      'upstream',
      'azure',
      '--name',
      name,
      '--subscription-id',
      azure.subscriptionId,
      '--function-app',
      app,
      '--resource-group',
      'shop',
      '--secret-name',
      secret,
      '--management-endpoint',
      azure.endpoint(),
      '--authority-host',
      azure.endpoint(),
    ];
  }

  it('creates the secret from flags or the environment without ever printing it', async () => {
    const { tenantId, clientId, clientSecret } = azure.credentials();
    const created = await run(['create', 'secret', 'azure', '--name', 'azure-creds'], {
      AZURE_TENANT_ID: tenantId,
      AZURE_CLIENT_ID: clientId,
      AZURE_CLIENT_SECRET: clientSecret,
    });
    expect(created).toMatchObject({ code: 0, stdout: `secret default/azure-creds written to ${dir}\n` });
    const listed = await run(['get', 'secret', 'azure-creds', '-o', 'yaml']);
    expect(parse(listed.stdout)).toMatchObject({
      type: 'azure',
      data: { tenantId: '<redacted>', clientId: '<redacted>', clientSecret: '<redacted>' },
    });
    const dryRun = await run([
      'create',
      'secret',
      'azure',
      '--name',
      'x',
      '--tenant-id',
      tenantId,
      '--client-id',
      clientId,
      '--client-secret',
      clientSecret,
      '--dry-run',
    ]);
    expect(dryRun.code).toBe(0);
    expect(parse(dryRun.stdout)).toMatchObject({ type: 'azure', data: { clientSecret: '<redacted>' } });
    for (const result of [created, listed, dryRun])
      expect(result.stdout + result.stderr).not.toContain(clientSecret);
    const missing = await run(['create', 'secret', 'azure', '--name', 'x', '--tenant-id', tenantId]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(
      'give --client-id, --client-secret (or set AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)',
    );
  });

  it('creates the upstream and a route, discovers, lists the functions and serves the key only over xDS', async () => {
    const dryRun = await run([...upstreamArgs('azure-fns', 'orders', 'azure-creds'), '--dry-run']);
    expect(parse(dryRun.stdout)).toMatchObject({
      kind: 'Upstream',
      spec: {
        azure: {
          subscriptionId: azure.subscriptionId,
          functionAppName: 'orders',
          resourceGroup: 'shop',
          secretRef: { name: 'azure-creds', namespace: 'default' },
          managementEndpoint: azure.endpoint(),
          authorityHost: azure.endpoint(),
        },
      },
    });
    expect((await run(upstreamArgs('azure-fns', 'orders', 'azure-creds'))).code).toBe(0);
    const route = await run([
      'add',
      'route',
      '--path-prefix',
      '/azure/hello',
      '--dest-name',
      'azure-fns',
      '--function',
      'hello',
    ]);
    expect(route.code).toBe(0);

    const discovered = await run(['discover', '-o', 'json']);
    expect(discovered.code).toBe(0);
    const [hello] = JSON.parse(discovered.stdout)['default/azure-fns'].functions;
    expect(hello).toMatchObject({ functionName: 'hello', secrets: { functionKey: '[redacted]' } });
    const state = path.join(dir, '.sluice', 'discovered.json');
    expect(fs.statSync(state).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(state, 'utf8')).toContain('HELLO-KEY');

    const table = await run(['get', 'upstream', 'azure-fns']);
    expect(table.stdout).toMatch(/azure-fns\s+azure\s+Accepted\s+3 functions/);
    expect(table.stdout).toMatch(
      /hello\s+function\s+discovered\s+https:\/\/orders\.azurewebsites\.net\/api\/hello/,
    );
    expect(table.stdout).toMatch(/purge\s+admin\s+discovered/);
    const json = await run(['get', 'upstream', 'azure-fns', '-o', 'json']);
    expect(JSON.parse(json.stdout).functions).toHaveLength(3);

    const output = JSON.parse((await run(['translate'])).stdout);
    const [helloRoute] = output.xds[TYPE_URLS.route][0].virtualHosts[0].routes;
    expect(helloRoute).toMatchObject({
      route: { hostRewriteLiteral: 'orders.azurewebsites.net', prefixRewrite: '/api/hello' },
      requestHeadersToAdd: [{ header: { key: 'x-functions-key', value: '[redacted]' } }],
    });
    expect(output.reports.filter((report: { state: string }) => report.state !== 'Accepted')).toEqual([]);
    for (const result of [discovered, table, json]) {
      expect(result.stdout + result.stderr).not.toContain('HELLO-KEY');
      expect(result.stdout + result.stderr).not.toContain('MASTER%KEY');
    }
  });

  it('gives a wrong tenant and an app with no functions a status that says what to fix', async () => {
    const { clientId, clientSecret } = azure.credentials();
    const wrongTenant = '0b0b0b0b-1111-2222-3333-444444444444';
    await run([
      'create',
      'secret',
      'azure',
      '--name',
      'wrong-tenant',
      '--tenant-id',
      wrongTenant,
      '--client-id',
      clientId,
      '--client-secret',
      clientSecret,
    ]);
    await run(upstreamArgs('misconfigured', 'orders', 'wrong-tenant'));
    await run(upstreamArgs('nothing-there', 'empty', 'azure-creds'));
    const discovered = await run(['discover', '-o', 'table']);
    expect(discovered.code).toBe(0);
    expect(discovered.stderr).toContain(
      `sluice: discovery of default/misconfigured failed (last known functions kept): Microsoft Entra ID at ${azure.endpoint()} has no tenant ${wrongTenant}`,
    );
    const reports = JSON.parse((await run(['translate'])).stdout).reports as Array<{
      name: string;
      reasons: string[];
    }>;
    expect(reports.find((report) => report.name === 'misconfigured')).toMatchObject({
      state: 'Warning',
      reasons: [
        `function discovery failed: Microsoft Entra ID at ${azure.endpoint()} has no tenant ${wrongTenant} (its OpenID configuration could not be read): check tenantId in Secret default/wrong-tenant and spec.azure.authorityHost; serving the last known functions`,
      ],
    });
    expect(reports.find((report) => report.name === 'nothing-there')).toMatchObject({
      state: 'Warning',
      reasons: [
        'function app empty has no functions: deploy functions to it, or name the app that has them in spec.azure.functionAppName',
      ],
    });
  });

  it('serve discovers in the background, pushes the key over ADS and shows it redacted in /snapshot', async () => {
    const served = tempConfigDir();
    fs.cpSync(dir, served, { recursive: true, filter: (source) => path.basename(source) !== '.sluice' });
    fs.writeFileSync(
      path.join(served, 'settings.yaml'),
      'apiVersion: sluice.dev/v1\nkind: Settings\nmetadata: {name: default}\nspec: {xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0"}\n',
    );
    const child = spawn(
      process.execPath,
      [path.join(PACKAGE_ROOT, 'bin', 'sluice'), 'serve', '--config-dir', served],
      {
        env: { ...process.env, ...env, SLUICE_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let client: SotwClient | undefined;
    try {
      const [, xdsPort, adminPort] = await waitFor(
        'the serving line',
        () => /xDS on port (\d+), admin on port (\d+)/.exec(stderr) ?? undefined,
        { timeoutMs: 20000 },
      );
      const ads = new SotwClient(Number(xdsPort));
      client = ads;
      const routes = 'listener-::-8080-routes';
      ads.send({ node: nodeWithRole('envoy-1'), typeUrl: TYPE_URLS.route, resourceNames: [routes] });
      const helloRoute = await waitFor(
        'the /azure/hello route with its key',
        async () => {
          const response = await ads.next(10000);
          ads.ack(response, [routes]);
          const config = sotwResources(response).get(routes) as { virtualHosts: Array<{ routes: Json[] }> };
          return config?.virtualHosts[0].routes.find((route) => route.requestHeadersToAdd);
        },
        { timeoutMs: 20000, intervalMs: 0 },
      );
      expect(helloRoute.requestHeadersToAdd).toEqual([
        {
          header: { key: 'x-functions-key', value: 'HELLO-KEY' },
          appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
        },
      ]);
      ads.send({ typeUrl: TYPE_URLS.cluster, resourceNames: [] });
      const clusters = await waitFor('the clusters', async () => {
        const response = await ads.next(10000);
        return response.typeUrl === TYPE_URLS.cluster ? [...sotwResources(response).keys()] : undefined;
      });
      expect(clusters).toContain('azure-fns_default_orders.azurewebsites.net');
      const dump = JSON.stringify(await (await fetch(`http://127.0.0.1:${adminPort}/snapshot`)).json());
      expect(dump).toContain('"key":"x-functions-key","value":"[redacted]"');
      expect(dump).not.toContain('HELLO-KEY');
    } finally {
      client?.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      fs.rmSync(served, { recursive: true, force: true });
    }
  });
});

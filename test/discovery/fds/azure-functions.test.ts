import { Writable } from 'node:stream';
import { AggregateAuthenticationError, CredentialUnavailableError } from '@azure/identity';
import pino from 'pino';
import type { DiscoveredAzureFunction } from '../../../src/api/azure';
import { loadSnapshot } from '../../../src/api/load';
import { translateOnce } from '../../../src/control-plane/translate-once';
import { createAzureFunctionsDiscoverer } from '../../../src/discovery/fds/azure-functions';
import { discoverTarget, discoveryTargets } from '../../../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import type { FunctionDiscoverer } from '../../../src/discovery/fds/discoverer';
import { describeAzureError } from '../../../src/discovery/fds/azure-functions/errors';
import { AzureArmServer } from '../../helpers/azure-arm-server';
import { contentsOf } from '../../helpers/translate-yaml';

/** Everything discovery logs, at every level, to look for secrets in. */
function capturingLogger(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => lines.join('') };
}

describe('Azure Functions discovery against Resource Manager and Entra ID', () => {
  let server: AzureArmServer;
  let discoverer: FunctionDiscoverer;
  let logs: ReturnType<typeof capturingLogger>;

  beforeEach(async () => {
    server = new AzureArmServer({ pageSize: 2 });
    await server.start();
    discoverer = createAzureFunctionsDiscoverer({ trustedCa: server.caCertificate() });
    logs = capturingLogger();
  });

  afterEach(() => server.stop());

  /** The secret and the upstream; `fields` are more fields of spec.azure (YAML flow), `secret` its data. */
  function config(fields = '', secret?: string, secretRef = '{name: azure-creds}'): string {
    const { tenantId, clientId, clientSecret } = server.credentials();
    const azure = [
      `subscriptionId: ${server.subscriptionId}`,
      `managementEndpoint: "${server.endpoint()}"`,
      `authorityHost: "${server.endpoint()}"`,
      `secretRef: ${secretRef}`,
      ...(fields ? [fields] : []),
    ];
    return `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: azure-creds, namespace: default}
type: azure
data: ${secret ?? `{tenantId: ${tenantId}, clientId: ${clientId}, clientSecret: "${clientSecret}"}`}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: azure-fns, namespace: default}
spec: {azure: {${azure.join(', ')}}}
`;
  }

  async function discover(yaml: string, previous?: DiscoveredFunctions): Promise<DiscoveredFunctions> {
    const { snapshot } = loadSnapshot(contentsOf(yaml));
    const [target] = discoveryTargets(snapshot, [discoverer]);
    expect(target?.id).toBe('default/azure-fns');
    return discoverTarget(target, snapshot, previous, logs.logger);
  }

  const functionsOf = (found: DiscoveredFunctions) => found.functions as unknown as DiscoveredAzureFunction[];
  const names = (found: DiscoveredFunctions) =>
    functionsOf(found).map((fn) => `${fn.functionAppName}/${fn.functionName}`);

  it('finds every function app of the subscription across pages, their functions and the keys each needs', async () => {
    server.addFunctionApp('orders', { resourceGroup: 'shop' });
    server.addFunction('orders', 'hello');
    server.addFunction('orders', 'lookup', { authLevel: 'anonymous', route: 'orders/{id:int}' });
    server.addFunction('orders', 'purge', { authLevel: 'admin' });
    server.addFunction('orders', 'nightly', { trigger: 'timerTrigger' });
    server.addFunctionApp('billing', {
      resourceGroup: 'money',
      defaultHostName: 'billing-x1.azurewebsites.net',
    });
    server.addFunction('billing', 'invoice');
    server.addFunctionApp('website', { resourceGroup: 'shop', kind: 'app' });
    server.addFunctionApp('flows', { resourceGroup: 'shop', kind: 'functionapp,workflowapp' });
    server.addFunctionApp('linux-fns', { resourceGroup: 'shop', kind: 'functionapp,linux' });

    const found = await discover(config(''));

    expect(found.error).toBeUndefined();
    expect(functionsOf(found)).toEqual([
      {
        functionAppName: 'billing',
        functionName: 'invoice',
        resourceGroup: 'money',
        hostName: 'billing-x1.azurewebsites.net',
        trigger: 'httpTrigger',
        authLevel: 'function',
        route: 'invoice',
        path: '/api/invoice',
        secrets: { functionKey: server.functionKeys('billing', 'invoice').default },
      },
      {
        functionAppName: 'orders',
        functionName: 'hello',
        resourceGroup: 'shop',
        hostName: 'orders.azurewebsites.net',
        trigger: 'httpTrigger',
        authLevel: 'function',
        route: 'hello',
        path: '/api/hello',
        secrets: { functionKey: server.functionKeys('orders', 'hello').default },
      },
      {
        functionAppName: 'orders',
        functionName: 'lookup',
        resourceGroup: 'shop',
        hostName: 'orders.azurewebsites.net',
        trigger: 'httpTrigger',
        authLevel: 'anonymous',
        route: 'orders/{id:int}',
        path: '/api/orders/{id:int}',
      },
      {
        functionAppName: 'orders',
        functionName: 'nightly',
        resourceGroup: 'shop',
        hostName: 'orders.azurewebsites.net',
        trigger: 'timerTrigger',
      },
      {
        functionAppName: 'orders',
        functionName: 'purge',
        resourceGroup: 'shop',
        hostName: 'orders.azurewebsites.net',
        trigger: 'httpTrigger',
        authLevel: 'admin',
        route: 'purge',
        path: '/api/purge',
        secrets: { masterKey: server.hostKeys('orders').masterKey },
      },
    ]);
    // 5 sites at 2 a page; the functions of the 3 function apps (2 pages for orders, linux-fns has
    // none); a key per function-level function; host keys only where an admin function needs the master key.
    expect(server.count('ListSites')).toBe(3);
    expect(server.count('ListFunctions')).toBe(4);
    expect(server.count('ListFunctionKeys')).toBe(2);
    expect(server.count('ListHostKeys')).toBe(1);
    expect(server.count('Token')).toBe(1);
    const arm = server.requests.filter(
      (request) => !['Token', 'OpenIdConfiguration'].includes(request.operation),
    );
    expect(arm.every((request) => request.authorized && request.status === 200)).toBe(true);
    expect(new Set(arm.map((request) => request.query['api-version']))).toEqual(new Set(['2025-05-01']));
  });

  it('reads one app of one resource group with a GET, takes the default key, else a host key, and the invoke path', async () => {
    server.addFunctionApp('orders', {
      resourceGroup: 'shop',
      routePrefix: 'v1',
      hostFunctionKeys: { default: 'HOST' },
    });
    server.addFunction('orders', 'hello', { keys: { zeta: 'Z', default: 'D', alpha: 'A' } });
    server.addFunction('orders', 'named', { keys: { zeta: 'Z', alpha: 'A' } });
    server.addFunction('orders', 'keyless', { keys: {} });
    server.addFunctionApp('other', { resourceGroup: 'shop' });

    const found = await discover(config('functionAppName: orders, resourceGroup: shop'));

    expect(found.error).toBeUndefined();
    expect(
      functionsOf(found).map((fn) => ({ name: fn.functionName, path: fn.path, secrets: fn.secrets })),
    ).toEqual([
      { name: 'hello', path: '/v1/hello', secrets: { functionKey: 'D' } },
      { name: 'keyless', path: '/v1/keyless', secrets: { hostKey: 'HOST' } },
      { name: 'named', path: '/v1/named', secrets: { functionKey: 'A' } },
    ]);
    expect(server.count('GetSite')).toBe(1);
    expect(server.count('ListSites') + server.count('ListSitesByResourceGroup')).toBe(0);
  });

  it('finds a named app without its resource group by listing, and says when it is missing or not a function app', async () => {
    server.addFunctionApp('orders', { resourceGroup: 'shop' });
    server.addFunction('orders', 'hello', { authLevel: 'anonymous' });
    server.addFunctionApp('website', { resourceGroup: 'shop', kind: 'app' });

    expect(names(await discover(config('functionAppName: ORDERS')))).toEqual(['orders/hello']);
    expect((await discover(config('functionAppName: nope'))).error).toBe(
      `spec.azure.functionAppName: no app named nope in subscription ${server.subscriptionId}; check the name, or set resourceGroup`,
    );
    expect((await discover(config('functionAppName: website'))).error).toBe(
      'spec.azure.functionAppName: website is not a function app (its kind is app)',
    );
    expect((await discover(config('functionAppName: nope, resourceGroup: shop'))).error).toBe(
      "ResourceNotFound: The Resource 'Microsoft.Web/sites/nope' under resource group 'shop' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix (HTTP 404)",
    );
  });

  it('finds an app with no functions without failing, and its status says what to fix', async () => {
    server.addFunctionApp('empty', { resourceGroup: 'shop' });
    const yaml = config('functionAppName: empty');
    const found = await discover(yaml);
    expect(found).toMatchObject({ discoverer: 'azure-functions', functions: [] });
    expect(found.error).toBeUndefined();
    const { translation } = translateOnce(contentsOf(yaml), new Map([['default/azure-fns', found]]));
    expect(
      translation.reports.get({ kind: 'Upstream', namespace: 'default', name: 'azure-fns' })?.warnings,
    ).toEqual([
      'function app empty has no functions: deploy functions to it, or name the app that has them in spec.azure.functionAppName',
    ]);
  });

  it('waits as long as Retry-After says when Resource Manager throttles, then succeeds', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello', { authLevel: 'anonymous' });
    server.throttle(1, { retryAfterSeconds: 2, operation: 'ListFunctions' });
    const found = await discover(config(''));
    expect(found.error).toBeUndefined();
    expect(names(found)).toEqual(['orders/hello']);
    const calls = server.requests.filter((request) => request.operation === 'ListFunctions');
    expect(calls.map((request) => request.status)).toEqual([429, 200]);
    // The SDK's own backoff would retry within about a second; Retry-After asked for two.
    expect(calls[1].receivedAt - calls[0].receivedAt).toBeGreaterThanOrEqual(1950);
  });

  it('gives up on a hung Resource Manager after the request timeout and keeps the last known functions', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello');
    const first = await discover(config(''));
    discoverer = createAzureFunctionsDiscoverer({
      trustedCa: server.caCertificate(),
      requestTimeoutMs: 300,
    });
    server.stall(10, 'ListSites');
    const hung = await discover(config(''), first);
    expect(hung.error).toMatch(
      /^no answer from 127\.0\.0\.1:\d+ within 300 ms \(GET \/subscriptions\/[^/]+\/providers\/Microsoft\.Web\/sites\)/,
    );
    expect(hung.functions).toEqual(first.functions);
    expect(server.requests.some((request) => request.fault === 'stall')).toBe(true);
  });

  it('keeps the last known functions when access is denied, and says which role is missing', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello');
    const first = await discover(config(''));
    const denied = `The client '${server.clientId}' with object id '${server.clientId}' does not have authorization to perform action 'Microsoft.Web/sites/read' over scope '/subscriptions/${server.subscriptionId}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;
    server.failWith(403, 'AuthorizationFailed', denied, 1, 'ListSites');
    const refused = await discover(config(''), first);
    expect(refused.error).toBe(
      `AuthorizationFailed: ${denied} (HTTP 403); grant the service principal a role on the subscription or resource group: Reader lists apps and functions; reading keys needs Microsoft.Web/sites/host/listkeys/action and Microsoft.Web/sites/functions/listkeys/action (e.g. Website Contributor), or set keySecretRef on the functions`,
    );
    expect(refused.functions).toEqual(first.functions);
  });

  it('still finds the functions when keys may not be read, and records why on each keyed function', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello');
    server.addFunction('orders', 'open', { authLevel: 'anonymous' });
    const denied = `The client '${server.clientId}' does not have authorization to perform action 'Microsoft.Web/sites/functions/listkeys/action'.`;
    server.failWith(403, 'AuthorizationFailed', denied, Infinity, 'ListFunctionKeys');
    const found = await discover(config(''));
    expect(found.error).toBeUndefined();
    const [hello, open] = functionsOf(found);
    expect(hello.secrets).toBeUndefined();
    expect(hello.keyError).toMatch(
      /^AuthorizationFailed: .*listkeys\/action'\. \(HTTP 403\); grant the service principal/,
    );
    expect(open).not.toHaveProperty('keyError');
  });

  it('reports a token Resource Manager refuses, and signs in afresh on the next run', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello', { authLevel: 'anonymous' });
    const first = await discover(config(''));
    expect(server.count('Token')).toBe(1);
    server.revokeTokens();
    const refused = await discover(config(''), first);
    expect(refused.error).toBe(
      'InvalidAuthenticationToken: The access token is invalid. (HTTP 401); Resource Manager refused the token: check spec.azure.managementEndpoint and spec.azure.authorityHost (same cloud)',
    );
    const again = await discover(config(''), refused);
    expect(again.error).toBeUndefined();
    expect(server.count('Token')).toBe(2);
  });

  it('says which field of the secret to fix for a wrong tenant, client id or client secret, the same way every time', async () => {
    server.addFunctionApp('orders');
    const { tenantId, clientId, clientSecret } = server.credentials();
    const wrongTenant = '0b0b0b0b-1111-2222-3333-444444444444';
    const tenant = await discover(
      config('', `{tenantId: ${wrongTenant}, clientId: ${clientId}, clientSecret: "${clientSecret}"}`),
    );
    expect(tenant.error).toBe(
      `Microsoft Entra ID at ${server.endpoint()} has no tenant ${wrongTenant} (its OpenID configuration could not be read): check tenantId in Secret default/azure-creds and spec.azure.authorityHost`,
    );
    const wrongClient = `{tenantId: ${tenantId}, clientId: not-registered, clientSecret: "${clientSecret}"}`;
    const client = await discover(config('', wrongClient));
    expect(client.error).toBe(
      `Microsoft Entra ID refused the credentials: AADSTS700016: Application with identifier 'not-registered' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.; check clientId in Secret default/azure-creds, and that the app is registered in that tenant`,
    );
    expect((await discover(config('', wrongClient), client)).error).toBe(client.error);
    const secret = await discover(
      config('', `{tenantId: ${tenantId}, clientId: ${clientId}, clientSecret: wrong}`),
    );
    expect(secret.error).toMatch(
      /^Microsoft Entra ID refused the credentials: AADSTS7000215: Invalid client secret provided\. .*; check clientSecret in Secret default\/azure-creds \(the secret's value, not its id\)$/,
    );
    const otherCloud = config('').replace(
      `managementEndpoint: "${server.endpoint()}"`,
      'managementEndpoint: "https://127.0.0.1:1"',
    );
    expect((await discover(otherCloud)).error).toBe(
      `Microsoft Entra ID refused the credentials: AADSTS500011: The resource principal named https://127.0.0.1:1 was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.; check spec.azure.managementEndpoint (it must be the Resource Manager of the same cloud)`,
    );
    expect(server.count('ListSites')).toBe(0);
  });

  it('names the secret problem before calling anything', async () => {
    expect((await discover(config('', undefined, '{name: nowhere}'))).error).toBe(
      'spec.azure.secretRef: Secret default/nowhere not found',
    );
    expect((await discover(config('', '{tenantId: t}'))).error).toBe(
      'spec.azure.secretRef: Secret default/azure-creds has no clientId, clientSecret in data',
    );
    expect(server.requests).toEqual([]);
  });

  it('never logs a key or the client secret', async () => {
    server.addFunctionApp('orders');
    server.addFunction('orders', 'hello');
    server.addFunction('orders', 'purge', { authLevel: 'admin' });
    await discover(config(''));
    server.failWith(400, 'BadRequest', 'The request is invalid.', 1, 'ListFunctions');
    expect((await discover(config(''))).error).toBe('BadRequest: The request is invalid. (HTTP 400)');
    const text = logs.text();
    expect(text).toMatch(/azure functions discovered/);
    expect(text).toMatch(/function discovery failed/);
    for (const secret of [
      server.clientSecret,
      server.functionKeys('orders', 'hello').default,
      server.hostKeys('orders').masterKey,
    ])
      expect(text).not.toContain(secret);
  });
});

describe('describeAzureError', () => {
  it("says so when the SDK's default chain has no credentials, and names the environment for a key problem", () => {
    const source = { authorityHost: 'https://login.microsoftonline.com' };
    const none = new AggregateAuthenticationError(
      [new CredentialUnavailableError('EnvironmentCredential is unavailable.')],
      'ChainedTokenCredential authentication failed.',
    );
    expect(describeAzureError(none, source)).toBe(
      'no Azure credentials: the default credential chain (environment, workload identity, managed identity, Azure CLI) found none; set spec.azure.secretRef to an azure Secret (sluice create secret azure)',
    );
    const expired = new Error(
      "invalid_client: Error(s): 7000222 - Timestamp: 2026-01-01 00:00:00Z - Description: AADSTS7000222: The provided client secret keys for app 'a' are expired. Trace ID: t Correlation ID: c Timestamp: 2026-01-01 00:00:00Z - Correlation ID: c - Trace ID: t",
    );
    expect(describeAzureError(expired, source)).toBe(
      "Microsoft Entra ID refused the credentials: AADSTS7000222: The provided client secret keys for app 'a' are expired.; the client secret has expired: create a new one and update clientSecret (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)",
    );
  });
});

import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A loopback fake of the two Azure services function discovery talks to, for tests only, over HTTPS:
 * - Azure Resource Manager's App Service REST API (Microsoft.Web/sites: list, list by resource group,
 *   get, functions, function keys, host keys), as `@azure/arm-appservice`'s WebSiteManagementClient
 *   calls it: `api-version` required, paging with absolute `nextLink`s, bearer tokens checked, ARM's
 *   error body `{"error": {"code", "message"}}`, 429 with `Retry-After`;
 * - Microsoft Entra ID's OAuth 2.0 v2 endpoints that `@azure/identity`'s ClientSecretCredential (MSAL)
 *   calls: the tenant's OpenID configuration and the token endpoint (client_credentials), answering a
 *   wrong tenant, client or secret with Entra's own error bodies (AADSTS codes).
 *
 * MSAL refuses an authority that is not https and the SDK's bearer policy refuses to send a token over
 * http, so the server speaks TLS with a certificate for 127.0.0.1 made at start by `openssl` (never
 * committed). Clients trust it through `caCertificate()` (the SDKs' `tlsOptions.ca`) or through
 * NODE_EXTRA_CA_CERTS=`caFile()` in a child process.
 *
 * Faults (`throttle`, `failWith`) are queued and consumed first-in first-out by the next requests that
 * pass authentication (optionally only requests for one operation).
 */

export type ArmOperation =
  | 'ListSites'
  | 'ListSitesByResourceGroup'
  | 'GetSite'
  | 'ListFunctions'
  | 'ListFunctionKeys'
  | 'ListHostKeys';
export type EntraOperation = 'OpenIdConfiguration' | 'Token';

export interface AzureArmServerOptions {
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  subscriptionId?: string;
  /** Items per page of every list (sites, functions). */
  pageSize?: number;
}

export interface FunctionAppOptions {
  resourceGroup?: string;
  /** `functionapp` by default; `app` for a web app, `functionapp,workflowapp` for Logic Apps. */
  kind?: string;
  /** Default APP.azurewebsites.net. */
  defaultHostName?: string;
  /** Host keys; a function key `default` and a master key are made up when absent. */
  masterKey?: string;
  hostFunctionKeys?: Record<string, string>;
  /** `routePrefix` of host.json (default `api`), as the invoke URLs show it. */
  routePrefix?: string;
}

export interface FunctionOptions {
  /** Default `httpTrigger`; anything else is a function HTTP cannot call. */
  trigger?: string;
  /** Default `function`. */
  authLevel?: 'anonymous' | 'function' | 'admin';
  /** The httpTrigger binding's route; absent means the function's name. */
  route?: string;
  methods?: string[];
  disabled?: boolean;
  /** The function's keys; `{default: <random>}` when absent. */
  keys?: Record<string, string>;
}

export interface RecordedRequest {
  operation: ArmOperation | EntraOperation | 'Unknown';
  method: string;
  /** Path as sent (still percent-encoded). */
  path: string;
  query: Record<string, string>;
  /** The request carried a bearer token this server issued and has not revoked. */
  authorized: boolean;
  status: number;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  fault?: Fault['kind'];
}

interface FunctionRecord {
  name: string;
  trigger: string;
  authLevel: string;
  route?: string;
  methods: string[];
  disabled: boolean;
  keys: Record<string, string>;
}

interface AppRecord {
  name: string;
  resourceGroup: string;
  kind: string;
  defaultHostName: string;
  routePrefix: string;
  masterKey: string;
  hostFunctionKeys: Record<string, string>;
  functions: Map<string, FunctionRecord>;
}

type Fault =
  | { kind: 'throttle'; remaining: number; operation?: string; retryAfterSeconds: number }
  | { kind: 'error'; remaining: number; operation?: string; status: number; code: string; message: string }
  | { kind: 'stall'; remaining: number; operation?: string };

interface Route {
  operation: ArmOperation;
  method: 'GET' | 'POST';
  pattern: RegExp;
}

const SITES = '/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\\.Web/sites/([^/]+)';
const ARM_ROUTES: Route[] = [
  {
    operation: 'ListSites',
    method: 'GET',
    pattern: /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.Web\/sites$/i,
  },
  {
    operation: 'ListSitesByResourceGroup',
    method: 'GET',
    pattern: /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Web\/sites$/i,
  },
  { operation: 'GetSite', method: 'GET', pattern: new RegExp(`^${SITES}$`, 'i') },
  { operation: 'ListFunctions', method: 'GET', pattern: new RegExp(`^${SITES}/functions$`, 'i') },
  {
    operation: 'ListFunctionKeys',
    method: 'POST',
    pattern: new RegExp(`^${SITES}/functions/([^/]+)/listkeys$`, 'i'),
  },
  { operation: 'ListHostKeys', method: 'POST', pattern: new RegExp(`^${SITES}/host/default/listkeys$`, 'i') },
];

/** API versions of Microsoft.Web this fake answers (the SDK sends its own default). */
const API_VERSIONS = ['2023-12-01', '2024-04-01', '2024-11-01', '2025-03-01', '2025-05-01'];
const TOKEN_LIFETIME_SECONDS = 3599;

function randomKey(): string {
  return randomBytes(30).toString('base64');
}

function decode(segment: string): string {
  return decodeURIComponent(segment);
}

/** A self-signed certificate for 127.0.0.1 (it is its own CA), made with openssl in a temporary folder. */
function makeCertificate(): { cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-azure-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '2',
        '-subj',
        '/CN=sluice test Azure endpoints',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export class AzureArmServer {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly subscriptionId: string;
  readonly requests: RecordedRequest[] = [];
  private readonly pageSize: number;
  private readonly apps = new Map<string, AppRecord>();
  private readonly faults: Fault[] = [];
  private readonly tokens = new Set<string>();
  private server: https.Server | undefined;
  private tls: { cert: string; key: string } | undefined;
  private caDir: string | undefined;

  constructor(options: AzureArmServerOptions = {}) {
    this.tenantId = options.tenantId ?? randomUUID();
    this.clientId = options.clientId ?? randomUUID();
    this.clientSecret = options.clientSecret ?? `${randomBytes(3).toString('hex')}~${randomKey()}`;
    this.subscriptionId = options.subscriptionId ?? randomUUID();
    this.pageSize = options.pageSize ?? 2;
  }

  async start(): Promise<void> {
    this.tls = makeCertificate();
    const server = https.createServer({ cert: this.tls.cert, key: this.tls.key }, (request, response) => {
      void this.handle(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (this.caDir) fs.rmSync(this.caDir, { recursive: true, force: true });
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** ARM and Entra ID both answer here (managementEndpoint and authorityHost). */
  endpoint(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error('AzureArmServer: not started');
    return `https://127.0.0.1:${address.port}`;
  }

  /** The PEM certificate clients must trust. */
  caCertificate(): string {
    if (!this.tls) throw new Error('AzureArmServer: not started');
    return this.tls.cert;
  }

  /** The certificate in a file, for NODE_EXTRA_CA_CERTS in a child process (removed by stop()). */
  caFile(): string {
    this.caDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-azure-ca-'));
    const file = path.join(this.caDir, 'ca.pem');
    fs.writeFileSync(file, this.caCertificate());
    return file;
  }

  credentials(): { tenantId: string; clientId: string; clientSecret: string } {
    return { tenantId: this.tenantId, clientId: this.clientId, clientSecret: this.clientSecret };
  }

  addFunctionApp(name: string, options: FunctionAppOptions = {}): void {
    this.apps.set(name.toLowerCase(), {
      name,
      resourceGroup: options.resourceGroup ?? 'functions-rg',
      kind: options.kind ?? 'functionapp',
      defaultHostName: options.defaultHostName ?? `${name}.azurewebsites.net`,
      routePrefix: options.routePrefix ?? 'api',
      masterKey: options.masterKey ?? randomKey(),
      hostFunctionKeys: options.hostFunctionKeys ?? { default: randomKey() },
      functions: new Map(),
    });
  }

  addFunction(app: string, name: string, options: FunctionOptions = {}): void {
    this.app(app).functions.set(name.toLowerCase(), {
      name,
      trigger: options.trigger ?? 'httpTrigger',
      authLevel: options.authLevel ?? 'function',
      route: options.route,
      methods: options.methods ?? ['get', 'post'],
      disabled: options.disabled ?? false,
      keys: options.keys ?? { default: randomKey() },
    });
  }

  deleteFunction(app: string, name: string): void {
    this.app(app).functions.delete(name.toLowerCase());
  }

  /** What listFunctionKeys answers for `fn` of `app`. */
  functionKeys(app: string, fn: string): Record<string, string> {
    return { ...this.function(app, fn).keys };
  }

  hostKeys(app: string): { masterKey: string; functionKeys: Record<string, string> } {
    const record = this.app(app);
    return { masterKey: record.masterKey, functionKeys: { ...record.hostFunctionKeys } };
  }

  /** The next `count` requests (of `operation`, if given) get 429 with `Retry-After`. */
  throttle(count: number, options: { retryAfterSeconds?: number; operation?: ArmOperation } = {}): void {
    this.faults.push({
      kind: 'throttle',
      remaining: count,
      operation: options.operation,
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
    });
  }

  /** The next `count` requests (of `operation`, if given) fail with an ARM error body. */
  failWith(status: number, code: string, message: string, count: number, operation?: ArmOperation): void {
    this.faults.push({ kind: 'error', remaining: count, operation, status, code, message });
  }

  /** The next `count` requests (of `operation`, if given) are never answered. */
  stall(count: number, operation?: ArmOperation): void {
    this.faults.push({ kind: 'stall', remaining: count, operation });
  }

  /** Tokens issued so far stop working, as after a credential is disabled. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  count(operation: RecordedRequest['operation']): number {
    return this.requests.filter((request) => request.operation === operation).length;
  }

  private app(name: string): AppRecord {
    const record = this.apps.get(name.toLowerCase());
    if (!record) throw new Error(`AzureArmServer: no function app ${name}`);
    return record;
  }

  private function(app: string, fn: string): FunctionRecord {
    const record = this.app(app).functions.get(fn.toLowerCase());
    if (!record) throw new Error(`AzureArmServer: no function ${app}/${fn}`);
    return record;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.endpoint());
    const query = Object.fromEntries(url.searchParams);
    const body = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    const record: RecordedRequest = {
      operation: 'Unknown',
      method: request.method ?? '',
      path: url.pathname,
      query,
      authorized: false,
      status: 0,
      receivedAt: performance.now(),
    };
    this.requests.push(record);
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-ms-request-id': randomUUID(),
        ...headers,
      });
      response.end(JSON.stringify(json));
    };
    const entra = this.entraRequest(url.pathname, request.method ?? '', body, record);
    if (entra) return send(entra.status, entra.json);
    this.armRequest(request, url, record, send);
  }

  private entraError(status: number, error: string, code: number, description: string) {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    return {
      status,
      json: {
        error,
        error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `${this.endpoint()}/error?code=${code}`,
      },
    };
  }

  private unknownTenant(tenant: string) {
    return this.entraError(
      400,
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  }

  private entraRequest(
    pathname: string,
    method: string,
    body: string,
    record: RecordedRequest,
  ): { status: number; json: unknown } | undefined {
    const config = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(pathname);
    if (config && method === 'GET') {
      record.operation = 'OpenIdConfiguration';
      const tenant = decode(config[1]);
      if (tenant !== this.tenantId) return this.unknownTenant(tenant);
      const base = `${this.endpoint()}/${tenant}`;
      return {
        status: 200,
        json: {
          token_endpoint: `${base}/oauth2/v2.0/token`,
          token_endpoint_auth_methods_supported: [
            'client_secret_post',
            'private_key_jwt',
            'client_secret_basic',
          ],
          jwks_uri: `${this.endpoint()}/${tenant}/discovery/v2.0/keys`,
          response_modes_supported: ['query', 'fragment', 'form_post'],
          subject_types_supported: ['pairwise'],
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
          scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
          issuer: `${base}/v2.0`,
          request_uri_parameter_supported: false,
          userinfo_endpoint: `${this.endpoint()}/oidc/userinfo`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
          http_logout_supported: true,
          frontchannel_logout_supported: true,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'tid'],
          tenant_region_scope: 'EU',
          cloud_instance_name: '127.0.0.1',
          cloud_graph_host_name: '127.0.0.1',
          msgraph_host: '127.0.0.1',
          rbac_url: this.endpoint(),
        },
      };
    }
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(pathname);
    if (!token || method !== 'POST') return undefined;
    record.operation = 'Token';
    const tenant = decode(token[1]);
    if (tenant !== this.tenantId) return this.unknownTenant(tenant);
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') {
      return this.entraError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${form.get('grant_type')}'.`,
      );
    }
    const clientId = form.get('client_id') ?? '';
    if (clientId !== this.clientId) {
      return this.entraError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    if (form.get('client_secret') !== this.clientSecret) {
      return this.entraError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    const scope = form.get('scope') ?? '';
    if (!scope.split(' ').includes(`${this.endpoint()}/.default`)) {
      return this.entraError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${scope.replace(/\/\.default$/, '')} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const accessToken = `${randomBytes(24).toString('base64url')}.${randomBytes(24).toString('base64url')}`;
    this.tokens.add(accessToken);
    return {
      status: 200,
      json: {
        token_type: 'Bearer',
        expires_in: TOKEN_LIFETIME_SECONDS,
        ext_expires_in: TOKEN_LIFETIME_SECONDS,
        access_token: accessToken,
      },
    };
  }

  private armError(status: number, code: string, message: string) {
    return { status, json: { error: { code, message } } };
  }

  private armRequest(
    request: IncomingMessage,
    url: URL,
    record: RecordedRequest,
    send: (status: number, json: unknown, headers?: Record<string, string>) => void,
  ): void {
    const route = ARM_ROUTES.find(
      (candidate) => candidate.method === request.method && candidate.pattern.test(url.pathname),
    );
    if (!route) {
      const { status, json } = this.armError(
        404,
        'InvalidResourceType',
        `The resource type could not be found for ${request.method} ${url.pathname}.`,
      );
      return send(status, json);
    }
    record.operation = route.operation;
    const authorization = request.headers.authorization ?? '';
    if (!authorization.startsWith('Bearer ')) {
      return send(
        401,
        this.armError(
          401,
          'AuthenticationFailed',
          "Authentication failed. The 'Authorization' header is missing.",
        ).json,
        {
          'www-authenticate': `Bearer authorization_uri="${this.endpoint()}/", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
        },
      );
    }
    if (!this.tokens.has(authorization.slice('Bearer '.length))) {
      return send(
        401,
        this.armError(401, 'InvalidAuthenticationToken', 'The access token is invalid.').json,
        {
          'www-authenticate': `Bearer authorization_uri="${this.endpoint()}/", error="invalid_token", error_description="The access token is invalid."`,
        },
      );
    }
    record.authorized = true;
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) {
      const { status, json } = this.armError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
      return send(status, json);
    }
    if (!API_VERSIONS.includes(apiVersion)) {
      const { status, json } = this.armError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location 'westeurope' and API version '${apiVersion}' for type 'sites'. The supported api-versions are '${API_VERSIONS.join(', ')}'.`,
      );
      return send(status, json);
    }
    const fault = this.takeFault(route.operation);
    // A hung endpoint: the request is read and never answered (stop() closes the connection).
    if (fault?.kind === 'stall') {
      record.fault = 'stall';
      return;
    }
    if (fault?.kind === 'throttle') {
      record.fault = 'throttle';
      return send(
        429,
        this.armError(
          429,
          'SubscriptionRequestsThrottled',
          `Number of 'read' requests for subscription '${this.subscriptionId}' actually exceeded the limit of '12000' for time interval '01:00:00'. Please try again after '${fault.retryAfterSeconds}' seconds.`,
        ).json,
        { 'retry-after': String(fault.retryAfterSeconds) },
      );
    }
    if (fault?.kind === 'error') {
      record.fault = 'error';
      return send(fault.status, this.armError(fault.status, fault.code, fault.message).json);
    }
    const params = (route.pattern.exec(url.pathname) as RegExpExecArray).slice(1).map(decode);
    const answer = this.answer(route.operation, params, url);
    send(answer.status, answer.json);
  }

  private takeFault(operation: ArmOperation): Fault | undefined {
    const index = this.faults.findIndex((fault) => !fault.operation || fault.operation === operation);
    if (index < 0) return undefined;
    const fault = this.faults[index];
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private answer(operation: ArmOperation, params: string[], url: URL): { status: number; json: unknown } {
    const [subscription, resourceGroup, site, fn] = params;
    if (subscription !== this.subscriptionId)
      return this.armError(
        404,
        'SubscriptionNotFound',
        `The subscription '${subscription}' could not be found.`,
      );
    if (operation === 'ListSites')
      return this.page(
        [...this.apps.values()].map((app) => this.site(app)),
        url,
      );
    const inGroup = [...this.apps.values()].filter(
      (app) => app.resourceGroup.toLowerCase() === resourceGroup.toLowerCase(),
    );
    if (inGroup.length === 0)
      return this.armError(
        404,
        'ResourceGroupNotFound',
        `Resource group '${resourceGroup}' could not be found.`,
      );
    if (operation === 'ListSitesByResourceGroup')
      return this.page(
        inGroup.map((app) => this.site(app)),
        url,
      );
    const app = inGroup.find((candidate) => candidate.name.toLowerCase() === site.toLowerCase());
    if (!app) {
      return this.armError(
        404,
        'ResourceNotFound',
        `The Resource 'Microsoft.Web/sites/${site}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
      );
    }
    if (operation === 'GetSite') return { status: 200, json: this.site(app) };
    if (operation === 'ListFunctions')
      return this.page(
        [...app.functions.values()].map((record) => this.envelope(app, record)),
        url,
      );
    if (operation === 'ListHostKeys') {
      return {
        status: 200,
        json: { masterKey: app.masterKey, functionKeys: app.hostFunctionKeys, systemKeys: {} },
      };
    }
    const record = app.functions.get(fn.toLowerCase());
    if (!record) return this.armError(404, 'NotFound', 'Error retrieving function.');
    // ARM answers listkeys with the keys at the top level, not under `properties`.
    return { status: 200, json: record.keys };
  }

  private page(items: unknown[], url: URL): { status: number; json: unknown } {
    const start = Number(url.searchParams.get('$skipToken') ?? '0');
    const value = items.slice(start, start + this.pageSize);
    const json: Record<string, unknown> = { value };
    if (start + this.pageSize < items.length) {
      const next = new URL(url.pathname, this.endpoint());
      next.searchParams.set('api-version', url.searchParams.get('api-version') as string);
      next.searchParams.set('$skipToken', String(start + this.pageSize));
      json.nextLink = next.toString();
    }
    return { status: 200, json };
  }

  private siteId(app: AppRecord): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${app.resourceGroup}/providers/Microsoft.Web/sites/${app.name}`;
  }

  private site(app: AppRecord): unknown {
    return {
      id: this.siteId(app),
      name: app.name,
      type: 'Microsoft.Web/sites',
      kind: app.kind,
      location: 'West Europe',
      properties: {
        name: app.name,
        state: 'Running',
        hostNames: [app.defaultHostName],
        enabled: true,
        enabledHostNames: [app.defaultHostName, app.defaultHostName.replace(/^([^.]+)\./, '$1.scm.')],
        resourceGroup: app.resourceGroup,
        defaultHostName: app.defaultHostName,
        httpsOnly: true,
        reserved: app.kind.includes('linux'),
      },
    };
  }

  private envelope(app: AppRecord, record: FunctionRecord): unknown {
    const scriptRoot = `https://${app.defaultHostName}/admin/vfs/site/wwwroot/${record.name}/`;
    const http = record.trigger === 'httpTrigger';
    const route = record.route ?? record.name;
    const bindings: Array<Record<string, unknown>> = http
      ? [
          {
            authLevel: record.authLevel,
            type: 'httpTrigger',
            direction: 'in',
            name: 'req',
            methods: record.methods,
            ...(record.route !== undefined ? { route: record.route } : {}),
          },
          { type: 'http', direction: 'out', name: 'res' },
        ]
      : [{ type: record.trigger, direction: 'in', name: 'input' }];
    const prefix = app.routePrefix ? `/${app.routePrefix}` : '';
    return {
      id: `${this.siteId(app)}/functions/${record.name}`,
      name: `${app.name}/${record.name}`,
      type: 'Microsoft.Web/sites/functions',
      location: 'West Europe',
      properties: {
        name: record.name,
        function_app_id: null,
        script_root_path_href: scriptRoot,
        script_href: `${scriptRoot}index.js`,
        config_href: `${scriptRoot}function.json`,
        test_data_href: `https://${app.defaultHostName}/admin/vfs/data/Functions/sampledata/${record.name}.dat`,
        secrets_file_href: null,
        href: `https://${app.defaultHostName}/admin/functions/${record.name}`,
        config: { bindings },
        files: null,
        test_data: '',
        ...(http ? { invoke_url_template: `https://${app.defaultHostName}${prefix}/${route}` } : {}),
        language: 'node',
        isDisabled: record.disabled,
      },
    };
  }
}

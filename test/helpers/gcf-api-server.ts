import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { createHash, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as protobuf from 'protobufjs';

/**
 * A loopback fake of the Google APIs that `@google-cloud/functions` (REST transport, `fallback: true`)
 * and google-auth-library call, for tests only:
 * - Cloud Functions v2 `GET /v2/{parent}/functions` and v1 `GET /v1/{parent}/functions` (paged with
 *   pageToken / nextPageToken, `-` for every region, numeric enums when the client asks with
 *   `$alt=json;enum-encoding=int`), v1 `GET /v1/{function}:getIamPolicy`; messages built from the SDK's
 *   own proto definitions; Google's error JSON (401 UNAUTHENTICATED, 403 PERMISSION_DENIED with an
 *   ErrorInfo);
 * - the OAuth 2.0 token endpoint `POST /token` (JWT bearer grant): the assertion's RS256 signature is
 *   verified with the service account's public key; a `target_audience` claim gets an ID token signed by
 *   this server (verify it with `verifyIdToken`), a `scope` claim an access token.
 * API calls must carry an access token from /token or a self-signed JWT of a known service account (what
 * google-auth-library sends for a service-account key).
 * Service-account keys are generated per test; nothing private is kept on disk.
 */

const ROOT = protobuf.Root.fromJSON(
  JSON.parse(readFileSync(require.resolve('@google-cloud/functions/build/protos/protos.json'), 'utf8')),
);
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const API_AUDIENCE = 'https://cloudfunctions.googleapis.com/';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_SKEW_SECONDS = 300;
const INVOKER_ROLE = 'roles/cloudfunctions.invoker';

export interface FunctionFixture {
  project: string;
  region: string;
  name: string;
  generation: 1 | 2;
  /** Triggered by this event type instead of HTTP. */
  eventType?: string;
  /** v2 state (ACTIVE, DEPLOYING, FAILED, ...); v1 status is derived. Default ACTIVE. */
  state?: string;
  /** allUsers may invoke it (its IAM policy says so). */
  public?: boolean;
}

export interface RecordedRequest {
  kind: 'token' | 'list-v2' | 'list-v1' | 'iam' | 'unknown';
  path: string;
  query: Record<string, string>;
  status: number;
  /** How the caller authenticated (API calls), or what it asked for (token endpoint). */
  auth?: 'access-token' | 'self-signed-jwt' | 'id-token-grant' | 'access-token-grant';
  /** The service account that signed. */
  account?: string;
}

interface Account {
  publicKey: KeyObject;
  keyId: string;
  disabled?: string;
}

type Claims = Record<string, unknown>;

interface Reply {
  status: number;
  body: unknown;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Header and claims of a compact RS256 JWT whose signature `key` verifies, or undefined. */
function verifiedJwt(token: string, key: (claims: Claims) => KeyObject | undefined): Claims | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return undefined;
  try {
    if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'RS256') return undefined;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Claims;
    const publicKey = key(claims);
    const signed = Buffer.from(`${header}.${payload}`);
    if (!publicKey || !verify('RSA-SHA256', signed, publicKey, Buffer.from(signature, 'base64url')))
      return undefined;
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp < now) return undefined;
    if (typeof claims.iat === 'number' && claims.iat > now + MAX_SKEW_SECONDS) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

function googleError(code: number, status: string, message: string, reason?: string): Reply {
  const details = reason
    ? [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason,
          domain: 'cloudfunctions.googleapis.com',
        },
      ]
    : undefined;
  return { status: code, body: { error: { code, message, status, ...(details ? { details } : {}) } } };
}

function regionCode(region: string): string {
  return region
    .split('-')
    .map((part) => part[0])
    .join('');
}

export class GcfApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private readonly accounts = new Map<string, Account>();
  private readonly accessTokens = new Map<string, string>();
  private readonly functions: FunctionFixture[] = [];
  private readonly denied = new Set<string>();
  private readonly idTokens: Array<{ audience: string; token: string }> = [];
  private readonly signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private port = 0;

  /** `pageSize`: functions per page when the client does not ask (small, so that paging happens). */
  constructor(private readonly options: { pageSize?: number; idTokenLifetimeSeconds?: number } = {}) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A new service account's JSON key (RSA generated now), whose token_uri is this server. */
  createServiceAccount(email = `sluice-${this.accounts.size}@test-project.iam.gserviceaccount.com`): string {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyId = randomBytes(20).toString('hex');
    this.accounts.set(email, { publicKey, keyId });
    return JSON.stringify({
      type: 'service_account',
      project_id: 'test-project',
      private_key_id: keyId,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: email,
      client_id: '1234567890',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${this.endpoint()}/token`,
    });
  }

  /** The token endpoint refuses the account from now on, as Google does for a deleted one. */
  disableServiceAccount(email: string): void {
    const account = this.accounts.get(email);
    if (account) account.disabled = 'Invalid grant: account not found';
  }

  addFunction(fn: FunctionFixture): void {
    this.functions.push(fn);
  }

  /** Listing the project's functions answers 403 PERMISSION_DENIED. */
  deny(project: string): void {
    this.denied.add(project);
  }

  count(kind: RecordedRequest['kind']): number {
    return this.requests.filter((request) => request.kind === kind).length;
  }

  /** The claims of an ID token this server minted, or undefined when it did not mint it. */
  verifyIdToken(token: string): Claims | undefined {
    return verifiedJwt(token, () => this.signingKey.publicKey);
  }

  /** The ID tokens the token endpoint has issued for `audience`, oldest first. */
  issuedIdTokens(audience: string): string[] {
    return this.idTokens.filter((issued) => issued.audience === audience).map((issued) => issued.token);
  }

  /** The URL Cloud Functions gives the function: the Cloud Run URI for 2nd gen, cloudfunctions.net for 1st. */
  static functionUrl(fn: FunctionFixture): string {
    if (fn.generation === 1) return `https://${fn.region}-${fn.project}.cloudfunctions.net/${fn.name}`;
    const hash = createHash('sha256').update(`${fn.project}/${fn.name}`).digest('hex').slice(0, 10);
    return `https://${fn.name}-${hash}-${regionCode(fn.region)}.a.run.app`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.endpoint());
    const body = await new Promise<string>((resolve) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => resolve(text));
    });
    const record: RecordedRequest = {
      kind: 'unknown',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 0,
    };
    const reply = this.route(req, url, body, record);
    record.status = reply.status;
    this.requests.push(record);
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(reply.body));
  }

  private route(req: http.IncomingMessage, url: URL, body: string, record: RecordedRequest): Reply {
    if (req.method === 'POST' && url.pathname === '/token') {
      record.kind = 'token';
      return this.token(body, record);
    }
    const list = /^\/(v1|v2)\/projects\/([^/]+)\/locations\/([^/]+)\/functions$/.exec(url.pathname);
    const iam = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/functions\/[^/:]+):getIamPolicy$/.exec(
      url.pathname,
    );
    if (req.method !== 'GET' || (!list && !iam)) return googleError(404, 'NOT_FOUND', 'Not Found');
    record.kind = list ? (list[1] === 'v1' ? 'list-v1' : 'list-v2') : 'iam';
    const caller = this.authenticate(req.headers.authorization, record);
    if (!caller)
      return googleError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        'ACCESS_TOKEN_TYPE_UNSUPPORTED',
      );
    const numericEnums = url.searchParams.get('$alt') === 'json;enum-encoding=int';
    if (iam) return this.iamPolicy(iam[1], numericEnums);
    const [, version, project, region] = list as RegExpExecArray;
    if (this.denied.has(project)) {
      return googleError(
        403,
        'PERMISSION_DENIED',
        `Permission 'cloudfunctions.functions.list' denied on 'projects/${project}/locations/${region}/functions'`,
        'IAM_PERMISSION_DENIED',
      );
    }
    return this.list(version as 'v1' | 'v2', project, region, url.searchParams, numericEnums);
  }

  private authenticate(header: string | undefined, record: RecordedRequest): string | undefined {
    const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
    if (!token) return undefined;
    const issued = this.accessTokens.get(token);
    if (issued) {
      record.auth = 'access-token';
      record.account = issued;
      return issued;
    }
    const claims = verifiedJwt(token, (claims) => this.accounts.get(String(claims.iss))?.publicKey);
    const scoped = typeof claims?.scope === 'string' && claims.scope.includes('cloud-platform');
    if (!claims || claims.iss !== claims.sub || (claims.aud !== API_AUDIENCE && !scoped)) return undefined;
    record.auth = 'self-signed-jwt';
    record.account = String(claims.iss);
    return record.account;
  }

  private token(body: string, record: RecordedRequest): Reply {
    const form = new URLSearchParams(body);
    const refuse = (description: string): Reply => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: description },
    });
    if (form.get('grant_type') !== JWT_BEARER)
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' },
      };
    const claims = verifiedJwt(
      form.get('assertion') ?? '',
      (claims) => this.accounts.get(String(claims.iss))?.publicKey,
    );
    if (!claims) return refuse('Invalid JWT Signature.');
    if (claims.aud !== GOOGLE_TOKEN_URI)
      return refuse(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    const email = String(claims.iss);
    const disabled = this.accounts.get(email)?.disabled;
    if (disabled) return refuse(disabled);
    record.account = email;
    if (typeof claims.target_audience === 'string') {
      record.auth = 'id-token-grant';
      return { status: 200, body: { id_token: this.idToken(email, claims.target_audience) } };
    }
    record.auth = 'access-token-grant';
    const accessToken = `ya29.${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(accessToken, email);
    return { status: 200, body: { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' } };
  }

  private idToken(email: string, audience: string): string {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'gcf-api-server' }));
    const payload = base64url(
      JSON.stringify({
        iss: 'https://accounts.google.com',
        aud: audience,
        azp: email,
        email,
        email_verified: true,
        sub: createHash('sha256').update(email).digest('hex').slice(0, 21),
        iat: now,
        exp: now + (this.options.idTokenLifetimeSeconds ?? 3600),
        jti: randomBytes(8).toString('hex'),
      }),
    );
    const signature = sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), this.signingKey.privateKey);
    const token = `${header}.${payload}.${base64url(signature)}`;
    this.idTokens.push({ audience, token });
    return token;
  }

  private list(
    version: 'v1' | 'v2',
    project: string,
    region: string,
    query: URLSearchParams,
    numericEnums: boolean,
  ): Reply {
    // The v1 API serves 1st gen functions only.
    const matching = this.functions.filter(
      (fn) =>
        fn.project === project &&
        (region === '-' || fn.region === region) &&
        (version === 'v2' || fn.generation === 1),
    );
    const start = Number(
      query.get('pageToken') ? Buffer.from(query.get('pageToken') as string, 'base64url').toString() : 0,
    );
    const size = Number(query.get('pageSize')) || this.options.pageSize || 50;
    const page = matching.slice(start, start + size);
    const next = start + size < matching.length ? base64url(String(start + size)) : undefined;
    const functions = page.map((fn) => (version === 'v2' ? this.v2Function(fn) : this.v1Function(fn)));
    return {
      status: 200,
      body: this.encode(
        `google.cloud.functions.${version}.ListFunctionsResponse`,
        { functions, nextPageToken: next },
        numericEnums,
      ),
    };
  }

  private v2Function(fn: FunctionFixture): Record<string, unknown> {
    const name = `projects/${fn.project}/locations/${fn.region}/functions/${fn.name}`;
    return {
      name,
      environment: fn.generation === 1 ? 'GEN_1' : 'GEN_2',
      state: fn.state ?? 'ACTIVE',
      url: `https://${fn.region}-${fn.project}.cloudfunctions.net/${fn.name}`,
      buildConfig: { runtime: 'nodejs20', entryPoint: 'handler' },
      serviceConfig: {
        service: `projects/${fn.project}/locations/${fn.region}/services/${fn.name}`,
        ...(fn.generation === 2 ? { uri: GcfApiServer.functionUrl(fn) } : {}),
        ingressSettings: 'ALLOW_ALL',
      },
      ...(fn.eventType
        ? { eventTrigger: { eventType: fn.eventType, trigger: `${name}-trigger`, triggerRegion: fn.region } }
        : {}),
    };
  }

  private v1Function(fn: FunctionFixture): Record<string, unknown> {
    const status = { ACTIVE: 'ACTIVE', DEPLOYING: 'DEPLOY_IN_PROGRESS', FAILED: 'OFFLINE' }[
      fn.state ?? 'ACTIVE'
    ];
    return {
      name: `projects/${fn.project}/locations/${fn.region}/functions/${fn.name}`,
      status: status ?? 'UNKNOWN',
      entryPoint: 'handler',
      runtime: 'nodejs20',
      ...(fn.eventType
        ? { eventTrigger: { eventType: fn.eventType, resource: `projects/${fn.project}/topics/events` } }
        : { httpsTrigger: { url: GcfApiServer.functionUrl(fn), securityLevel: 'SECURE_ALWAYS' } }),
    };
  }

  private iamPolicy(resource: string, numericEnums: boolean): Reply {
    const fn = this.functions.find(
      (candidate) =>
        `projects/${candidate.project}/locations/${candidate.region}/functions/${candidate.name}` ===
        resource,
    );
    if (!fn) return googleError(404, 'NOT_FOUND', `Function ${resource} does not exist`);
    const bindings = fn.public ? [{ role: INVOKER_ROLE, members: ['allUsers'] }] : [];
    return {
      status: 200,
      body: this.encode(
        'google.iam.v1.Policy',
        { version: 1, bindings, etag: base64url('etag') },
        numericEnums,
      ),
    };
  }

  /** proto3 JSON of a message, through the SDK's own proto definitions. */
  private encode(type: string, value: Record<string, unknown>, numericEnums: boolean): unknown {
    const messageType = ROOT.lookupType(type);
    return messageType.toObject(messageType.fromObject(value), {
      enums: numericEnums ? Number : String,
      longs: String,
      bytes: String,
      json: true,
    });
  }
}

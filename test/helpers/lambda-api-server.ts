import * as http from 'node:http';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * A loopback fake of AWS Lambda's control-plane REST API (version 2015-03-31, protocol restJson1)
 * and of STS's Query protocol (AssumeRole, GetCallerIdentity), for tests only. The unmodified
 * `@aws-sdk/client-lambda` / `@aws-sdk/client-sts` clients talk to it through
 * `endpoint: server.endpoint()`.
 *
 * Every request must carry a valid SigV4 signature (recomputed with `@smithy/signature-v4` from the
 * known secret), scoped to the configured region and to the service the path belongs to (`lambda`
 * for /2015-03-31/..., `sts` for POST /). Credentials issued by AssumeRole (ASIA... keys) are
 * accepted together with their session token.
 *
 * Faults (throttle, failWith, malformed) are queued and consumed first-in first-out by the next
 * requests that pass authentication (optionally only requests for one operation).
 */

export interface LambdaApiServerOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  accountId?: string;
}

export interface FunctionOptions {
  runtime?: string;
  description?: string;
  handler?: string;
  memorySize?: number;
  timeout?: number;
}

export interface AliasOptions {
  description?: string;
  /** Weighted alias: extra version -> weight (0..1), as `RoutingConfig.AdditionalVersionWeights`. */
  additionalVersionWeights?: Record<string, number>;
}

export interface RoleOptions {
  /** If set, AssumeRole must present exactly this ExternalId. */
  externalId?: string;
}

export interface ThrottleOptions {
  /** Value of the `Retry-After` header (seconds). Default 1. The SDK waits at least this long. */
  retryAfterSeconds?: number;
  /** `Reason` in the body. Default `CallerRateLimitExceeded` (what control-plane calls get). */
  reason?: string;
}

export type LambdaOperation = 'ListFunctions' | 'ListVersionsByFunction' | 'ListAliases';
export type StsOperation = 'AssumeRole' | 'GetCallerIdentity';

export interface RecordedRequest {
  /** `ListFunctions`, `ListVersionsByFunction`, `ListAliases`, an STS Action, or `Unknown`. */
  operation: string;
  service: 'lambda' | 'sts';
  method: string;
  /** Path as sent (still percent-encoded). */
  path: string;
  /** Decoded query parameters (for STS: the decoded form body). */
  query: Record<string, string>;
  /** Access key id named in the Authorization header's credential scope, if any. */
  signedWith?: string;
  validSignature: boolean;
  /** From the SDK's signed `amz-sdk-request: attempt=N; max=M` header. */
  attempt?: number;
  /** Role ARN when signed with credentials issued by AssumeRole. */
  assumedRole?: string;
  status: number;
  /** Set when an injected fault answered the request. */
  fault?: Fault['kind'];
}

interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
  roleArn?: string;
  sessionName?: string;
  assumedRoleId?: string;
}

interface FunctionConfig {
  runtime: string;
  description: string;
  handler: string;
  memorySize: number;
  timeout: number;
  lastModified: string;
  codeSha256: string;
  codeSize: number;
  revisionId: string;
}

interface AliasRecord {
  name: string;
  functionVersion: string;
  description: string;
  additionalVersionWeights?: Record<string, number>;
  revisionId: string;
}

interface FunctionRecord {
  name: string;
  latest: FunctionConfig;
  versions: Map<string, FunctionConfig>;
  nextVersion: number;
  aliases: Map<string, AliasRecord>;
}

type Fault =
  | { kind: 'throttle'; remaining: number; operation?: string; retryAfterSeconds: number; reason: string }
  | {
      kind: 'error';
      remaining: number;
      operation?: string;
      status: number;
      errorType: string;
      message: string;
    }
  | { kind: 'malformed'; remaining: number; operation?: string; body?: string }
  | { kind: 'stall'; remaining: number; operation?: string };

type AnsweredFault = Exclude<Fault, { kind: 'stall' }>;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type SignableRequest = Parameters<SignatureV4['sign']>[0];

const LAMBDA_PREFIX = '/2015-03-31';
const STS_VERSION = '2011-06-15';
const STS_XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const PAGE_LIMIT = 50;
const MAX_SKEW_MS = 5 * 60 * 1000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const CORAL = ':http://internal.amazon.com/coral/com.amazon.coral.service/';
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const BAD_TOKEN = 'The security token included in the request is invalid.';
const EXPIRED_TOKEN = 'The security token included in the request is expired';

/** Lambda error shapes whose message member is spelled `message` (the rest use `Message`). */
const LOWERCASE_MESSAGE_ERRORS = new Set([
  'InvalidParameterValueException',
  'InvalidRequestContentException',
  'ModeNotSupportedException',
  'PolicyLengthExceededException',
  'PreconditionFailedException',
  'ProvisionedConcurrencyConfigNotFoundException',
  'RequestTooLargeException',
  'ResourceConflictException',
  'ResourceNotReadyException',
  'SerializedRequestEntityTooLargeException',
  'TooManyRequestsException',
  'UnsupportedMediaTypeException',
]);

const FUNCTION_NAME_PATTERN =
  /^(?:arn:(?:aws[a-zA-Z-]*):lambda:)?(?:([a-z]{2}(?:-gov)?-[a-z]+-\d):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9_-]+)(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/;
const SIMPLE_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const ALIAS_NAME = /^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$/;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

function lambdaTimestamp(date: Date): string {
  // Lambda's own format: 2024-01-31T12:00:00.000+0000
  return date.toISOString().replace('Z', '+0000');
}

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function randomUpper(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ApiError(400, 'InvalidRequestContentException', `Malformed percent-encoding: ${value}`);
  }
}

/** Query string -> decoded map (the shape the SDK signer canonicalises). Keys without `=` are skipped. */
function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part || !part.includes('=')) continue;
    const eq = part.indexOf('=');
    const key = decodeComponent(part.slice(0, eq));
    const value = decodeComponent(part.slice(eq + 1));
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else out[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

function flatten(query: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) out[k] = Array.isArray(v) ? v[v.length - 1] : v;
  return out;
}

function encodeMarker(operation: string, key: Array<string | number>): string {
  return Buffer.from(JSON.stringify({ o: operation, k: key })).toString('base64');
}

function decodeMarker(operation: string, marker: string): Array<string | number> {
  try {
    const parsed = JSON.parse(Buffer.from(marker, 'base64').toString('utf8')) as { o?: unknown; k?: unknown };
    if (parsed.o === operation && Array.isArray(parsed.k)) return parsed.k as Array<string | number>;
  } catch {
    // fall through
  }
  throw new ApiError(400, 'InvalidParameterValueException', 'Invalid marker.');
}

function compareKeys(a: Array<string | number>, b: Array<string | number>): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function versionSortKey(version: string): number {
  return version === '$LATEST' ? -1 : Number(version);
}

function validationError(value: string, member: string, constraint: string): ApiError {
  return new ApiError(
    400,
    'ValidationException',
    `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

export class LambdaApiServer {
  readonly region: string;
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];

  private server?: http.Server;
  private port?: number;
  private readonly functions = new Map<string, FunctionRecord>();
  private readonly identities = new Map<string, Identity>();
  private readonly roles = new Map<string, RoleOptions>();
  private readonly faults: Fault[] = [];

  constructor(options: LambdaApiServerOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.accessKeyId = options.accessKeyId ?? 'AKIAIOSFODNN7EXAMPLE';
    this.secretAccessKey = options.secretAccessKey ?? 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    this.identities.set(this.accessKeyId, {
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.secretAccessKey,
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Listens on 127.0.0.1 on an ephemeral port; resolves to the port. */
  async start(): Promise<number> {
    if (this.port !== undefined) return this.port;
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(error));
        } else {
          res.destroy();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  /** Closes the listener and every open (including idle keep-alive) connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.port = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  endpoint(): string {
    if (this.port === undefined) throw new Error('LambdaApiServer is not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** The long-term credentials the server accepts, in the SDK's `credentials` shape. */
  credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey };
  }

  // ---------------------------------------------------------------- state

  functionArn(name: string, qualifier?: string): string {
    const base = `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
    return qualifier === undefined ? base : `${base}:${qualifier}`;
  }

  /** Creates the function (its $LATEST version). Throws if it exists. */
  addFunction(name: string, opts: FunctionOptions = {}): void {
    if (!SIMPLE_NAME.test(name)) throw new Error(`invalid function name: ${name}`);
    if (this.functions.has(name)) throw new Error(`function already exists: ${name}`);
    this.functions.set(name, {
      name,
      latest: this.makeConfig(name, opts),
      versions: new Map(),
      nextVersion: 1,
      aliases: new Map(),
    });
  }

  /** Changes $LATEST (published versions keep their snapshot). */
  updateFunction(name: string, opts: FunctionOptions): void {
    const fn = this.mustGet(name);
    fn.latest = this.makeConfig(name, {
      runtime: opts.runtime ?? fn.latest.runtime,
      description: opts.description ?? fn.latest.description,
      handler: opts.handler ?? fn.latest.handler,
      memorySize: opts.memorySize ?? fn.latest.memorySize,
      timeout: opts.timeout ?? fn.latest.timeout,
    });
  }

  /** Publishes $LATEST as the next version; returns its number ("1", "2", ...). */
  publishVersion(name: string): string {
    const fn = this.mustGet(name);
    const version = String(fn.nextVersion++);
    fn.versions.set(version, {
      ...fn.latest,
      lastModified: lambdaTimestamp(new Date()),
      revisionId: randomUUID(),
    });
    return version;
  }

  addAlias(name: string, alias: string, version: string, opts: AliasOptions = {}): void {
    const fn = this.mustGet(name);
    if (!ALIAS_NAME.test(alias)) throw new Error(`invalid alias name: ${alias}`);
    if (fn.aliases.has(alias)) throw new Error(`alias already exists: ${name}:${alias}`);
    fn.aliases.set(alias, this.makeAlias(fn, alias, version, opts));
  }

  /** Points an existing alias at another version (and/or changes its weights or description). */
  updateAlias(name: string, alias: string, version: string, opts: AliasOptions = {}): void {
    const fn = this.mustGet(name);
    const existing = fn.aliases.get(alias);
    if (!existing) throw new Error(`no such alias: ${name}:${alias}`);
    fn.aliases.set(alias, this.makeAlias(fn, alias, version, { description: existing.description, ...opts }));
  }

  deleteAlias(name: string, alias: string): void {
    if (!this.mustGet(name).aliases.delete(alias)) throw new Error(`no such alias: ${name}:${alias}`);
  }

  deleteFunction(name: string): void {
    if (!this.functions.delete(name)) throw new Error(`no such function: ${name}`);
  }

  /** Registers a role AssumeRole may assume (unregistered roles are denied). */
  addRole(roleArn: string, opts: RoleOptions = {}): void {
    this.roles.set(roleArn, { ...opts });
  }

  /** Makes every credential issued so far by AssumeRole expired. */
  expireIssuedCredentials(): void {
    for (const identity of this.identities.values()) {
      if (identity.sessionToken) identity.expiration = new Date(Date.now() - 1000);
    }
  }

  // ---------------------------------------------------------------- faults

  /** The next `n` matching requests get 429 TooManyRequestsException (STS: 400 Throttling). */
  throttle(n: number, operation?: string, opts: ThrottleOptions = {}): void {
    this.faults.push({
      kind: 'throttle',
      remaining: n,
      operation,
      retryAfterSeconds: opts.retryAfterSeconds ?? 1,
      reason: opts.reason ?? 'CallerRateLimitExceeded',
    });
  }

  /** The next `n` matching requests fail with this status and error type (e.g. 403 AccessDeniedException). */
  failWith(status: number, errorType: string, message: string, n: number, operation?: string): void {
    this.faults.push({ kind: 'error', remaining: n, operation, status, errorType, message });
  }

  /** The next `n` matching requests are never answered. */
  stall(n: number, operation?: string): void {
    this.faults.push({ kind: 'stall', remaining: n, operation });
  }

  /** The next `n` matching requests get 200 with a body that does not parse (JSON, or XML for STS). */
  malformed(n: number, operation?: string, body?: string): void {
    this.faults.push({ kind: 'malformed', remaining: n, operation, body });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Number of recorded requests, optionally for one operation. */
  count(operation?: string): number {
    return operation === undefined
      ? this.requests.length
      : this.requests.filter((r) => r.operation === operation).length;
  }

  // ---------------------------------------------------------------- request handling

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q >= 0 ? url.slice(0, q) : url;
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    const method = req.method ?? 'GET';
    const service: 'lambda' | 'sts' = method === 'POST' && rawPath === '/' ? 'sts' : 'lambda';
    const requestId = randomUUID();
    const attemptHeader = /attempt=(\d+)/.exec(headerValue(req, 'amz-sdk-request') ?? '');

    const record: RecordedRequest = {
      operation: 'Unknown',
      service,
      method,
      path: rawPath,
      query: {},
      validSignature: false,
      attempt: attemptHeader ? Number(attemptHeader[1]) : undefined,
      status: 0,
    };
    this.requests.push(record);

    let reply: Reply;
    try {
      const query = parseQuery(rawQuery);
      let params: Record<string, string>;
      if (service === 'sts') {
        params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
        record.operation = params.Action ?? 'Unknown';
      } else {
        params = flatten(query);
        record.operation = this.routeLambda(method, rawPath)?.operation ?? 'Unknown';
      }
      record.query = params;

      const auth = await this.authenticate(req, service, method, rawPath, query, body);
      record.signedWith = auth.accessKeyId;
      if (auth.error) throw auth.error;
      record.validSignature = true;
      const identity = auth.identity as Identity;
      record.assumedRole = identity.roleArn;

      const fault = this.takeFault(record.operation);
      // A hung endpoint: the request is read and never answered (stop() closes the connection).
      if (fault?.kind === 'stall') {
        record.fault = fault.kind;
        return;
      }
      if (fault) {
        record.fault = fault.kind;
        reply = service === 'sts' ? stsFault(fault, requestId) : this.lambdaFault(fault);
      } else if (service === 'sts') {
        reply = this.handleSts(params, identity, requestId);
      } else {
        reply = this.handleLambda(method, rawPath, params);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      reply = service === 'sts' ? stsError(error, requestId) : this.lambdaError(error);
    }

    record.status = reply.status;
    const payload = Buffer.from(reply.body, 'utf8');
    res.writeHead(reply.status, {
      ...reply.headers,
      'x-amzn-RequestId': requestId,
      'content-length': String(payload.length),
    });
    res.end(payload);
  }

  private takeFault(operation: string): Fault | undefined {
    const index = this.faults.findIndex(
      (f) => f.remaining > 0 && (f.operation === undefined || f.operation === operation),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index];
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }

  // ---------------------------------------------------------------- SigV4

  private async authenticate(
    req: http.IncomingMessage,
    service: 'lambda' | 'sts',
    method: string,
    rawPath: string,
    query: Record<string, string | string[]>,
    body: Buffer,
  ): Promise<{ accessKeyId?: string; identity?: Identity; error?: ApiError }> {
    const sts = service === 'sts';
    const authorization = headerValue(req, 'authorization');
    if (!authorization) {
      return {
        error: sts
          ? new ApiError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token')
          : new ApiError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'),
      };
    }
    const match = /^AWS4-HMAC-SHA256 (.+)$/.exec(authorization);
    const fields: Record<string, string> = {};
    for (const part of match ? match[1].split(',') : []) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    const scope = (fields.Credential ?? '').split('/');
    if (!match || scope.length !== 5 || !fields.SignedHeaders || !fields.Signature) {
      return {
        error: new ApiError(
          400,
          'IncompleteSignatureException',
          `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization}`,
        ),
      };
    }
    const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator] = scope;
    const amzDate = headerValue(req, 'x-amz-date');
    const signingDate = amzDate ? parseAmzDate(amzDate) : undefined;
    if (!signingDate) {
      return {
        accessKeyId,
        error: new ApiError(
          400,
          'IncompleteSignatureException',
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
      };
    }

    const identity = this.identities.get(accessKeyId);
    const token = headerValue(req, 'x-amz-security-token');
    if (!identity || (identity.sessionToken !== undefined && identity.sessionToken !== token)) {
      return {
        accessKeyId,
        error: new ApiError(403, sts ? 'InvalidClientTokenId' : 'UnrecognizedClientException', BAD_TOKEN),
      };
    }
    if (identity.expiration && identity.expiration.getTime() <= Date.now()) {
      return {
        accessKeyId,
        error: new ApiError(403, sts ? 'ExpiredToken' : 'ExpiredTokenException', EXPIRED_TOKEN),
      };
    }

    const signatureError = (message: string) =>
      new ApiError(403, sts ? 'SignatureDoesNotMatch' : 'InvalidSignatureException', message);
    if (terminator !== 'aws4_request') {
      return {
        accessKeyId,
        error: signatureError(
          `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`,
        ),
      };
    }
    if (scopeDate !== amzDate?.slice(0, 8)) {
      return {
        accessKeyId,
        error: signatureError(
          `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate?.slice(0, 8)}', from '${amzDate}'.`,
        ),
      };
    }
    if (scopeService !== service) {
      return {
        accessKeyId,
        error: signatureError(`Credential should be scoped to correct service: '${service}'. `),
      };
    }
    if (scopeRegion !== this.region) {
      return {
        accessKeyId,
        error: signatureError(`Credential should be scoped to a valid region, not '${scopeRegion}'. `),
      };
    }
    const skew = signingDate.getTime() - Date.now();
    if (Math.abs(skew) > MAX_SKEW_MS) {
      const now = Date.now();
      const bound = skew < 0 ? now - MAX_SKEW_MS : now + MAX_SKEW_MS;
      return {
        accessKeyId,
        error: signatureError(
          skew < 0
            ? `Signature expired: ${amzDate} is now earlier than ${compactDate(new Date(bound))} (${compactDate(new Date(now))} - 5 min.)`
            : `Signature not yet current: ${amzDate} is still later than ${compactDate(new Date(bound))} (${compactDate(new Date(now))} + 5 min.)`,
        ),
      };
    }

    // The signed payload hash (if the client sent one) must be the body's.
    const declaredHash = headerValue(req, 'x-amz-content-sha256');
    const actualHash = body.length ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
    if (declaredHash !== undefined && declaredHash !== actualHash && declaredHash !== 'UNSIGNED-PAYLOAD') {
      return {
        accessKeyId,
        error: signatureError("The provided 'x-amz-content-sha256' header does not match what was computed."),
      };
    }

    // Recompute the signature over exactly the headers the client says it signed.
    const signedNames = fields.SignedHeaders.split(';');
    const headers: Record<string, string> = {};
    for (const name of signedNames) {
      const value = headerValue(req, name);
      if (value !== undefined) headers[name] = value;
    }
    const signer = new SignatureV4({
      service: scopeService,
      region: scopeRegion,
      sha256: Sha256,
      applyChecksum: false,
      uriEscapePath: true,
      credentials: {
        accessKeyId: identity.accessKeyId,
        secretAccessKey: identity.secretAccessKey,
        sessionToken: signedNames.includes('x-amz-security-token') ? token : undefined,
      },
    });
    const toSign: SignableRequest = {
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: this.port,
      path: rawPath,
      query,
      headers,
      body: body.length ? new Uint8Array(body) : undefined,
    };
    const signed = await signer.sign(toSign, {
      signingDate,
      signingRegion: scopeRegion,
      signingService: scopeService,
      signableHeaders: new Set(signedNames),
    });
    const expected = /SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(signed.headers.authorization ?? '');
    const ok =
      expected !== null &&
      expected[1] === fields.SignedHeaders &&
      expected[2].length === fields.Signature.length &&
      timingSafeEqual(Buffer.from(expected[2]), Buffer.from(fields.Signature));
    if (!ok) return { accessKeyId, error: signatureError(SIGNATURE_MISMATCH) };
    return { accessKeyId, identity };
  }

  // ---------------------------------------------------------------- Lambda

  private routeLambda(
    method: string,
    rawPath: string,
  ): { operation: LambdaOperation; functionName?: string } | undefined {
    if (method !== 'GET' || !rawPath.startsWith(`${LAMBDA_PREFIX}/functions`)) return undefined;
    const segments = rawPath.slice(LAMBDA_PREFIX.length + 1).split('/');
    if (segments[segments.length - 1] === '') segments.pop(); // trailing slash (older SDKs send one)
    if (segments[0] !== 'functions') return undefined;
    if (segments.length === 1) return { operation: 'ListFunctions' };
    if (segments.length === 3 && segments[2] === 'versions') {
      return { operation: 'ListVersionsByFunction', functionName: decodeComponent(segments[1]) };
    }
    if (segments.length === 3 && segments[2] === 'aliases') {
      return { operation: 'ListAliases', functionName: decodeComponent(segments[1]) };
    }
    return undefined;
  }

  private handleLambda(method: string, rawPath: string, params: Record<string, string>): Reply {
    const route = this.routeLambda(method, rawPath);
    if (!route) {
      throw new ApiError(
        404,
        'UnknownOperationException',
        `LambdaApiServer does not implement ${method} ${rawPath}`,
      );
    }
    const maxItems = parseMaxItems(params.MaxItems);
    switch (route.operation) {
      case 'ListFunctions':
        return this.listFunctions(params, maxItems);
      case 'ListVersionsByFunction': {
        const fn = this.resolveFunction(route.functionName ?? '');
        const items = [...this.versionEntries(fn)];
        const page = paginate(route.operation, items, params.Marker, maxItems);
        return jsonReply({
          Versions: page.items.map((i) => i.value),
          ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
        });
      }
      case 'ListAliases': {
        const fn = this.resolveFunction(route.functionName ?? '');
        const filter = params.FunctionVersion;
        if (filter !== undefined && !/^(\$LATEST|[0-9]+)$/.test(filter)) {
          throw validationError(
            filter,
            'functionVersion',
            'Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)',
          );
        }
        const items = [...fn.aliases.values()]
          .filter((a) => filter === undefined || a.functionVersion === filter)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((a) => ({ key: [a.name], value: this.aliasJson(fn, a) }));
        const page = paginate(route.operation, items, params.Marker, maxItems);
        return jsonReply({
          Aliases: page.items.map((i) => i.value),
          ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
        });
      }
    }
  }

  private listFunctions(params: Record<string, string>, maxItems: number): Reply {
    const { FunctionVersion: functionVersion, MasterRegion: masterRegion } = params;
    if (functionVersion !== undefined && functionVersion !== 'ALL') {
      throw validationError(functionVersion, 'functionVersion', 'Member must satisfy enum value set: [ALL]');
    }
    if (masterRegion !== undefined) {
      if (!/^(ALL|[a-z]{2}(-gov)?-[a-z]+-\d{1})$/.test(masterRegion)) {
        throw validationError(
          masterRegion,
          'masterRegion',
          'Member must satisfy regular expression pattern: ALL|[a-z]{2}(-gov)?-[a-z]+-\\d{1}',
        );
      }
      if (functionVersion !== 'ALL') {
        throw new ApiError(
          400,
          'InvalidParameterValueException',
          'Invalid parameter: MasterRegion requires FunctionVersion=ALL',
        );
      }
    }
    const names = [...this.functions.keys()].sort();
    const items: Array<{ key: Array<string | number>; value: unknown }> = [];
    // Lambda@Edge replicas are the only functions a MasterRegion filter matches; this fake has none.
    if (masterRegion === undefined) {
      for (const name of names) {
        const fn = this.functions.get(name) as FunctionRecord;
        if (functionVersion === 'ALL') {
          for (const entry of this.versionEntries(fn))
            items.push({ key: [name, ...entry.key], value: entry.value });
        } else {
          items.push({ key: [name], value: this.configJson(fn, '$LATEST', fn.latest, false) });
        }
      }
    }
    const page = paginate('ListFunctions', items, params.Marker, maxItems);
    return jsonReply({
      Functions: page.items.map((i) => i.value),
      ...(page.nextMarker ? { NextMarker: page.nextMarker } : {}),
    });
  }

  /** $LATEST first, then published versions in ascending order; ARNs qualified. */
  private *versionEntries(fn: FunctionRecord): Generator<{ key: number[]; value: unknown }> {
    yield { key: [versionSortKey('$LATEST')], value: this.configJson(fn, '$LATEST', fn.latest, true) };
    const versions = [...fn.versions.keys()].sort((a, b) => versionSortKey(a) - versionSortKey(b));
    for (const version of versions) {
      const config = fn.versions.get(version) as FunctionConfig;
      yield { key: [versionSortKey(version)], value: this.configJson(fn, version, config, true) };
    }
  }

  /**
   * The subset of FunctionConfiguration the List* operations return. Like the real API, it has no
   * State/StateReason/LastUpdateStatus* (those only come from GetFunction/GetFunctionConfiguration).
   */
  private configJson(
    fn: FunctionRecord,
    version: string,
    config: FunctionConfig,
    qualified: boolean,
  ): unknown {
    return {
      FunctionName: fn.name,
      FunctionArn: this.functionArn(fn.name, qualified ? version : undefined),
      Runtime: config.runtime,
      Role: `arn:aws:iam::${this.accountId}:role/service-role/${fn.name}-role`,
      Handler: config.handler,
      CodeSize: config.codeSize,
      Description: config.description,
      Timeout: config.timeout,
      MemorySize: config.memorySize,
      LastModified: config.lastModified,
      CodeSha256: config.codeSha256,
      Version: version,
      TracingConfig: { Mode: 'PassThrough' },
      RevisionId: config.revisionId,
      PackageType: 'Zip',
      Architectures: ['x86_64'],
      EphemeralStorage: { Size: 512 },
      SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
      LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${fn.name}` },
    };
  }

  private aliasJson(fn: FunctionRecord, alias: AliasRecord): unknown {
    return {
      AliasArn: this.functionArn(fn.name, alias.name),
      Name: alias.name,
      FunctionVersion: alias.functionVersion,
      Description: alias.description,
      ...(alias.additionalVersionWeights
        ? { RoutingConfig: { AdditionalVersionWeights: alias.additionalVersionWeights } }
        : {}),
      RevisionId: alias.revisionId,
    };
  }

  /** Accepts a name, a partial ARN (ACCOUNT:function:NAME) or a full ARN; a qualifier is ignored. */
  private resolveFunction(identifier: string): FunctionRecord {
    const match = FUNCTION_NAME_PATTERN.exec(identifier);
    if (!match || identifier.length > 170) {
      throw validationError(
        identifier,
        'functionName',
        'Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?',
      );
    }
    const [, region, account, name] = match;
    const fn = this.functions.get(name);
    if (
      !fn ||
      (region !== undefined && region !== this.region) ||
      (account !== undefined && account !== this.accountId)
    ) {
      const arn = `arn:aws:lambda:${region ?? this.region}:${account ?? this.accountId}:function:${name}`;
      throw new ApiError(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
    }
    return fn;
  }

  private lambdaError(error: ApiError): Reply {
    // Errors raised by the authentication layer look like coral framework errors: a qualified
    // x-amzn-ErrorType and a bare {"message"} body. Modelled Lambda errors carry Type + message.
    const framework = [
      'MissingAuthenticationTokenException',
      'IncompleteSignatureException',
      'UnrecognizedClientException',
      'InvalidSignatureException',
      'ExpiredTokenException',
      'ValidationException',
      'UnknownOperationException',
    ].includes(error.errorType);
    if (framework) {
      return {
        status: error.status,
        headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': `${error.errorType}${CORAL}` },
        body: JSON.stringify({ message: error.message }),
      };
    }
    return lambdaModelledError(error.status, error.errorType, error.message);
  }

  private lambdaFault(fault: AnsweredFault): Reply {
    switch (fault.kind) {
      case 'throttle': {
        const reply = lambdaModelledError(429, 'TooManyRequestsException', 'Rate exceeded', {
          Reason: fault.reason,
        });
        reply.headers['Retry-After'] = String(fault.retryAfterSeconds);
        return reply;
      }
      case 'error':
        return this.lambdaError(new ApiError(fault.status, fault.errorType, fault.message));
      case 'malformed':
        return {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: fault.body ?? '{"Functions": [{"FunctionName": "trunc',
        };
    }
  }

  // ---------------------------------------------------------------- STS

  private handleSts(params: Record<string, string>, caller: Identity, requestId: string): Reply {
    const action = params.Action;
    if (params.Version !== STS_VERSION) {
      throw new ApiError(
        400,
        'InvalidAction',
        `Could not find operation ${action} for version ${params.Version}`,
      );
    }
    if (action === 'GetCallerIdentity') {
      const arn = caller.roleArn
        ? assumedRoleArn(caller.roleArn, caller.sessionName ?? '')
        : `arn:aws:iam::${this.accountId}:user/sluice-test`;
      const userId = caller.assumedRoleId ?? `AIDA${randomUpper(17)}`;
      const account = caller.roleArn ? caller.roleArn.split(':')[4] : this.accountId;
      return xmlReply(
        'GetCallerIdentity',
        `<Arn>${xmlEscape(arn)}</Arn><UserId>${xmlEscape(userId)}</UserId><Account>${account}</Account>`,
        requestId,
      );
    }
    if (action !== 'AssumeRole') {
      throw new ApiError(
        400,
        'InvalidAction',
        `Could not find operation ${action} for version ${STS_VERSION}`,
      );
    }

    const roleArn = params.RoleArn;
    const sessionName = params.RoleSessionName;
    if (roleArn === undefined) throw stsValidation('roleArn', 'Member must not be null', 'null');
    if (sessionName === undefined) throw stsValidation('roleSessionName', 'Member must not be null', 'null');
    if (roleArn.length < 20 || !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(roleArn)) {
      throw stsValidation('roleArn', 'Member must satisfy the ARN format of an IAM role', roleArn);
    }
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw stsValidation(
        'roleSessionName',
        'Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64',
        sessionName,
      );
    }
    const externalId = params.ExternalId;
    if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
      throw stsValidation(
        'externalId',
        'Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*',
        externalId,
      );
    }
    const duration = params.DurationSeconds === undefined ? 3600 : Number(params.DurationSeconds);
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) {
      throw stsValidation(
        'durationSeconds',
        'Member must have value between 900 and 43200',
        String(params.DurationSeconds),
      );
    }

    const role = this.roles.get(roleArn);
    if (!role || (role.externalId !== undefined && role.externalId !== externalId)) {
      const callerArn = caller.roleArn
        ? assumedRoleArn(caller.roleArn, caller.sessionName ?? '')
        : `arn:aws:iam::${this.accountId}:user/sluice-test`;
      throw new ApiError(
        403,
        'AccessDenied',
        `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      );
    }

    const issued: Identity = {
      accessKeyId: `ASIA${randomUpper(16)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(240).toString('base64')}`,
      expiration: new Date(Math.floor(Date.now() / 1000) * 1000 + duration * 1000),
      roleArn,
      sessionName,
      assumedRoleId: `AROA${randomUpper(17)}:${sessionName}`,
    };
    this.identities.set(issued.accessKeyId, issued);
    const expiration = (issued.expiration as Date).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return xmlReply(
      'AssumeRole',
      '<AssumedRoleUser>' +
        `<AssumedRoleId>${xmlEscape(issued.assumedRoleId as string)}</AssumedRoleId>` +
        `<Arn>${xmlEscape(assumedRoleArn(roleArn, sessionName))}</Arn>` +
        '</AssumedRoleUser>' +
        '<Credentials>' +
        `<AccessKeyId>${issued.accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${xmlEscape(issued.secretAccessKey)}</SecretAccessKey>` +
        `<SessionToken>${xmlEscape(issued.sessionToken as string)}</SessionToken>` +
        `<Expiration>${expiration}</Expiration>` +
        '</Credentials>',
      requestId,
    );
  }

  // ---------------------------------------------------------------- helpers

  private mustGet(name: string): FunctionRecord {
    const fn = this.functions.get(name);
    if (!fn) throw new Error(`no such function: ${name}`);
    return fn;
  }

  private makeConfig(name: string, opts: FunctionOptions): FunctionConfig {
    const codeSize = 300 + randomBytes(2).readUInt16BE(0);
    return {
      runtime: opts.runtime ?? 'nodejs20.x',
      description: opts.description ?? '',
      handler: opts.handler ?? 'index.handler',
      memorySize: opts.memorySize ?? 128,
      timeout: opts.timeout ?? 3,
      lastModified: lambdaTimestamp(new Date()),
      codeSha256: createHash('sha256').update(`${name}:${randomUUID()}`).digest('base64'),
      codeSize,
      revisionId: randomUUID(),
    };
  }

  private makeAlias(fn: FunctionRecord, alias: string, version: string, opts: AliasOptions): AliasRecord {
    if (version !== '$LATEST' && !fn.versions.has(version)) {
      throw new Error(`no such version: ${fn.name}:${version}`);
    }
    for (const extra of Object.keys(opts.additionalVersionWeights ?? {})) {
      if (!fn.versions.has(extra)) throw new Error(`no such version: ${fn.name}:${extra}`);
    }
    return {
      name: alias,
      functionVersion: version,
      description: opts.description ?? '',
      additionalVersionWeights: opts.additionalVersionWeights
        ? { ...opts.additionalVersionWeights }
        : undefined,
      revisionId: randomUUID(),
    };
  }
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

function compactDate(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

function parseMaxItems(value: string | undefined): number {
  if (value === undefined) return PAGE_LIMIT;
  const n = Number(value);
  if (!Number.isInteger(n)) {
    throw new ApiError(400, 'InvalidParameterValueException', `Invalid value for MaxItems: ${value}`);
  }
  if (n < 1) throw validationError(value, 'maxItems', 'Member must have value greater than or equal to 1');
  if (n > 10000)
    throw validationError(value, 'maxItems', 'Member must have value less than or equal to 10000');
  return Math.min(n, PAGE_LIMIT);
}

/** Key-based paging: the marker names the last key returned, so deletions between pages are harmless. */
function paginate<T extends { key: Array<string | number> }>(
  operation: string,
  items: T[],
  marker: string | undefined,
  maxItems: number,
): { items: T[]; nextMarker?: string } {
  const after = marker === undefined || marker === '' ? undefined : decodeMarker(operation, marker);
  const remaining = after ? items.filter((i) => compareKeys(i.key, after) > 0) : items;
  const page = remaining.slice(0, maxItems);
  const nextMarker =
    remaining.length > page.length ? encodeMarker(operation, page[page.length - 1].key) : undefined;
  return { items: page, nextMarker };
}

function jsonReply(value: unknown): Reply {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

function lambdaModelledError(
  status: number,
  errorType: string,
  message: string,
  extra: Record<string, string> = {},
): Reply {
  const messageKey = LOWERCASE_MESSAGE_ERRORS.has(errorType) ? 'message' : 'Message';
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType },
    body: JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', [messageKey]: message, ...extra }),
  };
}

function assumedRoleArn(roleArn: string, sessionName: string): string {
  const account = roleArn.split(':')[4];
  const roleName = roleArn.slice(roleArn.lastIndexOf('/') + 1);
  return `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`;
}

function stsValidation(member: string, constraint: string, value: string): ApiError {
  return new ApiError(
    400,
    'ValidationError',
    `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

function xmlReply(action: string, result: string, requestId: string): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body:
      `<${action}Response xmlns="${STS_XMLNS}">\n` +
      `  <${action}Result>${result}</${action}Result>\n` +
      `  <ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>\n` +
      `</${action}Response>\n`,
  };
}

function stsError(error: ApiError, requestId: string): Reply {
  return {
    status: error.status,
    headers: { 'content-type': 'text/xml' },
    body:
      `<ErrorResponse xmlns="${STS_XMLNS}">\n` +
      `  <Error><Type>${error.status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
      `<Code>${xmlEscape(error.errorType)}</Code><Message>${xmlEscape(error.message)}</Message></Error>\n` +
      `  <RequestId>${requestId}</RequestId>\n` +
      `</ErrorResponse>\n`,
  };
}

function stsFault(fault: AnsweredFault, requestId: string): Reply {
  switch (fault.kind) {
    case 'throttle':
      return stsError(new ApiError(400, 'Throttling', 'Rate exceeded'), requestId);
    case 'error':
      return stsError(new ApiError(fault.status, fault.errorType, fault.message), requestId);
    case 'malformed':
      return {
        status: 200,
        headers: { 'content-type': 'text/xml' },
        body: fault.body ?? `<AssumeRoleResponse xmlns="${STS_XMLNS}"><AssumeRoleResult><Credentials><<<`,
      };
  }
}

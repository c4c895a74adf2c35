import { readFileSync } from 'fs';
import { Agent, request, type Dispatcher } from 'undici';

/** Sent with every probe, so a service's logs tell discovery apart from users. */
export const DISCOVERY_HEADER = { 'x-sluice-discovery': 'openapi' };

/** What discovery puts up with from one service's answer. */
export interface FetchLimits {
  /** The whole request: connecting, headers and every byte of the body, however slowly they come. */
  timeoutMs: number;
  /** The most a document may weigh; a longer body is cut off there. */
  maxBytes: number;
}

export const DEFAULT_FETCH_LIMITS: FetchLimits = {
  timeoutMs: 5000,
  // GitHub's description is 13 MB; anything far larger is not a document to route by.
  maxBytes: 64 * 1024 * 1024,
};

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export interface FetchedDocument {
  status: number;
  body?: string;
  etag?: string;
  /** A redirect's target, origin and path only (a query may hold a token); never followed. */
  redirectsTo?: string;
}

export interface TlsOptions {
  servername?: string;
  caFile?: string;
}

/** The service answered with more than `FetchLimits.maxBytes`: it was reached, but has no document to use. */
export class ResponseTooLarge extends Error {}

const agents = new Map<string, Dispatcher>();

/** One connection pool per TLS setting (a CA file is read once). */
function dispatcherFor(tls: TlsOptions | undefined): Dispatcher | undefined {
  if (!tls?.servername && !tls?.caFile) return undefined;
  const key = `${tls.servername ?? ''}|${tls.caFile ?? ''}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      connect: { servername: tls.servername, ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}) },
    });
    agents.set(key, agent);
  }
  return agent;
}

function describeBytes(bytes: number): string {
  const mebibyte = 1024 * 1024;
  return bytes % mebibyte === 0 ? `${bytes / mebibyte} MB` : `${bytes} bytes`;
}

function tooLarge(maxBytes: number): ResponseTooLarge {
  return new ResponseTooLarge(
    `the response is larger than ${describeBytes(maxBytes)}, the most discovery reads`,
  );
}

async function readLimited(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw tooLarge(maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function redirectTarget(location: string | string[] | undefined, url: string): string | undefined {
  if (typeof location !== 'string' || !URL.canParse(location, url)) return undefined;
  const target = new URL(location, url);
  return `${target.origin}${target.pathname}`;
}

/**
 * GETs one candidate document. Only a 200 has a body; other statuses are returned for the caller to
 * judge (404: nothing there; 304: unchanged since `etag`). Redirects are not followed (undici's `request`
 * follows none): a service must not send discovery to another host, and `swaggerUrl` can name the
 * document's own address. Network failures and timeouts throw; so does a body over the size limit
 * (ResponseTooLarge), without reading further.
 */
export async function fetchDocument(
  url: string,
  options: { etag?: string; tls?: TlsOptions; signal?: AbortSignal; limits?: FetchLimits },
): Promise<FetchedDocument> {
  const { timeoutMs, maxBytes } = options.limits ?? DEFAULT_FETCH_LIMITS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const response = await request(url, {
    method: 'GET',
    headers: {
      ...DISCOVERY_HEADER,
      accept: 'application/json, application/yaml, text/yaml, */*;q=0.5',
      ...(options.etag ? { 'if-none-match': options.etag } : {}),
    },
    // Bounds the body too: a service trickling bytes forever resets bodyTimeout with each one.
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    dispatcher: dispatcherFor(options.tls),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  if (response.statusCode !== 200) {
    await response.body.dump();
    const redirectsTo = REDIRECT_STATUSES.has(response.statusCode)
      ? redirectTarget(response.headers.location, url)
      : undefined;
    return { status: response.statusCode, ...(redirectsTo ? { redirectsTo } : {}) };
  }
  if (Number(response.headers['content-length']) > maxBytes) {
    // Closed unread; the abort error this makes has no reader to go to.
    response.body.on('error', () => undefined).destroy();
    throw tooLarge(maxBytes);
  }
  const etag = response.headers.etag;
  return {
    status: 200,
    body: await readLimited(response.body, maxBytes),
    etag: typeof etag === 'string' ? etag : undefined,
  };
}

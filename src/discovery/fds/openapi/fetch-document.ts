import { readFileSync } from 'fs';
import { Agent, request, type Dispatcher } from 'undici';

/** Sent with every probe, so a service's logs tell discovery apart from users. */
export const DISCOVERY_HEADER = { 'x-sluice-discovery': 'openapi' };
const REQUEST_TIMEOUT_MS = 5000;
/** GitHub's description is 13 MB; anything far larger is not a document to route by. */
const MAX_DOCUMENT_BYTES = 64 * 1024 * 1024;

export interface FetchedDocument {
  status: number;
  body?: string;
  etag?: string;
}

export interface TlsOptions {
  servername?: string;
  caFile?: string;
}

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

async function readLimited(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_DOCUMENT_BYTES) {
      body.destroy();
      throw new Error(`the document is larger than ${MAX_DOCUMENT_BYTES / 1024 / 1024} MB`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * GETs one candidate document. Only a 200 has a body; other statuses are returned for the caller to
 * judge (404: nothing there; 304: unchanged since `etag`). Network failures and timeouts throw.
 */
export async function fetchDocument(
  url: string,
  options: { etag?: string; tls?: TlsOptions; signal?: AbortSignal },
): Promise<FetchedDocument> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const response = await request(url, {
    method: 'GET',
    headers: {
      ...DISCOVERY_HEADER,
      accept: 'application/json, application/yaml, text/yaml, */*;q=0.5',
      ...(options.etag ? { 'if-none-match': options.etag } : {}),
    },
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    dispatcher: dispatcherFor(options.tls),
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  if (response.statusCode !== 200) {
    await response.body.dump();
    return { status: response.statusCode };
  }
  const etag = response.headers.etag;
  return {
    status: 200,
    body: await readLimited(response.body),
    etag: typeof etag === 'string' ? etag : undefined,
  };
}

import * as http from 'node:http';
import * as https from 'node:https';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

const EXAMPLES = path.dirname(require.resolve('@readme/oas-examples/package.json'));

/** The text of a published example spec, e.g. `3.0/json/petstore.json`. */
export function oasExample(relativePath: string): string {
  return readFileSync(path.join(EXAMPLES, relativePath), 'utf8');
}

/** A published example spec parsed, for tests that edit one before serving it. */
export function oasExampleJson(relativePath: string): Record<string, unknown> {
  return JSON.parse(oasExample(relativePath)) as Record<string, unknown>;
}

/** The name the TLS certificate is for (as is 127.0.0.1); the certificate is its own CA. */
export const TLS_SERVER_NAME = 'petstore.internal';
/** Self-signed, valid until 2126 (`openssl req -x509 -newkey ec ... -addext subjectAltName=...`). */
export const TLS_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUeW3iufr9vVXDvEq07GmLR/Ua6MkwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRcGV0c3RvcmUuaW50ZXJuYWwwIBcNMjYxMTI3MDQyNDEwWhgP
MjEyNjExMDMwNDI0MTBaMBwxGjAYBgNVBAMMEXBldHN0b3JlLmludGVybmFsMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1Pp2mAz4fihnB2hGmCNjjGJKuN9vp5Ds
AzYGT8aUTqc1OvfeDsv9NgkxFIXd4Q8PGjddE6i63MorTg1FhsLkYqN3MHUwHQYD
VR0OBBYEFCdZzWwuIy+KPpPpv5Cqih8M9v3JMB8GA1UdIwQYMBaAFCdZzWwuIy+K
PpPpv5Cqih8M9v3JMA8GA1UdEwEB/wQFMAMBAf8wIgYDVR0RBBswGYIRcGV0c3Rv
cmUuaW50ZXJuYWyHBH8AAAEwCgYIKoZIzj0EAwIDSAAwRQIhAJXVshT9vsqRUbbq
aMy5nWTJ6J2DXILz27KNaGGLXUBpAiBkTslmni5Dh3IfJ3UnDolrUw0sOcgOrz4y
2E5s+7L8kw==
-----END CERTIFICATE-----
`;
const TLS_PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJAFLlMtUUlw6yWV+
L6H9FPddMi48Zk0DIqr6sM3IiwKhRANCAATU+naYDPh+KGcHaEaYI2OMYkq432+n
kOwDNgZPxpROpzU6994Oy/02CTEUhd3hDw8aN10TqLrcyitODUWGwuRi
-----END PRIVATE KEY-----
`;

export interface ProbeRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Set once answered. */
  status?: number;
}

interface Reply {
  status: number;
  body: string;
  contentType: string;
}

interface Batching {
  size: number;
  remaining: number;
  held: Array<() => void>;
}

/**
 * A loopback HTTP(S) service for OpenAPI discovery tests: serves documents at chosen paths (404
 * elsewhere), records every request with its headers and the peak of requests in flight, and can answer
 * with ETags/304, hold answers back, or answer in batches.
 */
export class OpenApiProbeServer {
  readonly requests: ProbeRequest[] = [];
  /** The most requests received and not yet answered at any one time. */
  maxInFlight = 0;
  /** Bodies started by `trickle` whose client has not gone away. */
  trickling = 0;
  /** Body bytes `oversized` answers handed to the socket. */
  bytesSent = 0;
  private readonly streamed = new Map<string, (res: http.ServerResponse) => void>();
  private readonly server: http.Server | https.Server;
  private readonly replies = new Map<string, Reply>();
  private readonly holds = new Map<string, Promise<void>>();
  private readonly answeredWaiters = new Map<string, Array<() => void>>();
  private batching?: Batching;
  private etags = false;
  private inFlight = 0;

  /** With `tls`, HTTPS with TLS_CERTIFICATE. */
  constructor(options: { tls?: boolean } = {}) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = options.tls
      ? https.createServer({ cert: TLS_CERTIFICATE, key: TLS_PRIVATE_KEY }, handler)
      : http.createServer(handler);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  /** Closes held and idle connections too, so a test never leaves a socket behind. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(pathname: string): string {
    const scheme = this.server instanceof https.Server ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${this.port}${pathname}`;
  }

  /** Serves `body` at `pathname` from now on (replacing what was there); YAML when the path says so. */
  serve(pathname: string, body: string): void {
    const contentType = /\.ya?ml$/.test(pathname) ? 'application/yaml' : 'application/json';
    this.replies.set(pathname, { status: 200, body, contentType });
  }

  /** Answers `pathname` with this status and body (a 500, or a 200 that is not an OpenAPI document). */
  answer(pathname: string, status: number, body = '', contentType = 'text/html'): void {
    this.replies.set(pathname, { status, body, contentType });
  }

  /** `pathname` is 404 from now on. */
  remove(pathname: string): void {
    this.replies.delete(pathname);
  }

  /** Answers `pathname` with a redirect to `location`. */
  redirect(pathname: string, location: string, status = 302): void {
    this.streamed.set(pathname, (res) => res.writeHead(status, { location }).end());
  }

  /** Answers `pathname` 200, then a byte of a JSON document every `intervalMs`, never ending the body. */
  trickle(pathname: string, intervalMs = 20): void {
    this.streamed.set(pathname, (res) => {
      this.trickling += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).write('{');
      const timer = setInterval(() => res.write(' '), intervalMs);
      res.on('close', () => {
        clearInterval(timer);
        this.trickling -= 1;
      });
    });
  }

  /**
   * Answers `pathname` 200 with `bytes` of blanks, as fast as the client reads them; with `announce`, a
   * content-length says how many first. Counts what it hands to the socket in `bytesSent`.
   */
  oversized(pathname: string, bytes: number, { announce = false } = {}): void {
    const chunk = Buffer.alloc(64 * 1024, ' ');
    this.streamed.set(pathname, (res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(announce ? { 'content-length': bytes } : {}),
      });
      let left = bytes;
      const pump = () => {
        while (left > 0 && !res.destroyed) {
          const size = Math.min(chunk.length, left);
          left -= size;
          this.bytesSent += size;
          if (!res.write(chunk.subarray(0, size))) {
            res.once('drain', pump);
            return;
          }
        }
        if (left === 0) res.end();
      };
      pump();
    });
  }

  /** Strong ETags on documents, and 304 to an If-None-Match that matches. */
  useEtags(): void {
    this.etags = true;
  }

  /** Requests for `pathname` are answered only once `until` settles (never, if it never does). */
  hold(pathname: string, until: Promise<void>): void {
    this.holds.set(pathname, until);
  }

  /** Settles when a request for `pathname` has been answered. */
  answered(pathname: string): Promise<void> {
    if (this.requests.some((request) => request.path === pathname && request.status !== undefined)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.answeredWaiters.set(pathname, [...(this.answeredWaiters.get(pathname) ?? []), resolve]);
    });
  }

  /**
   * Holds every answer until `size` requests wait (or all of the `total` still expected do), then answers
   * them together: the peak of requests in flight is then what the client allows, not how fast we are.
   */
  answerInBatches(size: number, total: number): void {
    this.batching = { size, remaining: total, held: [] };
  }

  count(pathname?: string): number {
    return this.requests.filter((request) => pathname === undefined || request.path === pathname).length;
  }

  paths(): string[] {
    return this.requests.map((request) => request.path);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const request: ProbeRequest = { path: pathname, headers: req.headers };
    this.requests.push(request);
    const respond = () => this.respond(req, res, request);
    const hold = this.holds.get(pathname);
    if (hold) void hold.then(respond);
    else if (this.batching) this.holdForBatch(this.batching, respond);
    else respond();
  }

  private holdForBatch(batching: Batching, respond: () => void): void {
    batching.held.push(respond);
    if (batching.held.length < Math.min(batching.size, batching.remaining)) return;
    const batch = batching.held.splice(0);
    batching.remaining -= batch.length;
    // One event-loop turn later, so requests a broken limit would send beyond the batch arrive first.
    setImmediate(() => batch.forEach((answer) => answer()));
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, request: ProbeRequest): void {
    const streamed = this.streamed.get(request.path);
    if (streamed) {
      this.inFlight -= 1;
      streamed(res);
      request.status = res.statusCode;
      return;
    }
    const reply = this.replies.get(request.path) ?? {
      status: 404,
      body: 'Not Found',
      contentType: 'text/plain',
    };
    const etag =
      this.etags && reply.status === 200
        ? `"${createHash('sha1').update(reply.body).digest('hex')}"`
        : undefined;
    this.inFlight -= 1;
    if (etag && req.headers['if-none-match'] === etag) {
      request.status = 304;
      res.writeHead(304, { etag }).end();
    } else {
      request.status = reply.status;
      res
        .writeHead(reply.status, { 'content-type': reply.contentType, ...(etag ? { etag } : {}) })
        .end(reply.body);
    }
    for (const resolve of this.answeredWaiters.get(request.path) ?? []) resolve();
    this.answeredWaiters.delete(request.path);
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

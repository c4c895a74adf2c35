import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export const SPEC_PATH = '/openapi.json';
const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** The parts of an OpenAPI 3 document the tests edit. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { operationId?: string } & Record<string, unknown>>>;
  [key: string]: unknown;
}

/** A fresh copy of the Swagger Petstore (OpenAPI 3.0, 20 operations) from @readme/oas-examples. */
export function petstoreDocument(): OpenApiDocument {
  return JSON.parse(
    fs.readFileSync(require.resolve('@readme/oas-examples/3.0/json/petstore.json'), 'utf8'),
  ) as OpenApiDocument;
}

/** `METHOD PREFIX/path operationId` for every operation of a document: what a functions route makes of it. */
export function operationKeys(document: OpenApiDocument, prefix: string): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.has(method))
        .map(([method, operation]) => `${method.toUpperCase()} ${prefix}${path} ${operation.operationId}`),
    )
    .sort();
}

/** An Envoy route in config-dump (proto3 JSON) form, as far as the tests read it. */
export interface RouteJson {
  name?: string;
  match: {
    path?: string;
    pathMatchPolicy?: { typedConfig: { pathTemplate: string } };
    headers?: Array<{ name: string; stringMatch?: { exact?: string } }>;
  };
}

/** `METHOD path name` for every route, sorted, to compare with operationKeys. */
export function routeKeys(routes: RouteJson[]): string[] {
  return routes
    .map((route) => {
      const method = route.match.headers?.find((header) => header.name === ':method')?.stringMatch?.exact;
      const path = route.match.path ?? route.match.pathMatchPolicy?.typedConfig.pathTemplate;
      return `${method} ${path} ${route.name}`;
    })
    .sort();
}

/**
 * A loopback service that publishes one OpenAPI document at /openapi.json (with an ETag, answering 304
 * to a matching If-None-Match, as real servers do) and 404 elsewhere. `serve` swaps the document.
 */
export class SpecServer {
  private body = '';
  private etag = '';
  /** Requests for the document so far (answered 200 or 304). */
  documentRequests = 0;
  private readonly server = http.createServer((request, response) => {
    if (request.url !== SPEC_PATH) {
      response.writeHead(404).end();
      return;
    }
    this.documentRequests++;
    if (request.headers['if-none-match'] === this.etag) {
      response.writeHead(304, { etag: this.etag }).end();
    } else {
      response.writeHead(200, { 'content-type': 'application/json', etag: this.etag }).end(this.body);
    }
  });

  constructor(document: OpenApiDocument) {
    this.serve(document);
  }

  serve(document: OpenApiDocument): void {
    this.body = JSON.stringify(document);
    this.etag = `"${createHash('sha256').update(this.body).digest('hex').slice(0, 16)}"`;
  }

  /** Listens on 127.0.0.1 and an ephemeral port, which it returns. */
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A copy of `document` with one more operation (a minimal one: a 200 response, no parameters). */
export function withOperation(
  document: OpenApiDocument,
  method: string,
  path: string,
  operationId: string,
): OpenApiDocument {
  const copy = structuredClone(document);
  copy.paths[path] = {
    ...copy.paths[path],
    [method]: { operationId, responses: { '200': { description: 'OK' } } },
  };
  return copy;
}

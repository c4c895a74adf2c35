import { createHash } from 'crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import { parse as parseYaml } from 'yaml';
import { nameKey } from '../../../api/snapshot';
import { activeSettings } from '../../../api/settings';
import type { KubeUpstreamSpec, RestFunctionSpec, StaticUpstreamSpec, Upstream } from '../../../api/types';
import { OPENAPI_DISCOVERER } from '../../../translator/plugins/rest/functions';
import { Sema, withPermit } from '../limit';
import { DISCOVERY_LABEL, type DiscoveryContext, type FunctionDiscoverer } from '../discoverer';
import {
  DEFAULT_FETCH_LIMITS,
  fetchDocument,
  ResponseTooLarge,
  type FetchLimits,
  type TlsOptions,
} from './fetch-document';
import { operationsOf, type ApiDocument } from './operations';

/** Where services usually publish their OpenAPI document; Settings discovery.openApiPaths replaces it. */
export const DEFAULT_OPENAPI_PATHS: readonly string[] = [
  '/openapi.json',
  '/openapi.yaml',
  '/swagger.json',
  '/swagger.yaml',
  '/swagger/docs/v1',
  '/swagger/docs/v2',
  '/v1/swagger',
  '/v2/swagger',
  '/v2/api-docs',
  '/v3/api-docs',
  '/api-docs',
  '/swagger/v1/swagger.json',
];
/** After no path had a document, the upstream is left alone this long (or until its spec changes). */
const NOT_FOUND_MEMORY_MS = 10 * 60 * 1000;
const MAX_CONCURRENT_REQUESTS = 8;
/** A quarter of the shared requests: it takes four slow upstreams to hold them all. */
const MAX_REQUESTS_PER_UPSTREAM = 2;

export interface OpenApiDiscoveryOptions extends Partial<FetchLimits> {
  /** Probe requests in flight at once, over all upstreams (default 8). */
  maxConcurrentRequests?: number;
  /**
   * Requests one upstream may have in flight or waiting for a turn (default 2): an upstream that answers
   * slowly, or never finishes its body, holds at most this many of the shared ones until the timeout.
   */
  maxRequestsPerUpstream?: number;
}

interface Service {
  baseUrl: string;
  tls?: TlsOptions;
}

interface Found {
  url: string;
  tls?: TlsOptions;
  etag?: string;
  contentHash?: string;
  functions?: RestFunctionSpec[];
}

/** What was learnt about one upstream, valid while its spec, labels and the probe paths stay the same. */
interface Memory {
  key: string;
  found?: Found;
  notFound?: { until: number; message: string };
}

function serviceOf(upstream: Upstream): Service {
  const spec = upstream.spec ?? {};
  if (spec.static) {
    const { hosts, useTls, sni, caFile } = spec.static as StaticUpstreamSpec;
    const host = hosts[0];
    const address = host.address.includes(':') ? `[${host.address}]` : host.address;
    return {
      baseUrl: `${useTls ? 'https' : 'http'}://${address}:${host.port}`,
      tls: useTls ? { servername: sni || undefined, caFile: caFile || undefined } : undefined,
    };
  }
  const kube = spec.kube as KubeUpstreamSpec;
  const namespace = kube.serviceNamespace || upstream.metadata.namespace;
  return { baseUrl: `http://${kube.serviceName}.${namespace}.svc.cluster.local:${kube.servicePort}` };
}

function swaggerUrlOf(upstream: Upstream): string | undefined {
  return (upstream.spec?.static ?? upstream.spec?.kube)?.serviceSpec?.rest?.swaggerUrl || undefined;
}

function candidateUrls(upstream: Upstream, service: Service, paths: readonly string[]): string[] {
  const swaggerUrl = swaggerUrlOf(upstream);
  if (swaggerUrl) return [new URL(swaggerUrl, service.baseUrl).toString()];
  return paths.map((path) => new URL(path, service.baseUrl).toString());
}

/** The upstream's TLS settings (SNI, CA) apply to the upstream itself, not to a document hosted elsewhere. */
function tlsFor(urls: readonly string[], service: Service): TlsOptions | undefined {
  return urls.every((url) => new URL(url).origin === new URL(service.baseUrl).origin)
    ? service.tls
    : undefined;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A JSON or YAML body that declares itself Swagger 2.0 or OpenAPI 3.x, else undefined (an HTML page, say). */
function asApiDocument(body: string): ApiDocument | undefined {
  let parsed: unknown;
  try {
    const text = body.replace(/^\uFEFF/, '');
    parsed = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYaml(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const document = parsed as ApiDocument;
  return typeof document.swagger === 'string' || typeof document.openapi === 'string' ? document : undefined;
}

/** Dereferences with swagger-parser (no external references: a document may not make us read files). */
async function functionsOf(document: ApiDocument, url: string): Promise<RestFunctionSpec[]> {
  let dereferenced: ApiDocument;
  try {
    dereferenced = (await SwaggerParser.dereference(document as never, {
      resolve: { external: false },
    })) as ApiDocument;
  } catch (error) {
    throw new Error(`the OpenAPI document at ${url} is invalid: ${(error as Error).message}`);
  }
  return operationsOf(dereferenced, url);
}

/**
 * The ETag is remembered only with the functions parsed from its body: an invalid document must not be
 * answered 304 next time and pass for the last valid one.
 */
async function parseFound(
  found: Found,
  body: string,
  etag: string | undefined,
  document = asApiDocument(body),
): Promise<RestFunctionSpec[]> {
  if (!document) throw new Error(`${found.url} no longer serves an OpenAPI document`);
  const functions = await functionsOf(document, found.url);
  found.contentHash = sha256(body);
  found.etag = etag;
  found.functions = functions;
  return functions;
}

type ProbeResult =
  | { found: Found; body: string; document: ApiDocument; etag?: string }
  /** Reached, no document; `note` says why when it is not a plain miss (a redirect, an oversized body). */
  | { missing: true; note?: string }
  | { failure: string };

/** Upstream namespace/name -> what discovery learnt about it. */
type Memories = Map<string, Memory>;

/** Forgets upstreams that are gone, so the memory lasts only as long as they do. */
function forgetDeleted(memories: Memories, snapshot: DiscoveryContext['snapshot']): void {
  for (const id of memories.keys()) if (!snapshot.upstreams.has(id)) memories.delete(id);
}

/** One discoverer's limits, shared permits and memory of upstreams. */
class OpenApiDiscovery {
  private readonly limits: FetchLimits;
  private readonly permits: Sema;
  private readonly perUpstream: number;
  private readonly memories: Memories = new Map();

  constructor(options: OpenApiDiscoveryOptions) {
    this.limits = {
      timeoutMs: options.timeoutMs ?? DEFAULT_FETCH_LIMITS.timeoutMs,
      maxBytes: options.maxBytes ?? DEFAULT_FETCH_LIMITS.maxBytes,
    };
    this.permits = new Sema(options.maxConcurrentRequests ?? MAX_CONCURRENT_REQUESTS);
    this.perUpstream = options.maxRequestsPerUpstream ?? MAX_REQUESTS_PER_UPSTREAM;
  }

  /** Runs `work` with one of the upstream's permits, then one of everyone's: no upstream holds them all. */
  private withPermits<T>(upstreamPermits: Sema, work: () => Promise<T>): Promise<T> {
    return withPermit(upstreamPermits, () => withPermit(this.permits, work));
  }

  /** Re-reads a known document: unchanged content (ETag or hash) keeps the functions without parsing. */
  private async refresh(
    found: Found,
    upstreamPermits: Sema,
    signal?: AbortSignal,
  ): Promise<RestFunctionSpec[] | undefined> {
    const response = await this.withPermits(upstreamPermits, () =>
      fetchDocument(found.url, { etag: found.etag, tls: found.tls, signal, limits: this.limits }),
    );
    // A failing service has not lost its document: keep the functions rather than probe and forget them.
    if (response.status >= 500) throw new Error(`${found.url}: HTTP ${response.status}`);
    if (response.status === 304 && found.functions) return found.functions;
    if (response.status !== 200 || response.body === undefined) return undefined;
    if (found.functions && sha256(response.body) === found.contentHash) {
      found.etag = response.etag;
      return found.functions;
    }
    return parseFound(found, response.body, response.etag);
  }

  private probe(
    url: string,
    tls: TlsOptions | undefined,
    upstreamPermits: Sema,
    signal: AbortSignal,
  ): Promise<ProbeResult> {
    return this.withPermits(upstreamPermits, async () => {
      // Cancelled while waiting for a turn: an earlier path served a document, or discovery stopped.
      if (signal.aborted) return { missing: true };
      try {
        const response = await fetchDocument(url, { tls, signal, limits: this.limits });
        if (response.status >= 500) return { failure: `${url}: HTTP ${response.status}` };
        if (response.redirectsTo) {
          return {
            missing: true,
            note: `it redirects to ${response.redirectsTo}, and discovery does not follow redirects`,
          };
        }
        const document =
          response.status === 200 && response.body !== undefined && asApiDocument(response.body);
        if (!document) return { missing: true };
        return { found: { url, tls }, body: response.body as string, document, etag: response.etag };
      } catch (error) {
        if (error instanceof ResponseTooLarge) return { missing: true, note: error.message };
        return { failure: `${url}: ${(error as Error).message}` };
      }
    });
  }

  /**
   * Tries the candidate URLs (bounded concurrency, in parallel) and takes the first one, in list order,
   * that serves an OpenAPI document. Throws when the service could not be reached or answered only server
   * errors; otherwise, without a document, says why in `notes` when a path had more to say than a miss.
   */
  private async probeAll(
    urls: string[],
    tls: TlsOptions | undefined,
    upstreamPermits: Sema,
    signal?: AbortSignal,
  ): Promise<Extract<ProbeResult, { found: Found }> | { notes: Array<{ url: string; note: string }> }> {
    const controller = new AbortController();
    const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
    const results = urls.map((url) => this.probe(url, tls, upstreamPermits, combined));
    const failures: string[] = [];
    const notes: Array<{ url: string; note: string }> = [];
    try {
      for (const [index, pending] of results.entries()) {
        const result = await pending;
        if ('found' in result) return result;
        if ('failure' in result) failures.push(result.failure);
        else if (result.note) notes.push({ url: urls[index], note: result.note });
      }
    } finally {
      controller.abort();
    }
    if (failures.length === urls.length) throw new Error(`cannot reach the service: ${failures[0]}`);
    // Paths skipped because discovery stopped say nothing: nothing is to be remembered.
    signal?.throwIfAborted();
    return { notes };
  }

  async discover(upstream: Upstream, ctx: DiscoveryContext): Promise<RestFunctionSpec[]> {
    forgetDeleted(this.memories, ctx.snapshot);
    const id = nameKey(upstream.metadata.namespace, upstream.metadata.name);
    const paths = activeSettings(ctx.snapshot).discovery?.openApiPaths ?? DEFAULT_OPENAPI_PATHS;
    const key = JSON.stringify([upstream.spec, upstream.metadata.labels, paths]);
    let memory = this.memories.get(id);
    if (memory?.key !== key) {
      memory = { key };
      this.memories.set(id, memory);
    }
    const explicit =
      upstream.metadata.labels?.[DISCOVERY_LABEL] === 'enabled' || swaggerUrlOf(upstream) !== undefined;
    const notFound = (): RestFunctionSpec[] => {
      if (explicit && memory?.notFound) throw new Error(memory.notFound.message);
      return [];
    };
    if (memory.notFound && memory.notFound.until > Date.now()) return notFound();
    const upstreamPermits = new Sema(this.perUpstream);
    if (memory.found) {
      const functions = await this.refresh(memory.found, upstreamPermits, ctx.signal);
      if (functions) return functions;
      memory.found = undefined;
    }
    const service = serviceOf(upstream);
    const urls = candidateUrls(upstream, service, paths);
    const result = await this.probeAll(urls, tlsFor(urls, service), upstreamPermits, ctx.signal);
    if (!('found' in result)) {
      const where = urls.length === 1 ? urls[0] : `any of ${urls.length} probed paths of ${service.baseUrl}`;
      const why = result.notes
        .map(({ url, note }) => (urls.length === 1 ? `: ${note}` : `; ${url}: ${note}`))
        .join('');
      memory.notFound = {
        until: Date.now() + NOT_FOUND_MEMORY_MS,
        message: `no OpenAPI document at ${where}${why} (probing again in ${NOT_FOUND_MEMORY_MS / 60000} min or when the upstream changes)`,
      };
      return notFound();
    }
    memory.notFound = undefined;
    memory.found = result.found;
    ctx.logger.info({ upstream: id, url: result.found.url }, 'found an OpenAPI document');
    return parseFound(result.found, result.body, result.etag, result.document);
  }
}

/**
 * OpenAPI discovery for service upstreams (static, kube): finds the service's OpenAPI or Swagger document
 * (serviceSpec.rest.swaggerUrl, else the first of the probe paths that serves one) and turns each
 * operation into a REST function. A service without a document is remembered, not re-probed every poll;
 * a known document is re-read each poll and re-parsed only when its content changed. `options` bound
 * what a service may cost (time, bytes, requests); tests make them small.
 */
export function createOpenApiDiscoverer(options: OpenApiDiscoveryOptions = {}): FunctionDiscoverer {
  const discovery = new OpenApiDiscovery(options);
  return {
    name: OPENAPI_DISCOVERER,
    upstreamTypes: ['static', 'kube'],
    pollIntervalKey: 'openapi',
    cloud: false,
    requested: (upstream) => swaggerUrlOf(upstream) !== undefined,
    defaultPollIntervalMs: 30_000,
    accepts: (upstream) => !(upstream.spec?.static ?? upstream.spec?.kube)?.http2,
    discover: async (upstream, ctx) => ({
      functions: (await discovery.discover(upstream, ctx)) as unknown as Array<Record<string, unknown>>,
    }),
  };
}

export const openApiDiscoverer = createOpenApiDiscoverer();

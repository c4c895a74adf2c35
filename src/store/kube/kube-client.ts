import * as http from 'http';
import * as https from 'https';
import type { KubeConfig } from '@kubernetes/client-node';
import { qualifiedName, resourcePath, type ResourceType } from './resource-types';

/**
 * A small JSON client for the Kubernetes REST API, generic over resource types. Authentication, TLS
 * and the cluster address come from @kubernetes/client-node's KubeConfig (kubeconfig files, in-cluster
 * service account with token refresh, exec and OIDC plugins); the requests themselves are made here,
 * with Node's http(s) and one keep-alive agent, because the CommonJS line of client-node (0.22) speaks
 * HTTP through the deprecated `request` package and its watch gives no way to stop a silent connection
 * other than a fixed 30 s socket timeout. Objects are plain wire JSON (timestamps are strings).
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface KubeList<T extends KubeObject> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T extends KubeObject> {
  type: WatchEventType;
  /** For ERROR: a Status (`code`, `reason`, `message`) instead of an object. */
  object: T;
}

export interface WatchHandle {
  stop(): void;
}

/** An answer other than 2xx, with the code and reason of the Status the server sent. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isApiError(error: unknown, code: number): error is KubeApiError {
  return error instanceof KubeApiError && error.code === code;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  /** e.g. `type=kubernetes.io/tls`: the fields each type supports are few (see the API reference). */
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  /** The server ends the watch after this long; the client gives up on a silent one 30 s later. */
  timeoutSeconds: number;
}

export interface KubeClientOptions {
  /** A request that has not answered by then fails (watches excepted). Default 30 s. */
  requestTimeoutMs?: number;
}

type Query = Record<string, string | number | boolean | undefined>;

/**
 * The kubeconfig `file`, else client-node's default chain: $KUBECONFIG, ~/.kube/config, then the
 * in-cluster service account (what a Sluice pod uses).
 */
export async function loadKubeConfig(file?: string): Promise<KubeConfig> {
  // Loaded when asked for: client-node takes ~0.2 s to load, which commands without --kube should not pay.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const config = new KubeConfig();
  if (file) config.loadFromFile(file);
  else config.loadFromDefault();
  return config;
}

const SILENT_WATCH_GRACE_SECONDS = 30;

export class KubeClient {
  private readonly server: string;
  private readonly agent: http.Agent;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly config: KubeConfig,
    options: KubeClientOptions = {},
  ) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
    const secure = new URL(this.server).protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** The API server's address, for messages. */
  get serverUrl(): string {
    return this.server;
  }

  list<T extends KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<KubeList<T>> {
    const { namespace, ...query } = options;
    return this.json('GET', resourcePath(type, namespace), query);
  }

  get<T extends KubeObject>(type: ResourceType, namespace: string, name: string): Promise<T> {
    return this.json('GET', resourcePath(type, namespace, name));
  }

  /** Like `get`, but `undefined` when the object does not exist. */
  async find<T extends KubeObject>(
    type: ResourceType,
    namespace: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(type, namespace, name);
    } catch (error) {
      if (isApiError(error, 404)) return undefined;
      throw error;
    }
  }

  create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.json('POST', resourcePath(type, object.metadata.namespace), {}, object);
  }

  /** PUT: conditional on `object.metadata.resourceVersion` when it is set (409 Conflict otherwise). */
  replace<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.json('PUT', this.objectPath(type, object), {}, object);
  }

  /** PUT of the status subresource: only `status` changes; conditional like `replace`. */
  replaceStatus<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.json('PUT', this.objectPath(type, object, 'status'), {}, object);
  }

  /** DELETE, only if the object is still at `resourceVersion` when one is given (409 otherwise). */
  async delete(type: ResourceType, namespace: string, name: string, resourceVersion?: string): Promise<void> {
    const options = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(resourceVersion ? { preconditions: { resourceVersion } } : {}),
    };
    await this.json('DELETE', resourcePath(type, namespace, name), {}, options);
  }

  /**
   * Streams a watch from `resourceVersion` (with bookmarks). `onEnd` is called once when the watch
   * ends by itself: without an argument when the server closed it, with the error otherwise (a
   * KubeApiError for a refused watch). Never called after `stop()`.
   */
  watch<T extends KubeObject>(
    type: ResourceType,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onEnd: (error?: Error) => void,
  ): WatchHandle {
    const { namespace, ...query } = options;
    let request: http.ClientRequest | undefined;
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      request?.destroy();
      onEnd(error);
    };
    void this.open('GET', resourcePath(type, namespace), { ...query, watch: true, allowWatchBookmarks: true })
      .then(({ request: opened, response }) => {
        request = opened;
        if (ended) return opened.destroy();
        opened.setTimeout((options.timeoutSeconds + SILENT_WATCH_GRACE_SECONDS) * 1000, () =>
          end(new Error(`the watch of ${qualifiedName(type)} went silent`)),
        );
        if (response.statusCode !== 200) {
          return void readAll(response).then((text) => end(apiError(response, text)), end);
        }
        response.setEncoding('utf8');
        let buffered = '';
        response.on('data', (chunk: string) => {
          buffered += chunk;
          let newline: number;
          while (!ended && (newline = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, newline).trim();
            buffered = buffered.slice(newline + 1);
            if (!line) continue;
            let event: WatchEvent<T>;
            try {
              event = JSON.parse(line) as WatchEvent<T>;
            } catch {
              return end(new Error(`the watch of ${qualifiedName(type)} sent something that is not JSON`));
            }
            onEvent(event);
          }
        });
        response.on('end', () => end());
        response.on('error', end);
        // After 'end' this does nothing; before it, the connection was cut mid-stream.
        response.on('close', () => end(new Error(`the watch of ${qualifiedName(type)} was cut`)));
      })
      .catch(end);
    return {
      stop: () => {
        ended = true;
        request?.destroy();
      },
    };
  }

  /** Closes idle keep-alive connections (open watches are stopped by their handles). */
  close(): void {
    this.agent.destroy();
  }

  private objectPath(type: ResourceType, object: KubeObject, subresource?: 'status'): string {
    return resourcePath(type, object.metadata.namespace, object.metadata.name, subresource);
  }

  private async json<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    const { response } = await this.open(method, path, query, body, this.requestTimeoutMs);
    const text = await readAll(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw apiError(response, text);
    return JSON.parse(text) as T;
  }

  private async open(
    method: string,
    path: string,
    query: Query,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<{ request: http.ClientRequest; response: http.IncomingMessage }> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: https.RequestOptions = {
      method,
      agent: this.agent,
      headers: {
        accept: 'application/json',
        ...(payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
      },
    };
    await this.config.applyToHTTPSOptions(options);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(url, options, (response) => resolve({ request, response }));
      request.on('error', reject);
      if (timeoutMs) {
        request.setTimeout(timeoutMs, () =>
          request.destroy(
            new Error(`${method} ${url.pathname}: no answer from ${this.server} in ${timeoutMs} ms`),
          ),
        );
      }
      request.end(payload);
    });
  }
}

function readAll(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
    response.on('close', () => reject(new Error('the connection was cut')));
  });
}

function apiError(response: http.IncomingMessage, text: string): KubeApiError {
  const code = response.statusCode ?? 0;
  try {
    const status = JSON.parse(text) as { reason?: string; message?: string };
    return new KubeApiError(
      code,
      status.reason ?? '',
      `${code} ${status.reason ?? ''}: ${status.message ?? text}`,
    );
  } catch {
    return new KubeApiError(code, '', `${code} ${response.statusMessage ?? ''}: ${text.slice(0, 200)}`);
  }
}

import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/store/kube/kube-client';

export type { KubeObject };

/**
 * A loopback Kubernetes API server for tests: the part of the REST API that Sluice's Kubernetes store
 * (and later Service discovery and leader election) uses, with the semantics of the real one:
 * - resources: the sluice.dev/v1 CRDs (upstreams, virtualservices, routetables, gateways, settings, each
 *   with a status subresource and metadata.generation), core v1 secrets, services and pods,
 *   discovery.k8s.io/v1 endpointslices, coordination.k8s.io/v1 leases and apps/v1 deployments; namespaced and
 *   all-namespaces paths; core v1 namespaces (cluster-scoped: list and watch only, written through
 *   `put`); discovery documents (`/api/v1`, `/apis/GROUP/VERSION`);
 * - list (labelSelector, fieldSelector, limit + continue served from a snapshot), watch (`?watch=true`, from a
 *   resourceVersion, ADDED/MODIFIED/DELETED and BOOKMARK events as newline-delimited JSON, objects
 *   entering or leaving a label selector seen as ADDED/DELETED), get, create, update (PUT), JSON merge
 *   patch, delete (with preconditions), and PUT/PATCH of `/status`, which change only the status;
 * - one global resourceVersion counter; 409 Conflict on a stale metadata.resourceVersion, 409
 *   AlreadyExists, 404 NotFound, all as `Status` objects; a write that changes nothing is a no-op (no
 *   new resourceVersion, no event);
 * - a bearer token required on every request: the default one, or a user's own (`kubeConfig(user)`),
 *   so that requests say which client sent them.
 *
 * Test controls: `put`/`remove`/`object` act as another client would (through the same code, with
 * events); `compact` makes older resourceVersions "too old" (410 Gone for a watch or a continue token
 * from before it, as an ERROR event or as HTTP 410, see `expiredWatchAs`); `pauseWatches` holds events
 * back from open watches, `expireWatches` ends them with a 410 ERROR event, `endWatches` ends them
 * cleanly, `dropWatches` cuts them, `sendBookmarks` sends a BOOKMARK; `failNext` injects an error
 * and `beforeNext` runs a function right before a matching request is handled; `requests` records
 * every request.
 */

export type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch' | 'delete';

interface ServedType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** PUT/PATCH of the object ignore `status`; `/status` changes only it. */
  statusSubresource: boolean;
  /** metadata.generation counts changes of everything but metadata and status. */
  generation: boolean;
  /** Objects without a namespace (kept under the namespace `''`). */
  clusterScoped?: boolean;
}

const sluiceType = (kind: string, plural: string): ServedType => ({
  group: 'sluice.dev',
  version: 'v1',
  plural,
  kind,
  statusSubresource: true,
  generation: true,
});

const SERVED_TYPES: readonly ServedType[] = [
  sluiceType('Upstream', 'upstreams'),
  sluiceType('VirtualService', 'virtualservices'),
  sluiceType('RouteTable', 'routetables'),
  sluiceType('Gateway', 'gateways'),
  sluiceType('Settings', 'settings'),
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    kind: 'Secret',
    statusSubresource: false,
    generation: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    statusSubresource: true,
    generation: false,
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    statusSubresource: false,
    generation: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    kind: 'Pod',
    statusSubresource: true,
    generation: false,
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    kind: 'Lease',
    statusSubresource: false,
    generation: false,
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    kind: 'Deployment',
    statusSubresource: true,
    generation: true,
  },
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    statusSubresource: false,
    generation: false,
    clusterScoped: true,
  },
];

const apiVersionOf = (type: ServedType): string =>
  type.group ? `${type.group}/${type.version}` : type.version;

export interface RecordedRequest {
  method: string;
  verb: Verb | 'discovery' | 'unknown';
  /** The resource's plural, e.g. `upstreams`. */
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  query: Record<string, string>;
  /** The answer's HTTP status (a watch: the status it started with). */
  code?: number;
  /** Who sent it: the user of `kubeConfig(user)`; absent for the default token. */
  user?: string;
}

/** Which requests a fault or hook applies to; absent fields match anything. */
export interface RequestMatch {
  verb?: Verb;
  resource?: string;
  namespace?: string;
  name?: string;
  /** `status` for the status subresource; `''` for the object itself. */
  subresource?: string;
}

export interface InjectedError {
  code: number;
  reason?: string;
  message?: string;
}

interface Rule {
  match: RequestMatch;
  remaining: number;
  error?: InjectedError;
  hook?: () => void;
}

interface ParsedPath {
  type: ServedType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface StoredEvent {
  rv: number;
  type: ServedType;
  eventType: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  previous?: KubeObject;
}

interface OpenWatch {
  type: ServedType;
  namespace?: string;
  selector: LabelSelector;
  bookmarks: boolean;
  response: http.ServerResponse;
  held: string[];
}

interface ListSnapshot {
  rv: number;
  items: KubeObject[];
}

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export class KubeApiServer {
  readonly token = randomBytes(16).toString('hex');
  readonly requests: RecordedRequest[] = [];
  /** Users by token, besides the default token's. */
  private readonly users = new Map<string, string>();
  /** How a watch from a compacted resourceVersion is refused: an ERROR event (as the real one does) or a 410. */
  expiredWatchAs: 'event' | 'http' = 'event';
  private readonly objects = new Map<ServedType, Map<string, KubeObject>>(
    SERVED_TYPES.map((type) => [type, new Map()]),
  );
  private readonly history: StoredEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly snapshots = new Map<string, ListSnapshot>();
  private readonly rules: Rule[] = [];
  private rv = 0;
  private compactedRv = 0;
  private paused = false;
  private server: http.Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    const server = http.createServer((request, response) => void this.handle(request, response));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.response.destroy();
    this.watches.clear();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The latest resourceVersion the server handed out. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** A kubeconfig for this server; with `user`, a token of that user's own, whose requests say so. */
  kubeConfig(user?: string): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'loopback', server: this.url, skipTLSVerify: false }],
      users: [{ name: 'sluice', token: user === undefined ? this.token : this.tokenOf(user) }],
      contexts: [{ name: 'loopback', cluster: 'loopback', user: 'sluice' }],
      currentContext: 'loopback',
    });
    return config;
  }

  /** Writes a kubeconfig file for this server (what `--kubeconfig FILE` reads). */
  writeKubeconfig(file: string, user?: string): string {
    fs.writeFileSync(file, this.kubeConfig(user).exportConfig());
    return file;
  }

  private tokenOf(user: string): string {
    for (const [token, name] of this.users) if (name === user) return token;
    const token = randomBytes(16).toString('hex');
    this.users.set(token, user);
    return token;
  }

  // ---------------------------------------------------------------------------------------------
  // Test controls

  /**
   * Creates or replaces an object as another client would (unconditionally); returns the stored copy.
   * The namespace of a cluster-scoped object (a Namespace) is `''` in the other test controls.
   */
  put(object: KubeObject): KubeObject {
    const type = this.typeOfObject(object);
    const namespace = namespaceOf(type, object);
    const existing = this.objects.get(type)!.get(`${namespace}/${object.metadata.name}`);
    const withoutVersion = {
      ...object,
      metadata: { ...object.metadata, namespace: namespace || undefined, resourceVersion: undefined },
    };
    return structuredClone(
      existing ? this.update(type, withoutVersion, false) : this.create(type, namespace, withoutVersion),
    );
  }

  /** Sets an object's status as a controller would. */
  putStatus(resource: string, namespace: string, name: string, status: unknown): KubeObject {
    const type = this.typeOfPlural(resource);
    const current = this.mustGet(type, namespace, name);
    return structuredClone(
      this.update(type, { ...current, status, metadata: { ...current.metadata } }, true),
    );
  }

  remove(resource: string, namespace: string, name: string): void {
    this.delete(this.typeOfPlural(resource), namespace, name);
  }

  object(resource: string, namespace: string, name: string): KubeObject | undefined {
    const found = this.objects.get(this.typeOfPlural(resource))!.get(`${namespace}/${name}`);
    return found && structuredClone(found);
  }

  list(resource: string): KubeObject[] {
    return [...this.objects.get(this.typeOfPlural(resource))!.values()].map((object) =>
      structuredClone(object),
    );
  }

  /** From now on, watches and continue tokens from before the current resourceVersion get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    for (const [token, snapshot] of this.snapshots) {
      if (snapshot.rv < this.compactedRv) this.snapshots.delete(token);
    }
  }

  /** Open watches stop receiving events (they queue up) until `resumeWatches` or `expireWatches`. */
  pauseWatches(): void {
    this.paused = true;
  }

  resumeWatches(): void {
    this.paused = false;
    for (const watch of this.watches) {
      for (const line of watch.held.splice(0)) watch.response.write(line);
    }
  }

  /** Ends every open watch with an ERROR event carrying a 410 Expired Status (held events are dropped). */
  expireWatches(): number {
    const count = this.watches.size;
    this.paused = false;
    for (const watch of [...this.watches]) {
      watch.held.length = 0;
      watch.response.end(eventLine('ERROR', expiredStatus(this.compactedRv)));
      this.watches.delete(watch);
    }
    return count;
  }

  /** Ends every open watch cleanly, after what was sent (as the server does when `timeoutSeconds` is up). */
  endWatches(): number {
    const count = this.watches.size;
    this.paused = false;
    for (const watch of [...this.watches]) {
      watch.response.end(watch.held.splice(0).join(''));
      this.watches.delete(watch);
    }
    return count;
  }

  /** Cuts every open watch connection (as a network failure or an API server restart would). */
  dropWatches(): number {
    const count = this.watches.size;
    for (const watch of [...this.watches]) watch.response.destroy();
    this.watches.clear();
    return count;
  }

  /** Sends a BOOKMARK at the current resourceVersion to every open watch that allowed bookmarks. */
  sendBookmarks(): number {
    let sent = 0;
    for (const watch of this.watches) {
      if (!watch.bookmarks) continue;
      const bookmark = {
        apiVersion: apiVersionOf(watch.type),
        kind: watch.type.kind,
        metadata: { resourceVersion: String(this.rv) },
      };
      this.deliver(watch, eventLine('BOOKMARK', bookmark));
      sent++;
    }
    return sent;
  }

  /** Open watches, optionally only those of one resource. */
  openWatches(resource?: string): number {
    return [...this.watches].filter((watch) => !resource || watch.type.plural === resource).length;
  }

  /** The next `times` requests matching `match` fail with `error` (a Status with that code and reason). */
  failNext(match: RequestMatch, error: InjectedError, times = 1): void {
    this.rules.push({ match, remaining: times, error });
  }

  /** Runs `hook` right before the next request matching `match` is handled (e.g. a concurrent edit). */
  beforeNext(match: RequestMatch, hook: () => void): void {
    this.rules.push({ match, remaining: 1, hook });
  }

  /** Recorded requests matching `match`. */
  requestsMatching(match: RequestMatch): RecordedRequest[] {
    return this.requests.filter((request) => matches(match, request));
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    const query = Object.fromEntries(url.searchParams);
    const record: RecordedRequest = { method: request.method ?? 'GET', verb: 'unknown', query };
    this.requests.push(record);
    try {
      const body = await readBody(request);
      const token = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      if (token !== this.token && !this.users.has(token)) {
        throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      }
      record.user = this.users.get(token);
      const discovery = this.discoveryDocument(url.pathname);
      if (discovery && record.method === 'GET') {
        record.verb = 'discovery';
        return sendJson(response, 200, discovery, record);
      }
      const parsed = this.parsePath(url.pathname);
      const verb = verbOf(record.method, parsed, query);
      Object.assign(record, {
        verb,
        resource: parsed.type.plural,
        namespace: parsed.namespace,
        name: parsed.name,
        subresource: parsed.subresource,
      });
      this.applyRules(record);
      if (verb === 'watch') return this.watch(parsed, query, response, record);
      const [code, result] = this.serve(verb, parsed, query, body);
      sendJson(response, code, result, record);
    } catch (error) {
      const apiError =
        error instanceof ApiError ? error : new ApiError(500, 'InternalError', (error as Error).message);
      sendJson(response, apiError.code, statusObject(apiError), record);
    }
  }

  private applyRules(record: RecordedRequest): void {
    for (const rule of [...this.rules]) {
      if (!matches(rule.match, record)) continue;
      if (--rule.remaining === 0) this.rules.splice(this.rules.indexOf(rule), 1);
      rule.hook?.();
      if (rule.error) {
        const { code, reason = 'InternalError', message = `injected ${code}` } = rule.error;
        throw new ApiError(code, reason, message);
      }
    }
  }

  private serve(
    verb: Verb,
    { type, namespace, name, subresource }: ParsedPath,
    query: Record<string, string>,
    body: unknown,
  ): [number, unknown] {
    const status = subresource === 'status';
    if (subresource && !(status && type.statusSubresource)) {
      throw new ApiError(404, 'NotFound', `the server could not find the requested resource`);
    }
    if (verb === 'list') return [200, this.listPage(type, namespace, query)];
    if (type.clusterScoped)
      throw new ApiError(405, 'MethodNotAllowed', `${type.plural}: list and watch only`);
    if (!namespace) throw new ApiError(405, 'MethodNotAllowed', `${verb} needs a namespace`);
    if (verb === 'create') {
      const object = asObject(body);
      if (object.metadata.namespace && object.metadata.namespace !== namespace) {
        throw new ApiError(
          400,
          'BadRequest',
          'the namespace of the object does not match the namespace on the request',
        );
      }
      return [201, this.create(type, namespace, object)];
    }
    if (!name) throw new ApiError(405, 'MethodNotAllowed', `${verb} needs a name`);
    if (verb === 'get') return [200, this.mustGet(type, namespace, name)];
    if (verb === 'delete') {
      const preconditions = (body as { preconditions?: { resourceVersion?: string } } | undefined)
        ?.preconditions;
      const current = this.mustGet(type, namespace, name);
      if (
        preconditions?.resourceVersion &&
        preconditions.resourceVersion !== current.metadata.resourceVersion
      ) {
        throw conflict(type, name);
      }
      return [200, this.delete(type, namespace, name)];
    }
    const current = this.mustGet(type, namespace, name);
    const next = verb === 'patch' ? mergePatch(current, body) : asObject(body);
    if (next.metadata.name !== name || (next.metadata.namespace ?? namespace) !== namespace) {
      throw new ApiError(400, 'BadRequest', 'the name or namespace of the object does not match the request');
    }
    next.metadata.namespace = namespace;
    return [200, this.update(type, next, status)];
  }

  private listPage(type: ServedType, namespace: string | undefined, query: Record<string, string>): unknown {
    let snapshot: ListSnapshot;
    let offset = 0;
    if (query.continue) {
      const [token, start] = query.continue.split(':');
      const found = this.snapshots.get(token);
      if (!found) {
        throw new ApiError(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result.',
        );
      }
      snapshot = found;
      offset = Number(start);
    } else {
      const selector = selectorOf(query);
      const items = [...this.objects.get(type)!.values()]
        .filter((object) => inNamespace(object, namespace) && selector(object))
        .sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
      snapshot = { rv: this.rv, items: structuredClone(items) };
    }
    const limit = query.limit ? Number(query.limit) : Infinity;
    const items = snapshot.items.slice(offset, offset + limit);
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
    if (offset + items.length < snapshot.items.length) {
      const token = randomUUID();
      this.snapshots.set(token, snapshot);
      metadata.continue = `${token}:${offset + items.length}`;
      metadata.remainingItemCount = snapshot.items.length - offset - items.length;
    }
    // Like the real server, items of built-in types come without apiVersion and kind.
    const listed =
      type.group === 'sluice.dev' ? items : items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    return { apiVersion: apiVersionOf(type), kind: `${type.kind}List`, metadata, items: listed };
  }

  private watch(
    { type, namespace, subresource }: ParsedPath,
    query: Record<string, string>,
    response: http.ServerResponse,
    record: RecordedRequest,
  ): void {
    if (subresource) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const from = query.resourceVersion;
    const tooOld = from !== undefined && from !== '' && from !== '0' && Number(from) < this.compactedRv;
    if (tooOld && this.expiredWatchAs === 'http')
      throw new ApiError(410, 'Expired', expiredStatus(this.compactedRv).message);
    record.code = 200;
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (tooOld) {
      response.end(eventLine('ERROR', expiredStatus(this.compactedRv)));
      return;
    }
    const watch: OpenWatch = {
      type,
      namespace,
      selector: selectorOf(query),
      bookmarks: query.allowWatchBookmarks === 'true',
      response,
      held: [],
    };
    if (from === undefined || from === '' || from === '0') {
      for (const object of this.objects.get(type)!.values()) {
        if (inNamespace(object, namespace) && watch.selector(object))
          this.deliver(watch, eventLine('ADDED', object));
      }
    } else {
      for (const event of this.history) {
        if (event.rv > Number(from) && event.type === type) this.offer(watch, event);
      }
    }
    this.watches.add(watch);
    const end = () => {
      clearTimeout(timer);
      this.watches.delete(watch);
    };
    const timer = setTimeout(() => response.end(), Number(query.timeoutSeconds ?? 1800) * 1000);
    timer.unref();
    response.on('close', end);
  }

  /** Sends `event` to `watch` as the watch's label selector sees it. */
  private offer(watch: OpenWatch, event: StoredEvent): void {
    if (!inNamespace(event.object, watch.namespace)) return;
    const now = event.eventType !== 'DELETED' && watch.selector(event.object);
    const before = event.previous !== undefined && watch.selector(event.previous);
    if (event.eventType === 'DELETED') {
      if (watch.selector(event.object)) this.deliver(watch, eventLine('DELETED', event.object));
    } else if (now && before) this.deliver(watch, eventLine('MODIFIED', event.object));
    else if (now) this.deliver(watch, eventLine('ADDED', event.object));
    else if (before) this.deliver(watch, eventLine('DELETED', event.object));
  }

  private deliver(watch: OpenWatch, line: string): void {
    if (this.paused) watch.held.push(line);
    else watch.response.write(line);
  }

  // ---------------------------------------------------------------------------------------------
  // Storage

  private create(type: ServedType, namespace: string, body: KubeObject): KubeObject {
    const name = body.metadata?.name;
    if (!name) throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
    const key = `${namespace}/${name}`;
    if (this.objects.get(type)!.has(key)) {
      throw new ApiError(409, 'AlreadyExists', `${type.plural}${groupSuffix(type)} "${name}" already exists`);
    }
    const object = withServerFields(type, body, {
      namespace: namespace || undefined,
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString(),
      resourceVersion: String(++this.rv),
      ...(type.generation ? { generation: 1 } : {}),
    });
    if (type.statusSubresource) delete object.status;
    return this.commit(type, 'ADDED', object);
  }

  /** PUT semantics: `status` true changes only the status, else everything but the status. */
  private update(type: ServedType, body: KubeObject, status: boolean): KubeObject {
    const namespace = namespaceOf(type, body);
    const current = this.mustGet(type, namespace, body.metadata.name);
    const expected = body.metadata.resourceVersion;
    if (expected && expected !== current.metadata.resourceVersion) throw conflict(type, body.metadata.name);
    let next: KubeObject;
    if (status) {
      next = { ...structuredClone(current), status: structuredClone(body.status) };
    } else {
      next = withServerFields(type, body, {
        namespace: namespace || undefined,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        resourceVersion: current.metadata.resourceVersion,
      });
      if (type.statusSubresource) {
        if (current.status === undefined) delete next.status;
        else next.status = structuredClone(current.status);
      }
      if (type.generation) {
        const changed = canonical(bodyOf(next)) !== canonical(bodyOf(current));
        next.metadata.generation = (current.metadata.generation ?? 1) + (changed ? 1 : 0);
      }
    }
    if (canonical(next) === canonical(current)) return current;
    next.metadata.resourceVersion = String(++this.rv);
    return this.commit(type, 'MODIFIED', next, current);
  }

  private delete(type: ServedType, namespace: string, name: string): KubeObject {
    const current = this.mustGet(type, namespace, name);
    this.objects.get(type)!.delete(`${namespace}/${name}`);
    const gone = {
      ...structuredClone(current),
      metadata: { ...current.metadata, resourceVersion: String(++this.rv) },
    };
    this.record({ rv: this.rv, type, eventType: 'DELETED', object: gone });
    return gone;
  }

  private commit(
    type: ServedType,
    eventType: 'ADDED' | 'MODIFIED',
    object: KubeObject,
    previous?: KubeObject,
  ): KubeObject {
    this.objects.get(type)!.set(objectKey(object), object);
    this.record({ rv: this.rv, type, eventType, object, previous });
    return object;
  }

  private record(event: StoredEvent): void {
    this.history.push(event);
    for (const watch of this.watches) if (watch.type === event.type) this.offer(watch, event);
  }

  private mustGet(type: ServedType, namespace: string, name: string): KubeObject {
    const found = this.objects.get(type)!.get(`${namespace}/${name}`);
    if (!found) throw new ApiError(404, 'NotFound', `${type.plural}${groupSuffix(type)} "${name}" not found`);
    return found;
  }

  // ---------------------------------------------------------------------------------------------
  // Paths and types

  private parsePath(pathname: string): ParsedPath {
    const segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api') [group, version, rest] = ['', segments[1], segments.slice(2)];
    else if (segments[0] === 'apis') [group, version, rest] = [segments[1], segments[2], segments.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = SERVED_TYPES.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
    if (!type || rest.length > 3)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return { type, namespace, name: rest[1], subresource: rest[2] };
  }

  private discoveryDocument(pathname: string): unknown {
    const groupVersion =
      /^\/api\/(v1)\/?$/.exec(pathname)?.[1] ?? /^\/apis\/([^/]+\/[^/]+)\/?$/.exec(pathname)?.[1];
    if (!groupVersion) return undefined;
    const types = SERVED_TYPES.filter((type) => apiVersionOf(type) === groupVersion);
    if (types.length === 0) return undefined;
    const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: types.flatMap((type) => [
        { name: type.plural, singularName: '', namespaced: !type.clusterScoped, kind: type.kind, verbs },
        ...(type.statusSubresource
          ? [
              {
                name: `${type.plural}/status`,
                singularName: '',
                namespaced: true,
                kind: type.kind,
                verbs: ['get', 'patch', 'update'],
              },
            ]
          : []),
      ]),
    };
  }

  private typeOfPlural(plural: string): ServedType {
    const type = SERVED_TYPES.find((t) => t.plural === plural);
    if (!type) throw new Error(`the loopback API server does not serve ${plural}`);
    return type;
  }

  private typeOfObject(object: KubeObject): ServedType {
    const type = SERVED_TYPES.find((t) => apiVersionOf(t) === object.apiVersion && t.kind === object.kind);
    if (!type) throw new Error(`the loopback API server does not serve ${object.apiVersion} ${object.kind}`);
    return type;
  }
}

// -----------------------------------------------------------------------------------------------
// Helpers

type LabelSelector = (object: KubeObject) => boolean;

/** A list's or watch's `labelSelector` and `fieldSelector` together. */
function selectorOf(query: Record<string, string>): LabelSelector {
  const labels = parseSelector(query.labelSelector);
  const fields = parseFieldSelector(query.fieldSelector);
  return (object) => labels(object) && fields(object);
}

const FIELD_REQUIREMENT = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/;

/** Field selectors `field=value`, `field==value`, `field!=value`, comma-separated, on dotted paths (`type`, `metadata.name`). */
function parseFieldSelector(text: string | undefined): LabelSelector {
  const requirements = (text ? text.split(',') : []).map((part) => {
    const match = FIELD_REQUIREMENT.exec(part.trim());
    if (!match) throw new ApiError(400, 'BadRequest', `invalid field selector: ${part}`);
    const [, path, operator, value] = match;
    return { path: path.split('.'), negated: operator === '!=', value };
  });
  const fieldOf = (object: KubeObject, path: string[]): string =>
    String(
      path.reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], object) ?? '',
    );
  return (object) =>
    requirements.every(({ path, negated, value }) => (fieldOf(object, path) === value) !== negated);
}

/** Equality-based selectors: `a`, `!a`, `a=b`, `a==b`, `a!=b`, comma-separated. */
function parseSelector(text: string | undefined): LabelSelector {
  const requirements = (text ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part): LabelSelector => {
      const match = /^(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*))?$/.exec(part);
      if (!match) throw new ApiError(400, 'BadRequest', `unable to parse requirement: ${part}`);
      const [, not, key, operator, value] = match;
      return (object) => {
        const labels = object.metadata.labels ?? {};
        if (not) return !(key in labels);
        if (!operator) return key in labels;
        return operator === '!=' ? labels[key] !== value : labels[key] === value;
      };
    });
  return (object) => requirements.every((requirement) => requirement(object));
}

function verbOf(method: string, parsed: ParsedPath, query: Record<string, string>): Verb {
  const collection = parsed.name === undefined;
  if (method === 'GET') {
    if (collection) return query.watch === 'true' || query.watch === '1' ? 'watch' : 'list';
    return 'get';
  }
  if (method === 'POST' && collection) return 'create';
  if (method === 'PUT' && !collection) return 'update';
  if (method === 'PATCH' && !collection) return 'patch';
  if (method === 'DELETE' && !collection) return 'delete';
  throw new ApiError(405, 'MethodNotAllowed', `${method} is not allowed here`);
}

function matches(match: RequestMatch, request: RecordedRequest): boolean {
  return (
    (match.verb === undefined || match.verb === request.verb) &&
    (match.resource === undefined || match.resource === request.resource) &&
    (match.namespace === undefined || match.namespace === request.namespace) &&
    (match.name === undefined || match.name === request.name) &&
    (match.subresource === undefined || match.subresource === (request.subresource ?? ''))
  );
}

function inNamespace(object: KubeObject, namespace: string | undefined): boolean {
  return namespace === undefined || object.metadata.namespace === namespace;
}

function objectKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

/** The namespace an object is kept under: `''` for a cluster-scoped one, else its own or `default`. */
function namespaceOf(type: ServedType, object: KubeObject): string {
  return type.clusterScoped ? '' : (object.metadata.namespace ?? 'default');
}

function groupSuffix(type: ServedType): string {
  return type.group ? `.${type.group}` : '';
}

/** A copy of what a client sent, with the fields only the server sets. */
function withServerFields(
  type: ServedType,
  body: KubeObject,
  fields: Partial<KubeObject['metadata']>,
): KubeObject {
  return {
    ...structuredClone(body),
    apiVersion: apiVersionOf(type),
    kind: type.kind,
    metadata: { ...structuredClone(body.metadata), ...fields },
  };
}

/** Everything generation counts: the object without metadata and status. */
function bodyOf(object: KubeObject): unknown {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...body } = object;
  return body;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): KubeObject {
  const apply = (base: unknown, change: unknown): unknown => {
    if (!change || typeof change !== 'object' || Array.isArray(change)) return structuredClone(change);
    const result: Record<string, unknown> =
      base && typeof base === 'object' && !Array.isArray(base)
        ? { ...(base as Record<string, unknown>) }
        : {};
    for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
      if (value === null) delete result[key];
      else result[key] = apply(result[key], value);
    }
    return result;
  };
  return apply(structuredClone(target), patch) as KubeObject;
}

function asObject(body: unknown): KubeObject {
  const object = body as KubeObject | undefined;
  if (!object || typeof object !== 'object' || !object.metadata || typeof object.metadata !== 'object') {
    throw new ApiError(400, 'BadRequest', 'the body must be an object with metadata');
  }
  return structuredClone(object);
}

function conflict(type: ServedType, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${type.plural}${groupSuffix(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
  );
}

function expiredStatus(
  compactedRv: number,
): { code: number; reason: string; message: string } & Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message: `too old resource version (the oldest one still available is ${compactedRv})`,
    reason: 'Expired',
    code: 410,
  };
}

function statusObject(error: ApiError): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message: error.message,
    reason: error.reason,
    code: error.code,
  };
}

function eventLine(type: string, object: unknown): string {
  return `${JSON.stringify({ type, object })}\n`;
}

function sendJson(response: http.ServerResponse, code: number, body: unknown, record: RecordedRequest): void {
  record.code = code;
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readBody(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ApiError(400, 'BadRequest', 'the request body is not JSON');
  }
}

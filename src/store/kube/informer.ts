import type { Logger } from '../../logger';
import { Backoff, type BackoffOptions } from './backoff';
import {
  isApiError,
  KubeApiError,
  type KubeClient,
  type KubeObject,
  type WatchEvent,
  type WatchHandle,
} from './kube-client';
import { apiVersionOf, qualifiedName, type ResourceType } from './resource-types';

export type InformerEventType = 'added' | 'modified' | 'deleted';
/** `previous`: on 'modified', the object the copy held before. */
export type InformerListener<T extends KubeObject> = (
  event: InformerEventType,
  object: T,
  previous?: T,
) => void;

export interface InformerOptions<T extends KubeObject = KubeObject> {
  client: KubeClient;
  type: ResourceType;
  /** The namespaces to watch, each with its own list + watch; absent: all (one list + watch). */
  namespaces?: readonly string[];
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  /** Delays between attempts after a failed list or watch. */
  backoff?: BackoffOptions;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /**
   * What the copy keeps of each object (default: all of it), for types whose objects are many and large.
   * It must keep `metadata.name`, `namespace` and `resourceVersion`, which the informer itself reads.
   */
  keep?: (object: T) => T;
}

/** A first list refused so will not get better by retrying: the CRD or the RBAC rule is missing. */
const FATAL_BEFORE_SYNC = new Set([401, 403, 404]);

/** What readers of an informer's local copy use: the copy and its events. */
export interface ObjectCacheView<T extends KubeObject> {
  whenSynced(): Promise<void>;
  readonly hasSynced: boolean;
  get(namespace: string, name: string): T | undefined;
  list(): T[];
  on(listener: InformerListener<T>): () => void;
}

/** What the owner of an informer uses: the view, and starting and stopping it. */
export interface ObjectCache<T extends KubeObject> extends ObjectCacheView<T> {
  start(): void;
  stop(): void;
}

/**
 * A local copy of one resource type, kept current by list + watch (what client-go calls an informer):
 * - lists (in pages) then watches from the list's resourceVersion, with bookmarks; every event and
 *   bookmark moves the resourceVersion on, so a new watch resumes exactly where the last one stopped;
 * - a watch the server ends after delivering something is reopened at once; a failed list or watch,
 *   or one that delivered nothing, is retried after an exponential backoff (reset once one delivers);
 * - `410 Gone` (an ERROR event or an HTTP 410: the resourceVersion was compacted away) triggers a
 *   relist, applied as a difference against the copy: listeners hear of what was added, modified or
 *   deleted meanwhile, once, and of nothing else;
 * - listeners are called synchronously with each change, after the copy is updated.
 * Objects are keyed `namespace/name`; `get` and `list` read the copy, never the API server.
 */
export class Informer<T extends KubeObject> implements ObjectCache<T> {
  private readonly objects = new Map<string, T>();
  private readonly listeners = new Set<InformerListener<T>>();
  private readonly loops: Array<ListWatchLoop<T>>;
  private readonly allSynced: Promise<void>;
  private synced = false;

  constructor(readonly options: InformerOptions<T>) {
    const scopes = options.namespaces ?? [undefined];
    this.loops = scopes.map((namespace) => new ListWatchLoop(this, options, namespace));
    this.allSynced = Promise.all(this.loops.map((loop) => loop.synced)).then(() => {
      this.synced = true;
    });
    // Whoever awaits `whenSynced()` hears of a failure; nobody else should crash on it.
    this.allSynced.catch(() => undefined);
  }

  start(): void {
    for (const loop of this.loops) loop.start();
  }

  /** Resolves once every namespace has been listed; rejects when a first list is refused for good. */
  whenSynced(): Promise<void> {
    return this.allSynced;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  on(listener: InformerListener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    for (const loop of this.loops) loop.stop();
  }

  // The three below are how the list + watch loops update the copy.

  /** The object as it is now (a duplicate of what the copy holds is ignored). */
  upsert(object: T): void {
    const key = objectKey(object);
    const previous = this.objects.get(key);
    if (previous?.metadata.resourceVersion === object.metadata.resourceVersion) return;
    this.objects.set(key, object);
    this.emit(previous ? 'modified' : 'added', object, previous);
  }

  remove(object: T): void {
    const key = objectKey(object);
    const previous = this.objects.get(key);
    if (!previous) return;
    this.objects.delete(key);
    this.emit('deleted', previous);
  }

  /** A full list of `namespace` (all namespaces when undefined): the copy becomes exactly `items` there. */
  replace(namespace: string | undefined, items: readonly T[]): void {
    const fresh = new Map(items.map((object) => [objectKey(object), object]));
    for (const [key, object] of this.objects) {
      if ((namespace === undefined || object.metadata.namespace === namespace) && !fresh.has(key)) {
        this.remove(object);
      }
    }
    for (const object of fresh.values()) this.upsert(object);
  }

  private emit(event: InformerEventType, object: T, previous?: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event, object, previous);
      } catch (error) {
        this.options.logger.error(
          { err: error, resource: qualifiedName(this.options.type) },
          'informer listener failed',
        );
      }
    }
  }
}

type WatchEnding = 'expired' | 'progressed' | 'idle';

/** The list + watch cycle of one namespace (or of all). */
class ListWatchLoop<T extends KubeObject> {
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private rejectSynced!: (error: Error) => void;
  private hasSynced = false;
  private resourceVersion = '';
  private running = false;
  private stopped = false;
  private watch: WatchHandle | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly backoff: Backoff;
  private readonly logger: Logger;
  private readonly scope: string;

  constructor(
    private readonly informer: Informer<T>,
    private readonly options: InformerOptions<T>,
    private readonly namespace: string | undefined,
  ) {
    this.synced = new Promise((resolve, reject) => {
      this.resolveSynced = resolve;
      this.rejectSynced = reject;
    });
    this.backoff = new Backoff(options.backoff);
    this.scope = `${qualifiedName(options.type)}${namespace === undefined ? '' : ` in ${namespace}`}`;
    this.logger = options.logger.child({ resource: qualifiedName(options.type), namespace });
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        if (this.stopped) return;
        const ending = await this.watchOnce();
        if (ending === 'expired') {
          this.logger.info('resourceVersion too old (410 Gone): relisting');
          this.resourceVersion = '';
        } else if (ending === 'progressed') {
          this.backoff.reset();
        } else {
          await this.sleep(this.backoff.next());
        }
      } catch (error) {
        if (this.stopped) return;
        if (!this.hasSynced && error instanceof KubeApiError && FATAL_BEFORE_SYNC.has(error.code)) {
          this.rejectSynced(
            new Error(`cannot list ${this.scope} on ${this.options.client.serverUrl}: ${error.message}`),
          );
          return;
        }
        // An expired continue token: the list starts over.
        if (isApiError(error, 410)) this.resourceVersion = '';
        const delay = this.backoff.next();
        this.logger.warn(
          { err: (error as Error).message, retryInMs: Math.round(delay) },
          `${this.scope}: list or watch failed`,
        );
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const { client, type, labelSelector, fieldSelector, pageSize = 500 } = this.options;
    const items: T[] = [];
    let resourceVersion = '';
    let next: string | undefined;
    do {
      const page = await client.list<T>(type, {
        namespace: this.namespace,
        labelSelector,
        fieldSelector,
        limit: pageSize,
        continue: next,
      });
      items.push(...page.items.map((item) => this.kept(item)));
      resourceVersion = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue || undefined;
    } while (next && !this.stopped);
    if (this.stopped) return;
    this.informer.replace(this.namespace, items);
    this.resourceVersion = resourceVersion;
    this.backoff.reset();
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.resolveSynced();
    }
  }

  /** One watch, until it ends: 'expired' (410), 'progressed' (after events), 'idle' (without any). */
  private watchOnce(): Promise<WatchEnding> {
    const { client, type, labelSelector, fieldSelector } = this.options;
    return new Promise((resolve, reject) => {
      let progressed = false;
      const onEvent = (event: WatchEvent<T>) => {
        if (event.type === 'ERROR') {
          this.watch?.stop();
          const status = event.object as unknown as { code?: number; reason?: string; message?: string };
          if (status.code === 410) resolve('expired');
          else
            reject(
              new KubeApiError(status.code ?? 0, status.reason ?? '', `watch error: ${status.message ?? ''}`),
            );
          return;
        }
        const object = this.kept(event.object);
        if (event.type === 'ADDED' || event.type === 'MODIFIED') this.informer.upsert(object);
        else if (event.type === 'DELETED') this.informer.remove(object);
        this.resourceVersion = object.metadata.resourceVersion || this.resourceVersion;
        progressed = true;
      };
      const onEnd = (error?: Error) => {
        if (isApiError(error, 410)) resolve('expired');
        else if (error) reject(error);
        else resolve(progressed ? 'progressed' : 'idle');
      };
      this.watch = client.watch<T>(
        type,
        {
          namespace: this.namespace,
          labelSelector,
          fieldSelector,
          resourceVersion: this.resourceVersion,
          // Like client-go: 5 to 10 minutes, so that replicas do not all reconnect at once.
          timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        },
        onEvent,
        onEnd,
      );
      if (this.stopped) this.watch.stop();
    });
  }

  /** A listed or watched object as the copy holds it. */
  private kept(object: T): T {
    const typed = withTypeMeta(object, this.options.type);
    return this.options.keep ? this.options.keep(typed) : typed;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}

function objectKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
}

/** Items of a list of built-in types come without apiVersion and kind: every object gets them. */
function withTypeMeta<T extends KubeObject>(object: T, type: ResourceType): T {
  return { ...object, apiVersion: apiVersionOf(type), kind: type.kind };
}

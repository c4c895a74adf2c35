import {
  DEFAULT_NAMESPACE,
  KINDS,
  keyOf,
  keyString,
  type Kind,
  type Resource,
  type ResourceKey,
  type Status,
} from '../../api/resource';
import { logger as defaultLogger, type Logger } from '../../logger';
import { checkKeyable, fingerprint, stableStringify, userContent } from '../memory-store';
import {
  ConflictError,
  type ResourceStore,
  type StoreContents,
  type StoreListener,
  type StoredResource,
} from '../store';
import type { BackoffOptions } from './backoff';
import { BoundedDebounce } from './debounce';
import { Informer, type ObjectCache, type ObjectCacheView } from './informer';
import { isApiError, type KubeClient, type KubeObject } from './kube-client';
import { notifyEach } from './listeners';
import {
  isSluiceSecret,
  locationOf,
  SECRET_TYPE_LABEL,
  toKubeObject,
  toResource,
  typeOfKind,
} from './mapping';
import type { KubeServiceEndpoints } from './service-endpoints';
import { SluiceSecretsInformer } from './sluice-secrets-informer';
import { KUBE_TLS_SECRET_TYPE } from './tls-secrets';

export interface KubeStoreOptions {
  /** The store owns it: `close()` closes it. */
  client: KubeClient;
  /** Namespaces to watch; all when absent. */
  namespaces?: readonly string[];
  /** Delay between the last change and the watch notification (ms). Default 100. */
  debounceMs?: number;
  logger?: Logger;
  /** Delays between attempts after a failed list or watch. */
  backoff?: BackoffOptions;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** Status writes in flight at once. Default 8. */
  statusWriteConcurrency?: number;
  /** Services and their EndpointSlices, started and closed with the store (`serve`; not the CLI). */
  endpoints?: KubeServiceEndpoints;
}

/** Attempts of a write that meets a concurrent change it may retry over (unconditional applies, statuses). */
const MAX_ATTEMPTS = 5;

/**
 * Resources in Kubernetes: the sluice.dev CRDs, and core Secrets labelled `sluice.dev/secret-type` or
 * of type `kubernetes.io/tls` (read only: Sluice writes labelled Secrets alone; see docs/kubernetes.md).
 * - Reads come from one informer (list + watch) per kind; `load()` waits for their first list.
 * - `metadata.resourceVersion` and `metadata.generation` are Kubernetes' own: the generation moves with
 *   the spec only, the resourceVersion with any change (statuses too).
 * - `watch()` listeners get the full contents once per burst of changes (debounced, at least every
 *   max(1 s, 10 x debounceMs) during an endless burst), only when something other than statuses and
 *   resourceVersions changed, and never before every informer has listed.
 * - `apply(r, expected)` is a conditional write (ConflictError when the object is not at `expected`,
 *   or on the API server's 409); `expected = ''` is a create, sent without reading first (the API server
 *   refuses it with 409 AlreadyExists when the object exists); without `expected` it re-reads and
 *   retries over concurrent changes.
 * - Statuses go through the status subresource, which cannot change the spec; on a 409 the object is
 *   read again and only the status is written again. Core Secrets have no status: theirs stay in memory.
 */
export class KubeStore implements ResourceStore {
  private readonly client: KubeClient;
  private readonly informers = new Map<Kind, ObjectCache<KubeObject>>();
  private readonly secretStatuses = new Map<string, Status>();
  private readonly listeners = new Set<StoreListener>();
  private readonly logger: Logger;
  private readonly statusWriteConcurrency: number;
  private readonly notifier: BoundedDebounce;
  readonly endpoints: KubeServiceEndpoints | undefined;
  private started: Promise<void> | undefined;
  private lastNotified = contentFingerprint({ resources: [], errors: [] });
  private closed = false;

  constructor(options: KubeStoreOptions) {
    this.client = options.client;
    this.logger = options.logger ?? defaultLogger;
    this.notifier = new BoundedDebounce(() => this.notify(), options.debounceMs ?? 100);
    this.endpoints = options.endpoints;
    this.statusWriteConcurrency = options.statusWriteConcurrency ?? 8;
    const common = {
      client: this.client,
      namespaces: options.namespaces,
      logger: this.logger,
      backoff: options.backoff,
      pageSize: options.pageSize,
    };
    for (const kind of KINDS) {
      const informer =
        kind === 'Secret'
          ? new SluiceSecretsInformer(common)
          : new Informer<KubeObject>({ ...common, type: typeOfKind(kind) });
      informer.on(() => this.scheduleNotify());
      this.informers.set(kind, informer);
    }
  }

  async load(): Promise<StoreContents> {
    await this.start();
    return this.snapshot();
  }

  watch(listener: StoreListener): () => void {
    if (this.listeners.size === 0 && this.isSynced()) this.lastNotified = contentFingerprint(this.snapshot());
    this.listeners.add(listener);
    this.start().catch((error: Error) =>
      this.logger.error({ err: error.message }, 'the Kubernetes store cannot watch'),
    );
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.notifier.cancel();
    };
  }

  async apply(resource: Resource, expectedResourceVersion?: string): Promise<Resource> {
    checkKeyable(resource);
    const content = userContent(resource);
    const key = keyOf(content);
    if (expectedResourceVersion === '') return this.create(key, content);
    const id = keyString(key);
    const type = typeOfKind(key.kind);
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.find(type, key.namespace, key.name);
      checkSluiceSecret(key, current);
      if (expectedResourceVersion !== undefined) checkExpected(id, current, expectedResourceVersion);
      try {
        if (!current) return toResource(key.kind, await this.client.create(type, toKubeObject(content)));
        const stored = toResource(key.kind, current);
        if (stableStringify(userContent(stored)) === stableStringify(content)) return stored;
        return toResource(key.kind, await this.client.replace(type, toKubeObject(content, current)));
      } catch (error) {
        // 409: AlreadyExists on create, Conflict on replace. Someone wrote in between.
        if (!isApiError(error, 409)) throw error;
        if (expectedResourceVersion !== undefined || attempt >= MAX_ATTEMPTS) {
          throw new ConflictError(`${id} changed while being written: ${error.message}`);
        }
      }
    }
  }

  /**
   * The store's local copy of one kind (its informer, started with the store), for readers that would
   * otherwise list and watch the same objects again: Service discovery reads the Upstreams from it.
   */
  cacheOf(kind: Kind): ObjectCacheView<KubeObject> {
    const informer = this.informers.get(kind);
    if (!informer) throw new Error(`the Kubernetes store has no informer for ${kind}`);
    return informer;
  }

  /**
   * Deletes the object (nothing happens when it is gone); with `expectedResourceVersion`, only while it
   * is still at that version (ConflictError otherwise).
   */
  async delete(key: ResourceKey, expectedResourceVersion?: string): Promise<void> {
    const type = typeOfKind(key.kind);
    this.secretStatuses.delete(keyString(key));
    for (let attempt = 1; ; attempt++) {
      let resourceVersion = expectedResourceVersion;
      if (key.kind === 'Secret') {
        const current = await this.client.find(type, key.namespace, key.name);
        if (!current) return;
        if (current.type === KUBE_TLS_SECRET_TYPE && !isSluiceSecret(current)) {
          // Sluice reads it but did not make it: deleting it would take a certificate from whoever did.
          throw new Error(
            `Secret ${key.namespace}/${key.name} is a ${KUBE_TLS_SECRET_TYPE} Secret that Sluice reads but does not own (no ${SECRET_TYPE_LABEL} label): delete it with kubectl`,
          );
        }
        if (!isSluiceSecret(current)) return;
        resourceVersion ??= current.metadata.resourceVersion;
      }
      try {
        return await this.client.delete(type, key.namespace, key.name, resourceVersion);
      } catch (error) {
        if (isApiError(error, 404)) return;
        if (isApiError(error, 409) && expectedResourceVersion !== undefined) {
          throw new ConflictError(`${keyString(key)} changed since version ${expectedResourceVersion}`);
        }
        if (!isApiError(error, 409) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  async writeStatuses(statuses: ReadonlyArray<{ key: ResourceKey; status: Status }>): Promise<void> {
    await this.start();
    const queue = [...statuses];
    const failures: string[] = [];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        try {
          await this.writeStatus(next.key, next.status);
        } catch (error) {
          failures.push(`${keyString(next.key)}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.statusWriteConcurrency, queue.length) }, worker));
    if (failures.length > 0) {
      throw new Error(`${failures.length} status writes failed, e.g. ${failures.slice(0, 3).join('; ')}`);
    }
  }

  async readStatuses(): Promise<Map<string, Status>> {
    await this.start();
    const statuses = new Map<string, Status>();
    for (const [kind, informer] of this.informers) {
      if (kind === 'Secret') continue;
      for (const { metadata, status } of informer.list()) {
        const key = { kind, namespace: metadata.namespace ?? DEFAULT_NAMESPACE, name: metadata.name };
        if (status) statuses.set(keyString(key), structuredClone(status as Status));
      }
    }
    for (const [id, status] of this.secretStatuses) statuses.set(id, structuredClone(status));
    return statuses;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.notifier.cancel();
    this.listeners.clear();
    for (const informer of this.informers.values()) informer.stop();
    this.endpoints?.stop();
    this.client.close();
  }

  /** Starts the informers (and the endpoints) once; resolves when all have listed. */
  private start(): Promise<void> {
    this.started ??= (async () => {
      for (const informer of this.informers.values()) informer.start();
      this.endpoints?.start();
      await Promise.all([
        ...[...this.informers.values()].map((informer) => informer.whenSynced()),
        this.endpoints?.whenSynced(),
      ]);
      this.scheduleNotify();
    })();
    return this.started;
  }

  private isSynced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced);
  }

  private snapshot(): StoreContents {
    const resources: StoredResource[] = [];
    for (const [kind, informer] of this.informers) {
      for (const object of informer.list()) {
        const resource = toResource(kind, object);
        const key = keyOf(resource);
        const secretStatus = kind === 'Secret' ? this.secretStatuses.get(keyString(key)) : undefined;
        if (secretStatus) resource.status = structuredClone(secretStatus);
        resources.push({ resource, location: { file: locationOf(key) } });
      }
    }
    const sortKey = ({ resource }: StoredResource) => keyString(keyOf(resource));
    resources.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
    return { resources, errors: [] };
  }

  /** A create without a read first: the API server's 409 AlreadyExists says the object exists. */
  private async create(key: ResourceKey, content: Resource): Promise<Resource> {
    const type = typeOfKind(key.kind);
    try {
      return toResource(key.kind, await this.client.create(type, toKubeObject(content)));
    } catch (error) {
      if (!isApiError(error, 409)) throw error;
      // A core Secret that is not Sluice's is no conflict to retry: say so, as a write over it does.
      if (key.kind === 'Secret')
        checkSluiceSecret(key, await this.client.find(type, key.namespace, key.name));
      throw new ConflictError(`${keyString(key)} already exists: ${error.message}`);
    }
  }

  private async writeStatus(key: ResourceKey, status: Status): Promise<void> {
    let object = this.informers.get(key.kind)?.get(key.namespace, key.name);
    // Statuses of what is gone are not kept (as in the other stores).
    if (!object) return;
    if (key.kind === 'Secret') {
      this.secretStatuses.set(keyString(key), structuredClone(status));
      return;
    }
    if (stableStringify(object.status ?? null) === stableStringify(status)) return;
    const type = typeOfKind(key.kind);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.replaceStatus(type, { ...object, status });
        return;
      } catch (error) {
        if (isApiError(error, 404)) return;
        if (!isApiError(error, 409) || attempt >= MAX_ATTEMPTS) throw error;
      }
      // The object changed since it was read (usually a user's edit): read it again, write the status only.
      object = await this.client.find(type, key.namespace, key.name);
      if (!object) return;
    }
  }

  private scheduleNotify(): void {
    if (this.closed || this.listeners.size === 0) return;
    this.notifier.schedule();
  }

  private notify(): void {
    // Half-listed contents would make resources look missing; the end of the first lists notifies.
    if (this.closed || !this.isSynced()) return;
    const contents = this.snapshot();
    const current = contentFingerprint(contents);
    if (current === this.lastNotified) return;
    this.lastNotified = current;
    notifyEach(this.listeners, contents, this.logger, 'Kubernetes store watch listener failed');
  }
}

/** Refuses to write over a core Secret that is not Sluice's (no `sluice.dev/secret-type` label). */
function checkSluiceSecret(key: ResourceKey, current: KubeObject | undefined): void {
  if (key.kind !== 'Secret' || !current || isSluiceSecret(current)) return;
  throw new Error(
    `Secret ${key.namespace}/${key.name} exists and is not Sluice's (no ${SECRET_TYPE_LABEL} label): choose another name`,
  );
}

/** ConflictError unless the stored object is at `expected` (a resourceVersion; creates do not read). */
function checkExpected(id: string, current: KubeObject | undefined, expected: string): void {
  if (!current) throw new ConflictError(`${id} does not exist (expected version ${expected})`);
  const stored = current.metadata.resourceVersion;
  if (stored !== expected) {
    throw new ConflictError(`${id} changed: stored resourceVersion ${stored}, expected ${expected}`);
  }
}

/** What watchers are told about: contents less statuses and resourceVersions (status writes change both). */
function contentFingerprint(contents: StoreContents): string {
  return fingerprint({
    errors: contents.errors,
    resources: contents.resources.map(({ resource, location }) => ({
      location,
      resource: { ...resource, metadata: { ...resource.metadata, resourceVersion: undefined } },
    })),
  });
}

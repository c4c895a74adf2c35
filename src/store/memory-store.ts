import {
  DEFAULT_NAMESPACE,
  keyOf,
  keyString,
  type Resource,
  type ResourceKey,
  type Status,
} from '../api/resource';
import { logger } from '../logger';
import {
  ConflictError,
  type ResourceStore,
  type StoreContents,
  type StoreListener,
  type StoredResource,
} from './store';

/**
 * Store helpers shared by the memory and file stores: both decide "did the user's content change?"
 * the same way, so generation bumps and no-op writes behave identically.
 */

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * What the user owns of a resource: everything except `status` and the store-managed
 * `metadata.generation` / `metadata.resourceVersion`; the namespace defaulted; `undefined` dropped.
 * Key order: apiVersion, kind, metadata (name, namespace, ...), then the body in its own order.
 */
export function userContent(resource: Resource): Resource {
  const plain = JSON.parse(JSON.stringify(resource)) as Record<string, unknown>;
  const { apiVersion, kind, metadata, ...body } = plain;
  delete body.status;
  const { name, namespace, ...restMeta } = (metadata ?? {}) as Record<string, unknown>;
  delete restMeta.generation;
  delete restMeta.resourceVersion;
  return {
    apiVersion,
    kind,
    metadata: { name, namespace: namespace ?? DEFAULT_NAMESPACE, ...restMeta },
    ...body,
  } as unknown as Resource;
}

/** Throws a plain Error when a resource cannot even be keyed (stores validate nothing else). */
export function checkKeyable(resource: Resource): void {
  if (!resource || typeof resource !== 'object') throw new Error('resource must be an object');
  const kind: unknown = resource.kind;
  if (typeof kind !== 'string' || kind === '') throw new Error('resource has no kind');
  const meta = resource.metadata as unknown;
  if (!meta || typeof meta !== 'object') throw new Error('resource has no metadata');
  const { name, namespace } = resource.metadata;
  if (typeof name !== 'string' || name === '') throw new Error('resource has no metadata.name');
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) {
    throw new Error('resource metadata.namespace must be a non-empty string');
  }
}

export interface MemoryStoreOptions {
  /** Delay between the last change and the watch notification (ms). Default 50. */
  debounceMs?: number;
}

interface Entry {
  resource: Resource;
  content: string;
  generation: number;
  resourceVersion: string;
}

/**
 * An in-memory ResourceStore for tests and CLI dry runs. Semantics match the file store:
 * - `metadata.generation` starts at 1 and goes up by one on every change of the user's content
 *   (never on a status change); an apply with identical content is a no-op;
 * - `metadata.resourceVersion` is a store-wide counter, taken on every content change;
 * - `apply(r, expected)` throws ConflictError when the stored resourceVersion differs from
 *   `expected`, or when the resource does not exist; `expected === ''` means "must not exist yet";
 * - statuses live beside the resources, are never part of the content, and do not notify watchers;
 * - watchers get the full contents once per burst of changes (debounced), and only on a net change.
 */
export class MemoryStore implements ResourceStore {
  private readonly entries = new Map<string, Entry>();
  private readonly statuses = new Map<string, Status>();
  private readonly listeners = new Set<StoreListener>();
  private readonly debounceMs: number;
  private counter = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastNotified: string | undefined;
  private closed = false;

  /** `resources` are applied in order, as `apply` would (a later duplicate replaces an earlier one). */
  constructor(resources: Resource[] = [], options: MemoryStoreOptions = {}) {
    this.debounceMs = options.debounceMs ?? 50;
    for (const r of resources) this.applySync(r);
  }

  async load(): Promise<StoreContents> {
    return this.snapshot();
  }

  watch(listener: StoreListener): () => void {
    if (this.listeners.size === 0) this.lastNotified = fingerprint(this.snapshot());
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.clearTimer();
    };
  }

  async apply(resource: Resource, expectedResourceVersion?: string): Promise<Resource> {
    return this.applySync(resource, expectedResourceVersion);
  }

  async delete(key: ResourceKey): Promise<void> {
    const k = keyString(key);
    this.statuses.delete(k);
    if (!this.entries.delete(k)) return;
    this.counter++;
    this.changed();
  }

  async writeStatuses(statuses: ReadonlyArray<{ key: ResourceKey; status: Status }>): Promise<void> {
    for (const { key, status } of statuses) {
      const k = keyString(key);
      // Like the file store, statuses of resources that do not exist are not kept.
      if (this.entries.has(k)) this.statuses.set(k, structuredClone(status));
    }
  }

  async readStatuses(): Promise<Map<string, Status>> {
    return new Map([...this.statuses].map(([k, s]) => [k, structuredClone(s)]));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    this.listeners.clear();
  }

  private applySync(resource: Resource, expected?: string): Resource {
    checkKeyable(resource);
    const content = userContent(resource);
    const k = keyString(keyOf(content));
    const text = stableStringify(content);
    const existing = this.entries.get(k);
    if (expected !== undefined) {
      if (!existing && expected !== '')
        throw new ConflictError(`${k} does not exist (expected version ${expected})`);
      if (existing && existing.resourceVersion !== expected) {
        throw new ConflictError(
          `${k} changed: stored resourceVersion ${existing.resourceVersion}, expected ${expected || '(none)'}`,
        );
      }
    }
    if (existing && existing.content === text) return this.materialize(existing);
    const entry: Entry = {
      resource: content,
      content: text,
      generation: existing ? existing.generation + 1 : 1,
      resourceVersion: String(++this.counter),
    };
    this.entries.set(k, entry);
    this.changed();
    return this.materialize(entry);
  }

  private materialize(entry: Entry, status?: Status): Resource {
    const r = structuredClone(entry.resource);
    r.metadata.generation = entry.generation;
    r.metadata.resourceVersion = entry.resourceVersion;
    if (status) r.status = structuredClone(status);
    return r;
  }

  private snapshot(): StoreContents {
    const keys = [...this.entries.keys()].sort();
    const resources: StoredResource[] = keys.map((k) => ({
      resource: this.materialize(this.entries.get(k)!, this.statuses.get(k)),
      location: {},
    }));
    return { resources, errors: [] };
  }

  private changed(): void {
    if (this.closed || this.listeners.size === 0) return;
    this.clearTimer();
    this.timer = setTimeout(() => this.notify(), this.debounceMs);
  }

  private notify(): void {
    this.timer = undefined;
    if (this.closed) return;
    const contents = this.snapshot();
    const fp = fingerprint(contents);
    if (fp === this.lastNotified) return;
    this.lastNotified = fp;
    for (const listener of [...this.listeners]) {
      try {
        listener(contents);
      } catch (err) {
        logger.error({ err }, 'memory store watch listener failed');
      }
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Contents without statuses: what a watcher is told about. */
export function fingerprint(contents: StoreContents): string {
  return stableStringify({
    resources: contents.resources.map(({ resource, location }) => ({
      resource: { ...resource, status: undefined },
      location,
    })),
    errors: contents.errors,
  });
}

import type { XdsResource, XdsSnapshot } from './resources';
import type { TypeUrl } from './type-urls';

/** The proxy key of a node that sends no `role` in its metadata. */
export const DEFAULT_PROXY_KEY = 'gateway-proxy';

/** The parts of an xDS `Node` the cache looks at. `metadata` may be a decoded Struct or plain JSON. */
export interface NodeLike {
  readonly id?: string;
  readonly metadata?: unknown;
}

/**
 * The proxy key (`NAMESPACE~PROXYNAME`) of an xDS node: its metadata `role` string, or
 * `gateway-proxy` when there is none. Accepts the metadata both as a decoded
 * `google.protobuf.Struct` (`{fields: {role: {stringValue}}}`) and as plain JSON (`{role}`).
 */
export function proxyKeyOf(node: NodeLike | null | undefined): string {
  const role = metadataString(node?.metadata, 'role');
  return role !== undefined && role.length > 0 ? role : DEFAULT_PROXY_KEY;
}

function metadataString(metadata: unknown, key: string): string | undefined {
  if (metadata === null || typeof metadata !== 'object') return undefined;
  const plain = (metadata as Record<string, unknown>)[key];
  if (typeof plain === 'string') return plain;
  const fields = (metadata as Record<string, unknown>).fields;
  if (fields === null || typeof fields !== 'object') return undefined;
  const value = (fields as Record<string, unknown>)[key];
  if (value === null || typeof value !== 'object') return undefined;
  const stringValue = (value as Record<string, unknown>).stringValue;
  return typeof stringValue === 'string' ? stringValue : undefined;
}

/** What changed in one type between two snapshots of one proxy, by resource name. */
export interface TypeChanges {
  readonly added: ReadonlySet<string>;
  readonly changed: ReadonlySet<string>;
  readonly removed: ReadonlySet<string>;
}

/** One `setSnapshot` that changed something. `changes` holds only the types with a change. */
export interface SnapshotChange {
  readonly key: string;
  readonly snapshot: XdsSnapshot;
  /** The snapshot this one replaced; undefined when the key had none. */
  readonly previous: XdsSnapshot | undefined;
  readonly changes: ReadonlyMap<TypeUrl, TypeChanges>;
}

export type SnapshotListener = (change: SnapshotChange) => void;

const EMPTY_TYPE: ReadonlyMap<string, XdsResource> = new Map();

/** Per-resource comparison (by `version`) of two snapshots; types whose maps are identical are skipped. */
export function diffSnapshots(
  previous: XdsSnapshot | undefined,
  next: XdsSnapshot,
): Map<TypeUrl, TypeChanges> {
  const result = new Map<TypeUrl, TypeChanges>();
  const types = new Set<TypeUrl>(next.keys());
  if (previous) for (const type of previous.keys()) types.add(type);
  for (const type of types) {
    const before = previous?.get(type) ?? EMPTY_TYPE;
    const after = next.get(type) ?? EMPTY_TYPE;
    if (before === after) continue;
    const added = new Set<string>();
    const changed = new Set<string>();
    const removed = new Set<string>();
    for (const [name, resource] of after) {
      const old = before.get(name);
      // Unchanged resources are usually the very same objects (the encoder reuses them).
      if (old === resource) continue;
      if (!old) added.add(name);
      else if (old.version !== resource.version) changed.add(name);
    }
    // Same size and nothing added: nothing can have been removed.
    if (added.size > 0 || before.size !== after.size)
      for (const name of before.keys()) if (!after.has(name)) removed.add(name);
    if (added.size + changed.size + removed.size > 0) result.set(type, { added, changed, removed });
  }
  return result;
}

/**
 * The xDS snapshot of every proxy, keyed by proxy key. Snapshots are stored by reference and must
 * not be mutated after `setSnapshot`: the ADS server shares their resources (and caches encodings
 * keyed by their per-type maps) across every stream.
 */
export class SnapshotCache {
  private readonly snapshots = new Map<string, XdsSnapshot>();
  private readonly listeners = new Set<SnapshotListener>();

  /**
   * Stores `snapshot` for `key` and tells every subscriber which resources were added, changed
   * (different `version`) or removed. Nothing is told when nothing changed, except the first
   * snapshot of a key, which is always announced (a proxy may be waiting for it even if it is empty).
   * Returns the change, or undefined when there was none.
   */
  setSnapshot(key: string, snapshot: XdsSnapshot): SnapshotChange | undefined {
    const previous = this.snapshots.get(key);
    this.snapshots.set(key, snapshot);
    const changes = diffSnapshots(previous, snapshot);
    if (previous && changes.size === 0) return undefined;
    const change: SnapshotChange = { key, snapshot, previous, changes };
    let failure: unknown;
    let failed = false;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
    if (failed) throw failure;
    return change;
  }

  getSnapshot(key: string): XdsSnapshot | undefined {
    return this.snapshots.get(key);
  }

  keys(): string[] {
    return [...this.snapshots.keys()];
  }

  /** Calls `listener` on every change; returns the function that unsubscribes it. */
  subscribe(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}

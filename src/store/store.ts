import type { Kind, Resource, ResourceKey, Status } from '../api/resource';
import type { ServiceEndpointsMap } from '../api/snapshot';

/** Where a resource came from, for error messages (file and line in the file store). */
export interface SourceLocation {
  file?: string;
  line?: number;
}

/** A document the store could not turn into a resource: a YAML syntax error, a missing kind, ... */
export interface LoadError {
  location: SourceLocation;
  /** Set when the document names itself well enough to report against (kind/namespace/name). */
  key?: ResourceKey;
  message: string;
}

export interface StoredResource {
  resource: Resource;
  location: SourceLocation;
}

export interface StoreContents {
  resources: StoredResource[];
  errors: LoadError[];
}

export type StoreListener = (contents: StoreContents) => void;

/** Endpoints of Kubernetes Services, kept current. */
export interface EndpointSource {
  current(): ServiceEndpointsMap;
  /** Calls `listener` after every (debounced) change; returns a stop function. */
  watch(listener: (endpoints: ServiceEndpointsMap) => void): () => void;
}

/** Thrown when a write finds that the stored resource changed since it was read. */
export class ConflictError extends Error {}

/**
 * A place resources live (a directory of YAML files, memory, Kubernetes). Every implementation
 * validates nothing: parsing and validation live in src/api so that every store behaves the same.
 */
export interface ResourceStore {
  /** Reads everything now. */
  load(): Promise<StoreContents>;
  /** Calls `listener` with the full contents after every (debounced) change; returns a stop function. */
  watch(listener: StoreListener): () => void;
  /**
   * Creates or replaces one resource. With `expectedResourceVersion`, fails with ConflictError when the
   * stored copy has changed since. Atomic: a reader never sees a half-written resource.
   */
  apply(resource: Resource, expectedResourceVersion?: string): Promise<Resource>;
  delete(key: ResourceKey): Promise<void>;
  /** Records statuses without touching what the user wrote. */
  writeStatuses(statuses: ReadonlyArray<{ key: ResourceKey; status: Status }>): Promise<void>;
  readStatuses(): Promise<Map<string, Status>>;
  close(): Promise<void>;
  /** Service endpoints, in the stores that have them (Kubernetes): complete once `load()` resolves. */
  readonly endpoints?: EndpointSource;
}

export type { Kind };

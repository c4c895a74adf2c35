/**
 * The generic resource envelope shared by every kind: Kubernetes-style `apiVersion`, `kind`, `metadata`,
 * a kind-specific body (`spec`, or `type`/`data` for Secrets) and a `status` written by Sluice.
 */
export const API_VERSION = 'sluice.dev/v1';

export const KINDS = ['Upstream', 'VirtualService', 'RouteTable', 'Gateway', 'Secret', 'Settings'] as const;
export type Kind = (typeof KINDS)[number];

export interface Metadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Bumped by the store on every change of the user's content (not of the status). */
  generation?: number;
  resourceVersion?: string;
}

export type State = 'Pending' | 'Accepted' | 'Rejected' | 'Warning';

export interface Status {
  state: State;
  reasons?: string[];
  reportedBy?: string;
  observedGeneration?: number;
}

export interface Resource<TSpec = Record<string, unknown>> {
  apiVersion: string;
  kind: Kind;
  metadata: Metadata;
  spec?: TSpec;
  /** Secret only. */
  type?: string;
  /** Secret only. */
  data?: Record<string, string>;
  status?: Status;
}

export interface ResourceRef {
  name: string;
  namespace?: string;
}

export interface ResourceKey {
  kind: Kind;
  namespace: string;
  name: string;
}

export const DEFAULT_NAMESPACE = 'default';

export function keyOf(resource: Pick<Resource, 'kind' | 'metadata'>): ResourceKey {
  return { kind: resource.kind, namespace: resource.metadata.namespace, name: resource.metadata.name };
}

export function keyString(key: ResourceKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

/** A ref's namespace defaults to the namespace of the resource that holds it. */
export function resolveRef(ref: ResourceRef, fromNamespace: string): { name: string; namespace: string } {
  return { name: ref.name, namespace: ref.namespace || fromNamespace };
}

import type { Kind } from '../../api/resource';

/** A namespaced Kubernetes resource type, enough to build its REST paths. */
export interface ResourceType {
  /** `''` for the core group. */
  group: string;
  version: string;
  /** The path segment, e.g. `upstreams`. */
  plural: string;
  kind: string;
}

export const SLUICE_GROUP = 'sluice.dev';

const sluiceCrd = (kind: Kind, plural: string): ResourceType => ({
  group: SLUICE_GROUP,
  version: 'v1',
  plural,
  kind,
});

/** The CRDs in crds/, by Sluice kind (a Sluice Secret is a core Secret, see SECRETS). */
export const SLUICE_CRDS: Readonly<Record<Exclude<Kind, 'Secret'>, ResourceType>> = {
  Upstream: sluiceCrd('Upstream', 'upstreams'),
  VirtualService: sluiceCrd('VirtualService', 'virtualservices'),
  RouteTable: sluiceCrd('RouteTable', 'routetables'),
  Gateway: sluiceCrd('Gateway', 'gateways'),
  Settings: sluiceCrd('Settings', 'settings'),
};

export const SECRETS: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' };
export const SERVICES: ResourceType = { group: '', version: 'v1', plural: 'services', kind: 'Service' };
export const PODS: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
export const ENDPOINT_SLICES: ResourceType = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  kind: 'EndpointSlice',
};
/** Cluster-scoped: listed and watched across all namespaces only. */
export const NAMESPACES: ResourceType = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' };
/** Read by `sluice check --kube`: is the control plane's own Deployment ready? */
export const DEPLOYMENTS: ResourceType = {
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  kind: 'Deployment',
};
export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
};

export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** `upstreams.sluice.dev`, `secrets`: how kubectl and RBAC rules name the type. */
export function qualifiedName(type: ResourceType): string {
  return type.group ? `${type.plural}.${type.group}` : type.plural;
}

/** The REST path of a collection (all namespaces when `namespace` is undefined) or of one object. */
export function resourcePath(
  type: ResourceType,
  namespace?: string,
  name?: string,
  subresource?: 'status',
): string {
  const parts = [type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`];
  if (namespace !== undefined) parts.push('namespaces', encodeURIComponent(namespace));
  parts.push(type.plural);
  if (name !== undefined) parts.push(encodeURIComponent(name));
  if (subresource) parts.push(subresource);
  return parts.join('/');
}

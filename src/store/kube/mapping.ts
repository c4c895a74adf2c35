import {
  API_VERSION,
  DEFAULT_NAMESPACE,
  type Kind,
  type Resource,
  type ResourceKey,
  type Status,
} from '../../api/resource';
import type { KubeObject, ObjectMeta } from './kube-client';
import { apiVersionOf, SECRETS, SLUICE_CRDS, type ResourceType } from './resource-types';
import { KUBE_TLS_SECRET_TYPE, toKubeTlsKeys, toSluiceTlsKeys } from './tls-secrets';

/**
 * Kubernetes objects <-> Sluice resources. A Sluice CRD object is a resource as it is (metadata reduced
 * to what Sluice knows); a Sluice Secret is a core Secret labelled `sluice.dev/secret-type: TYPE`, or
 * an unlabelled one of type `kubernetes.io/tls` (a `tls` Secret), its data base64-encoded there and plain
 * text in Sluice.
 */

/** The label that makes a core Secret a Sluice Secret; its value is the Sluice Secret's `type`. */
export const SECRET_TYPE_LABEL = 'sluice.dev/secret-type';

/** kubectl's bookkeeping: a copy of the whole object (of a Secret, its data), never Sluice's business. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export function typeOfKind(kind: Kind): ResourceType {
  const type = kind === 'Secret' ? SECRETS : (SLUICE_CRDS[kind] as ResourceType | undefined);
  if (!type) throw new Error(`${kind} is not a kind Sluice keeps in Kubernetes`);
  return type;
}

/** Where a resource came from, in messages: `namespace/Kind/name`. */
export function locationOf(key: ResourceKey): string {
  return `${key.namespace}/${key.kind}/${key.name}`;
}

/** A Secret Sluice may write and delete: only labelled ones (a `kubernetes.io/tls` Secret is read only). */
export function isSluiceSecret(object: KubeObject): boolean {
  return Boolean(object.metadata.labels?.[SECRET_TYPE_LABEL]);
}

/** The Sluice type of a core Secret: its label, else `tls` for a `kubernetes.io/tls` Secret. */
function sluiceSecretType(object: KubeObject): string | undefined {
  return (
    object.metadata.labels?.[SECRET_TYPE_LABEL] || (object.type === KUBE_TLS_SECRET_TYPE ? 'tls' : undefined)
  );
}

/** A Sluice CRD object or a Sluice Secret (labelled, or `kubernetes.io/tls`), as the Sluice resource of kind `kind`. */
export function toResource(kind: Kind, object: KubeObject): Resource {
  const { name, namespace = DEFAULT_NAMESPACE, generation, resourceVersion } = object.metadata;
  const labels = { ...object.metadata.labels };
  const annotations = { ...object.metadata.annotations };
  delete annotations[LAST_APPLIED];
  if (kind === 'Secret') delete labels[SECRET_TYPE_LABEL];
  const resource: Resource = {
    apiVersion: API_VERSION,
    kind,
    metadata: {
      name,
      namespace,
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ...(generation !== undefined ? { generation } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
  };
  if (kind === 'Secret') {
    resource.type = sluiceSecretType(object);
    const data = decodeData(object.data as Record<string, string> | undefined);
    resource.data = object.type === KUBE_TLS_SECRET_TYPE ? toSluiceTlsKeys(data) : data;
  } else {
    if (object.spec !== undefined) resource.spec = object.spec as Record<string, unknown>;
    if (object.status !== undefined) resource.status = object.status as Status;
  }
  return resource;
}

/**
 * The Kubernetes object for `resource` (its user content: no status), built on `current` when it exists
 * so that what Sluice does not know of (finalizers, owner references, kubectl's annotation) is kept.
 * The resourceVersion is `current`'s: a replace is conditional on what was read.
 */
export function toKubeObject(resource: Resource, current?: KubeObject): KubeObject {
  const type = typeOfKind(resource.kind);
  const { name, namespace, labels, annotations } = resource.metadata;
  const kept = current?.metadata.annotations?.[LAST_APPLIED];
  const metadata: ObjectMeta = {
    ...current?.metadata,
    name,
    namespace,
    labels: { ...labels },
    annotations: { ...annotations, ...(kept !== undefined ? { [LAST_APPLIED]: kept } : {}) },
  };
  const object: KubeObject = {
    apiVersion: apiVersionOf(type),
    kind: type.kind,
    metadata,
  };
  if (resource.kind === 'Secret') {
    if (!resource.type)
      throw new Error(`Secret ${namespace}/${name} has no type (it becomes the ${SECRET_TYPE_LABEL} label)`);
    metadata.labels = { ...metadata.labels, [SECRET_TYPE_LABEL]: resource.type };
    object.type = current?.type ?? 'Opaque';
    // A labelled kubernetes.io/tls Secret keeps the keys the API server requires of its type.
    const data = resource.data ?? {};
    object.data = encodeData(object.type === KUBE_TLS_SECRET_TYPE ? toKubeTlsKeys(data) : data);
  } else if (resource.spec !== undefined) {
    object.spec = resource.spec;
  }
  return object;
}

function decodeData(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
  );
}

function encodeData(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
  );
}

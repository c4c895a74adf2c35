import { isApiError, KubeApiError } from '../store/kube/kube-client';
import { qualifiedName, SLUICE_CRDS, type ResourceType } from '../store/kube/resource-types';
import { UserError } from './errors';
import type { KubeConnection } from './kube-options';

/**
 * Lists one object of each Sluice CRD in each namespace read, so that what would make reading the
 * cluster fail (or, for an API server that cannot be reached, retry for ever) is said plainly before the
 * store starts: the server unreachable, the credentials refused, CRDs not installed, a list forbidden.
 */
export async function assertClusterReadable({ client, namespaces }: KubeConnection): Promise<void> {
  const missing = new Set<string>();
  for (const type of Object.values(SLUICE_CRDS)) {
    for (const namespace of namespaces ?? [undefined]) {
      try {
        await client.list(type, { namespace, limit: 1 });
      } catch (error) {
        if (!isApiError(error, 404)) throw accessError(error, client.serverUrl, type, namespace);
        missing.add(qualifiedName(type));
        break;
      }
    }
  }
  if (missing.size > 0) {
    throw new UserError(
      `the Sluice CRDs are not installed in the cluster at ${client.serverUrl} (missing: ${[...missing].join(', ')}): kubectl apply -k crds/`,
    );
  }
}

function accessError(
  error: unknown,
  server: string,
  type: ResourceType,
  namespace: string | undefined,
): UserError {
  const what = `${qualifiedName(type)}${namespace === undefined ? '' : ` in ${namespace}`}`;
  const message = (error as Error).message;
  if (!(error instanceof KubeApiError)) {
    return new UserError(
      `cannot reach the Kubernetes API server at ${server} (${message}): check the kubeconfig (--kubeconfig, $KUBECONFIG) and its current context (kubectl config current-context)`,
    );
  }
  if (error.code === 401) {
    return new UserError(
      `the API server at ${server} refused the kubeconfig's credentials (${message}): log in again, or choose another context (kubectl config use-context) or --kubeconfig`,
    );
  }
  if (error.code === 403) {
    return new UserError(
      `this account may not list ${what} (${message}): it needs get and list on the Sluice CRDs, Secrets, Services and EndpointSlices (docs/kubernetes.md, RBAC)`,
    );
  }
  return new UserError(`the API server at ${server} failed to list ${what}: ${message}`);
}

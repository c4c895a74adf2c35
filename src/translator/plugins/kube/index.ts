import { keyOf } from '../../../api/resource';
import type { KubeUpstreamSpec, Upstream } from '../../../api/types';
import { clusterName, dnsCluster } from '../../envoy/clusters';
import type { TranslatorPlugin, UpstreamClusters } from '../../plugin';

/**
 * `kube` upstreams: a Kubernetes Service port. Without an endpoints source in the store, Envoy resolves
 * the Service's cluster DNS name (SERVICE.NAMESPACE.svc.cluster.local), which works wherever Envoy runs
 * inside the cluster.
 */
function kubeClusters(upstream: Upstream): UpstreamClusters {
  const spec = upstream.spec?.kube as KubeUpstreamSpec;
  const namespace = spec.serviceNamespace || upstream.metadata.namespace;
  const host = `${spec.serviceName}.${namespace}.svc.cluster.local`;
  const cluster = dnsCluster(
    { name: clusterName(keyOf(upstream)), connectTimeout: upstream.spec?.connectTimeout, http2: spec.http2 },
    [{ address: host, port: spec.servicePort }],
  );
  return { clusters: [cluster], loadAssignments: [] };
}

export const kubePlugin: TranslatorPlugin = {
  name: 'kube',
  upstreamTypes: ['kube'],
  upstreamClusters: kubeClusters,
};

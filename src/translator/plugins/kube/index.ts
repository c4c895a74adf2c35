import { keyOf } from '../../../api/resource';
import { nameKey, type ServiceEndpoints } from '../../../api/snapshot';
import type { KubeUpstreamSpec, Upstream } from '../../../api/types';
import {
  dnsCluster,
  edsCluster,
  type Endpoint,
  loadAssignment,
  upstreamClusterName,
} from '../../envoy/clusters';
import type { TranslationContext, TranslatorPlugin, UpstreamClusters } from '../../plugin';

function kubeSpec(upstream: Upstream): KubeUpstreamSpec & { serviceNamespace: string } {
  const spec = upstream.spec?.kube as KubeUpstreamSpec;
  return { ...spec, serviceNamespace: spec.serviceNamespace || upstream.metadata.namespace };
}

/** The endpoints of the upstream's Service, when the store follows that Service (Kubernetes). */
function serviceEndpoints(upstream: Upstream, ctx: TranslationContext): ServiceEndpoints | undefined {
  const { serviceName, serviceNamespace } = kubeSpec(upstream);
  return ctx.snapshot.endpoints?.get(nameKey(serviceNamespace, serviceName));
}

/**
 * The ready endpoints of one Service port. EndpointSlices name their ports after the Service's ports and
 * hold the pods' port numbers (a named targetPort may differ from pod to pod).
 */
function readyEndpoints(service: ServiceEndpoints, portName: string): Endpoint[] {
  const seen = new Set<string>();
  const endpoints: Endpoint[] = [];
  for (const { address, port, portName: servedPort, ready } of service.endpoints) {
    const id = `${address} ${port}`;
    // An address can stand in two slices for a moment while the controller moves it.
    if (!ready || servedPort !== portName || seen.has(id)) continue;
    seen.add(id);
    endpoints.push({ address, port });
  }
  return endpoints;
}

/**
 * `kube` upstreams: a Kubernetes Service port. Where the store follows the Service's EndpointSlices
 * (the Kubernetes store), an EDS cluster whose ClusterLoadAssignment holds the ready endpoints, so that
 * pod churn re-sends endpoints only. Elsewhere (the file store, or a Service in a namespace the store
 * does not watch), Envoy resolves the Service's cluster DNS name, SERVICE.NAMESPACE.svc.cluster.local,
 * which works wherever Envoy runs inside the cluster.
 */
function kubeClusters(upstream: Upstream, ctx: TranslationContext): UpstreamClusters {
  const spec = kubeSpec(upstream);
  const name = upstreamClusterName(upstream);
  const options = { name, connectTimeout: upstream.spec?.connectTimeout, http2: spec.http2 };
  const service = serviceEndpoints(upstream, ctx);
  if (!service) {
    const host = `${spec.serviceName}.${spec.serviceNamespace}.svc.cluster.local`;
    return {
      clusters: [dnsCluster(options, [{ address: host, port: spec.servicePort }])],
      loadAssignments: [],
    };
  }
  const port = service.ports.find((candidate) => candidate.port === spec.servicePort);
  if (!port) {
    const ports = service.ports.map((candidate) => candidate.port).join(', ') || 'none';
    ctx.reports.warn(
      keyOf(upstream),
      `spec.kube.servicePort: Service ${spec.serviceNamespace}/${spec.serviceName} has no TCP port ${spec.servicePort} (its ports: ${ports}); the upstream has no endpoints`,
    );
  }
  const endpoints = port ? readyEndpoints(service, port.name) : [];
  return { clusters: [edsCluster(options)], loadAssignments: [loadAssignment(name, endpoints)] };
}

export const kubePlugin: TranslatorPlugin = {
  name: 'kube',
  upstreamTypes: ['kube'],
  upstreamClusters: kubeClusters,
  upstreamInputs: serviceEndpoints,
};

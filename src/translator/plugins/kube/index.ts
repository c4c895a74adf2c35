import { keyOf } from '../../../api/resource';
import { nameKey, type ServiceEndpoint, type ServiceEndpoints } from '../../../api/snapshot';
import type { KubeUpstreamSpec, Upstream } from '../../../api/types';
import {
  dnsCluster,
  edsCluster,
  loadAssignment,
  upstreamClusterName,
  type ClusterOptions,
  type Endpoint,
} from '../../envoy/clusters';
import type { Json, TranslationContext, TranslatorPlugin, UpstreamClusters } from '../../plugin';

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
 * Whether the endpoint's Pod carries every label of `selector` (as Gloo's `kube.selector`). With a
 * selector, an endpoint without a known Pod is left out: nothing says it is one of the Pods meant.
 */
function selected(endpoint: ServiceEndpoint, selector: Record<string, string> | undefined): boolean {
  const wanted = Object.entries(selector ?? {});
  if (wanted.length === 0) return true;
  const labels = endpoint.podLabels;
  return labels !== undefined && wanted.every(([label, value]) => labels[label] === value);
}

/**
 * The ready endpoints of one Service port, those of the selected Pods only. EndpointSlices name their
 * ports after the Service's ports and hold the pods' port numbers (a named targetPort may differ from
 * pod to pod).
 */
function readyEndpoints(
  service: ServiceEndpoints,
  portName: string,
  selector: Record<string, string> | undefined,
): Endpoint[] {
  const seen = new Set<string>();
  const endpoints: Endpoint[] = [];
  for (const endpoint of service.endpoints) {
    const { address, port, portName: servedPort, ready } = endpoint;
    const id = `${address} ${port}`;
    // An address can stand in two slices for a moment while the controller moves it.
    if (!ready || servedPort !== portName || seen.has(id) || !selected(endpoint, selector)) continue;
    seen.add(id);
    endpoints.push({ address, port });
  }
  return endpoints;
}

/** The DNS fallback: a cluster of the Service's DNS name, which leads to all its Pods. */
function serviceDnsCluster(upstream: Upstream, options: ClusterOptions, ctx: TranslationContext): Json {
  const { serviceName, serviceNamespace, servicePort, selector } = kubeSpec(upstream);
  if (Object.keys(selector ?? {}).length > 0) {
    ctx.reports.warn(
      keyOf(upstream),
      `spec.kube.selector: ignored: Sluice knows no endpoints of Service ${serviceNamespace}/${serviceName} (the file store, a namespace not watched, or no such Service), and its DNS name reaches all its Pods`,
    );
  }
  const host = `${serviceName}.${serviceNamespace}.svc.cluster.local`;
  return dnsCluster(options, [{ address: host, port: servicePort }]);
}

/**
 * `kube` upstreams: a Kubernetes Service port. Where the store follows the Service's EndpointSlices
 * (the Kubernetes store), an EDS cluster whose ClusterLoadAssignment holds the ready endpoints (of the
 * Pods `selector` picks, when set), so that pod churn and relabels re-send endpoints only. Elsewhere
 * (the file store, or a Service in a namespace the store does not watch), Envoy resolves the Service's
 * cluster DNS name, SERVICE.NAMESPACE.svc.cluster.local, which works wherever Envoy runs inside the
 * cluster but reaches every Pod of the Service: a selector is then ignored, with a warning.
 */
function kubeClusters(upstream: Upstream, ctx: TranslationContext): UpstreamClusters {
  const spec = kubeSpec(upstream);
  const name = upstreamClusterName(upstream);
  const options = { name, connectTimeout: upstream.spec?.connectTimeout, http2: spec.http2 };
  const service = serviceEndpoints(upstream, ctx);
  if (!service) return { clusters: [serviceDnsCluster(upstream, options, ctx)], loadAssignments: [] };
  const port = service.ports.find((candidate) => candidate.port === spec.servicePort);
  if (!port) {
    const ports = service.ports.map((candidate) => candidate.port).join(', ') || 'none';
    ctx.reports.warn(
      keyOf(upstream),
      `spec.kube.servicePort: Service ${spec.serviceNamespace}/${spec.serviceName} has no TCP port ${spec.servicePort} (its ports: ${ports}); the upstream has no endpoints`,
    );
  }
  const endpoints = port ? readyEndpoints(service, port.name, spec.selector) : [];
  return { clusters: [edsCluster(options)], loadAssignments: [loadAssignment(name, endpoints)] };
}

export const kubePlugin: TranslatorPlugin = {
  name: 'kube',
  upstreamTypes: ['kube'],
  upstreamClusters: kubeClusters,
  upstreamInputs: serviceEndpoints,
};

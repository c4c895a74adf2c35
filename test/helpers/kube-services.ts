import type { KubeObject } from '../../src/store/kube/kube-client';

/** Core Services, EndpointSlices, Pods and Namespaces as the API server holds them, for the loopback server. */

export interface ServicePortSpec {
  port: number;
  name?: string;
  protocol?: string;
  targetPort?: number | string;
  appProtocol?: string;
}

export function service(
  name: string,
  ports: ServicePortSpec[],
  { namespace = 'default', labels }: { namespace?: string; labels?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, ...(labels ? { labels } : {}) },
    spec: { type: 'ClusterIP', selector: { app: name }, ports },
  };
}

export interface SliceEndpoint {
  address: string;
  ready?: boolean;
  /** The Pod it stands for (`targetRef`, in the slice's namespace). */
  pod?: string;
}

/** An EndpointSlice of `serviceName`, as the EndpointSlice controller writes one. */
export function endpointSlice(
  serviceName: string,
  name: string,
  ports: Array<{ name?: string; port: number }>,
  endpoints: SliceEndpoint[],
  { namespace = 'default', addressType = 'IPv4' }: { namespace?: string; addressType?: string } = {},
): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType,
    ports: ports.map((port) => ({ protocol: 'TCP', ...port })),
    endpoints: endpoints.map(({ address, ready = true, pod }) => ({
      addresses: [address],
      conditions: { ready, serving: ready, terminating: false },
      ...(pod ? { targetRef: { kind: 'Pod', namespace, name: pod } } : {}),
    })),
  };
}

export function namespace(name: string, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels ? { labels } : {}) } };
}

export function pod(
  name: string,
  labels: Record<string, string>,
  { namespace = 'default' }: { namespace?: string } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: 'app', image: 'example/app:1' }] },
    status: { phase: 'Running' },
  };
}

/**
 * The Kubernetes benchmark's cluster: `services` Services over NAMESPACES namespaces, each with one
 * port and one EndpointSlice of `endpoints` ready pods, plus one VirtualService routing to the first
 * WATCHED Services (so that the proxy has a listener and a RouteConfiguration). The change made during
 * the push measurement is to the first Service's slice: a pod added or moved.
 */
import { clusterName } from '../src/translator/envoy/clusters';
import { discoveredUpstreamName } from '../src/store/kube/service-discovery';
import type { KubeObject } from '../test/helpers/kube-api-server';
import { endpointSlice, namespace, service } from '../test/helpers/kube-services';

export const NAMESPACES = 10;
/** Services (clusters) each ADS stream subscribes to; the changed one is the first. */
export const WATCHED = 10;
export const SERVICE_PORT = 80;
const POD_PORT = 8080;

export interface KubeWorld {
  services: number;
  endpoints: number;
}

const namespaceName = (n: number): string => `ns-${String(n).padStart(2, '0')}`;

function namespaceOf(world: KubeWorld, i: number): string {
  return namespaceName(Math.floor((i * NAMESPACES) / world.services));
}

function serviceName(i: number): string {
  return `svc-${String(i).padStart(5, '0')}`;
}

/** The discovered Upstream of Service `i`: `NAMESPACE-SERVICE-PORT`. */
function upstreamOf(world: KubeWorld, i: number): { name: string; namespace: string } {
  const ns = namespaceOf(world, i);
  return { name: discoveredUpstreamName(ns, serviceName(i), SERVICE_PORT), namespace: ns };
}

/** The EDS cluster (and ClusterLoadAssignment) name of Service `i`. */
export function clusterOf(world: KubeWorld, i: number): string {
  return clusterName(upstreamOf(world, i));
}

function podAddress(i: number, pod: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${pod + 1}`;
}

function sliceOf(world: KubeWorld, i: number, addresses: string[]): KubeObject {
  const name = serviceName(i);
  return endpointSlice(
    name,
    `${name}-x7k2p`,
    [{ name: 'http', port: POD_PORT }],
    addresses.map((address) => ({ address })),
    { namespace: namespaceOf(world, i) },
  );
}

/** Every object of the world, Namespaces first. */
export function* worldObjects(world: KubeWorld): Generator<KubeObject> {
  for (let n = 0; n < NAMESPACES; n++) yield namespace(namespaceName(n));
  for (let i = 0; i < world.services; i++) {
    const ns = namespaceOf(world, i);
    yield service(serviceName(i), [{ name: 'http', port: SERVICE_PORT, targetPort: 'http' }], {
      namespace: ns,
    });
    const pods = Array.from({ length: world.endpoints }, (_, pod) => podAddress(i, pod));
    yield sliceOf(world, i, pods);
  }
  yield {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name: 'bench', namespace: namespaceOf(world, 0) },
    spec: {
      virtualHost: {
        domains: ['*'],
        routes: Array.from({ length: WATCHED }, (_, i) => ({
          matchers: [{ prefix: `/${serviceName(i)}` }],
          routeAction: { single: { upstream: upstreamOf(world, i) } },
        })),
      },
    },
  };
}

/**
 * The first Service's slice after change `seq` (1, 2, ...): odd changes scale it to one pod more,
 * even ones go back to `endpoints` pods with the first pod moved to a new address.
 */
export function changedSlice(world: KubeWorld, seq: number): KubeObject {
  const pods = Array.from({ length: world.endpoints + (seq % 2) }, (_, pod) => podAddress(0, pod));
  if (seq % 2 === 0) pods[0] = `10.200.${(seq >> 8) & 255}.${seq & 255}`;
  return sliceOf(world, 0, pods);
}

/** Endpoints of the first Service after change `seq`. */
export function endpointsAfter(world: KubeWorld, seq: number): number {
  return world.endpoints + (seq % 2);
}

import type { ServiceSpec, Upstream } from '../../api/types';

/** The serviceSpec (REST or gRPC functions) of a service upstream (static or kube). */
export function serviceSpecOf(upstream: Upstream): ServiceSpec | undefined {
  return (upstream.spec?.static ?? upstream.spec?.kube)?.serviceSpec;
}

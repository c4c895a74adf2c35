import { readFileSync } from 'fs';
import * as grpc from '@grpc/grpc-js';
import type { KubeUpstreamSpec, StaticUpstreamSpec, Upstream } from '../../../api/types';
import { GRPC_DISCOVERER } from '../../../translator/plugins/grpc/services';
import type { FunctionDiscoverer } from '../discoverer';
import { reflectServices, type ReflectionTarget } from './reflect';

/** One reflection conversation (listing, every descriptor) must finish within this. */
const REFLECTION_TIMEOUT_MS = 10_000;

function serviceUpstream(upstream: Upstream): StaticUpstreamSpec | KubeUpstreamSpec | undefined {
  return upstream.spec?.static ?? upstream.spec?.kube;
}

/** The upstream's first host (static; TLS with its CA and SNI) or its Service's cluster DNS name (kube). */
function targetOf(upstream: Upstream, signal?: AbortSignal): ReflectionTarget {
  const common = { timeoutMs: REFLECTION_TIMEOUT_MS, signal };
  const spec = upstream.spec ?? {};
  if (spec.kube) {
    const kube = spec.kube as KubeUpstreamSpec;
    const namespace = kube.serviceNamespace || upstream.metadata.namespace;
    return {
      ...common,
      address: `${kube.serviceName}.${namespace}.svc.cluster.local:${kube.servicePort}`,
      credentials: grpc.credentials.createInsecure(),
    };
  }
  const { hosts, useTls, sni, caFile } = spec.static as StaticUpstreamSpec;
  const host = hosts[0];
  const address = `${host.address.includes(':') ? `[${host.address}]` : host.address}:${host.port}`;
  if (!useTls) return { ...common, address, credentials: grpc.credentials.createInsecure() };
  return {
    ...common,
    address,
    credentials: grpc.credentials.createSsl(caFile ? readFileSync(caFile) : null),
    channelOptions: sni ? { 'grpc.ssl_target_name_override': sni, 'grpc.default_authority': sni } : undefined,
  };
}

/**
 * gRPC server reflection for HTTP/2 service upstreams (static, kube): the services (but reflection and
 * health themselves) with their methods and streaming kinds, and a FileDescriptorSet of every file they
 * need, which the gRPC-JSON transcoder is built from.
 */
export const grpcReflectionDiscoverer: FunctionDiscoverer = {
  name: GRPC_DISCOVERER,
  upstreamTypes: ['static', 'kube'],
  pollIntervalKey: 'grpc',
  cloud: false,
  accepts: (upstream) => serviceUpstream(upstream)?.http2 === true,
  defaultPollIntervalMs: 30_000,
  async discover(upstream, ctx) {
    const reflected = await reflectServices(targetOf(upstream, ctx.signal));
    return {
      functions: reflected.services as unknown as Array<Record<string, unknown>>,
      descriptorSet: reflected.descriptorSet.toString('base64'),
    };
  },
};

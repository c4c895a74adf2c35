import { isIP } from 'net';
import type { ResourceKey } from '../../api/resource';
import type { Upstream } from '../../api/types';
import type { Json } from '../plugin';
import { durationMs, protoDuration } from './durations';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Debian's CA bundle, where Envoy's container images also keep it. */
export const DEFAULT_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * JSON parts that are the same in every resource are shared, frozen: fewer objects for the garbage
 * collector to copy (a translation holds tens of thousands of resources).
 */
const ADS_CONFIG_SOURCE: Json = Object.freeze({ ads: Object.freeze({}), resourceApiVersion: 'V3' });
const EDS_CLUSTER_CONFIG: Json = Object.freeze({ edsConfig: ADS_CONFIG_SOURCE });
const ANY_LOCALITY: Json = Object.freeze({});

export function adsConfigSource(): Json {
  return ADS_CONFIG_SOURCE;
}

/** Gloo's convention, so that Envoy stats read the same: NAME_NAMESPACE. */
export function clusterName(upstream: Pick<ResourceKey, 'name' | 'namespace'>): string {
  return `${upstream.name}_${upstream.namespace}`;
}

const upstreamClusterNames = new WeakMap<Upstream, string>();

/**
 * clusterName of an Upstream, one string per Upstream object: its cluster and every route to it share
 * that string instead of each building (and keeping) its own.
 */
export function upstreamClusterName(upstream: Upstream): string {
  let name = upstreamClusterNames.get(upstream);
  if (name === undefined) upstreamClusterNames.set(upstream, (name = clusterName(upstream.metadata)));
  return name;
}

export interface Endpoint {
  address: string;
  port: number;
  weight?: number;
}

function lbEndpoint(endpoint: Endpoint): Json {
  const json: Json = {
    endpoint: { address: { socketAddress: { address: endpoint.address, portValue: endpoint.port } } },
  };
  if (endpoint.weight) json.loadBalancingWeight = endpoint.weight;
  return json;
}

/** One locality with a weight: proxyless gRPC clients drop localities without one. */
export function loadAssignment(cluster: string, endpoints: Endpoint[]): Json {
  return {
    clusterName: cluster,
    endpoints: [{ locality: ANY_LOCALITY, loadBalancingWeight: 1, lbEndpoints: endpoints.map(lbEndpoint) }],
  };
}

export interface ClusterOptions {
  name: string;
  connectTimeout?: string;
  tls?: { sni?: string; caFile?: string };
  http2?: boolean;
  metadata?: Json;
}

const DEFAULT_CONNECT_TIMEOUT = protoDuration(DEFAULT_CONNECT_TIMEOUT_MS);

function connectTimeoutOf(options: ClusterOptions): string {
  return options.connectTimeout ? protoDuration(durationMs(options.connectTimeout)) : DEFAULT_CONNECT_TIMEOUT;
}

function baseCluster(options: ClusterOptions): Json {
  const cluster: Json = { name: options.name, connectTimeout: connectTimeoutOf(options) };
  if (options.tls) {
    const commonTlsContext: Json = {
      validationContext: { trustedCa: { filename: options.tls.caFile || DEFAULT_CA_FILE } },
      ...(options.http2 ? { alpnProtocols: ['h2'] } : {}),
    };
    cluster.transportSocket = {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        ...(options.tls.sni ? { sni: options.tls.sni } : {}),
        commonTlsContext,
      },
    };
  }
  if (options.http2) {
    cluster.typedExtensionProtocolOptions = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: {} },
      },
    };
  }
  if (options.metadata) cluster.metadata = options.metadata;
  return cluster;
}

/** An EDS cluster over ADS; its endpoints travel as a ClusterLoadAssignment. */
export function edsCluster(options: ClusterOptions): Json {
  // The usual one (no TLS, HTTP/2 or metadata) made whole: no members added later.
  if (!options.tls && !options.http2 && !options.metadata) {
    const connectTimeout = connectTimeoutOf(options);
    return { name: options.name, connectTimeout, type: 'EDS', edsClusterConfig: EDS_CLUSTER_CONFIG };
  }
  const cluster = baseCluster(options);
  cluster.type = 'EDS';
  cluster.edsClusterConfig = EDS_CLUSTER_CONFIG;
  return cluster;
}

/**
 * A DNS cluster with inline endpoints. LOGICAL_DNS (one host) is accepted by proxyless gRPC clients too;
 * STRICT_DNS (several hosts) only by Envoy.
 */
export function dnsCluster(options: ClusterOptions, endpoints: Endpoint[]): Json {
  const cluster = baseCluster(options);
  cluster.type = endpoints.length === 1 ? 'LOGICAL_DNS' : 'STRICT_DNS';
  cluster.dnsLookupFamily = 'V4_PREFERRED';
  cluster.loadAssignment = loadAssignment(options.name, endpoints);
  return cluster;
}

export function isIpAddress(address: string): boolean {
  return isIP(address) !== 0;
}

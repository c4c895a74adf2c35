import type { StaticUpstreamSpec, Upstream } from '../../../api/types';
import {
  dnsCluster,
  edsCluster,
  isIpAddress,
  loadAssignment,
  upstreamClusterName,
} from '../../envoy/clusters';
import type { TranslatorPlugin, UpstreamClusters } from '../../plugin';

/**
 * `static` upstreams: fixed hosts. IP addresses become an EDS cluster (endpoints pushed over ADS, so a
 * change of hosts does not re-create the cluster); DNS names become a DNS cluster.
 */
function staticClusters(upstream: Upstream): UpstreamClusters {
  const spec = upstream.spec?.static as StaticUpstreamSpec;
  const name = upstreamClusterName(upstream);
  const firstHost = spec.hosts[0].address;
  const tls = spec.useTls
    ? { sni: spec.sni || (isIpAddress(firstHost) ? undefined : firstHost), caFile: spec.caFile }
    : undefined;
  const options = { name, connectTimeout: upstream.spec?.connectTimeout, tls, http2: spec.http2 };
  if (spec.hosts.every((host) => isIpAddress(host.address))) {
    return { clusters: [edsCluster(options)], loadAssignments: [loadAssignment(name, spec.hosts)] };
  }
  return { clusters: [dnsCluster(options, spec.hosts)], loadAssignments: [] };
}

export const staticPlugin: TranslatorPlugin = {
  name: 'static',
  upstreamTypes: ['static'],
  upstreamClusters: staticClusters,
};

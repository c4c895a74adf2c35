import { isIP } from 'net';
import { DEFAULT_NAMESPACE, keyOf, keyString, type ResourceKey } from '../../api/resource';
import { lookup, type ApiSnapshot } from '../../api/snapshot';
import type { Gateway, GatewaySpec, VirtualService } from '../../api/types';
import type { Reports } from '../reports';
import { flattenRoutes } from './delegation';
import type { Proxy, ProxyListener, ProxyVirtualHost } from './proxy';

export const DEFAULT_PROXY_NAME = 'gateway-proxy';
export const DEFAULT_GATEWAY_PORT = 8080;

/** Used when the store holds no Gateway: plain HTTP on 8080 serving every VirtualService. */
export const DEFAULT_GATEWAY: Gateway = {
  apiVersion: 'sluice.dev/v1',
  kind: 'Gateway',
  metadata: { name: 'default', namespace: DEFAULT_NAMESPACE },
  spec: { bindAddress: '::', bindPort: DEFAULT_GATEWAY_PORT },
};

/** `NAME` in a gateway's proxyNames means the proxy NAME in the gateway's namespace. */
export function proxyKey(namespace: string, name: string): string {
  return `${namespace}~${name}`;
}

function splitProxyName(gateway: Gateway, proxyName: string): { namespace: string; name: string } {
  const [namespace, name] = proxyName.includes('~')
    ? proxyName.split('~', 2)
    : [gateway.metadata.namespace, proxyName];
  return { namespace, name };
}

function selectVirtualServices(gateway: Gateway, snapshot: ApiSnapshot, reports: Reports): VirtualService[] {
  const spec = gateway.spec as GatewaySpec;
  if (spec.virtualServices?.length) {
    const selected: VirtualService[] = [];
    spec.virtualServices.forEach((ref, index) => {
      const namespace = ref.namespace || gateway.metadata.namespace;
      const vs = lookup(snapshot.virtualServices, { namespace, name: ref.name });
      if (vs) selected.push(vs);
      else
        reports.warn(
          keyOf(gateway),
          `spec.virtualServices[${index}]: VirtualService ${namespace}/${ref.name} not found`,
        );
    });
    return selected;
  }
  const selector = spec.virtualServiceSelector;
  return [...snapshot.virtualServices.values()].filter((vs) => {
    if (selector?.namespaces?.length && !selector.namespaces.includes(vs.metadata.namespace)) return false;
    return Object.entries(selector?.labels ?? {}).every(
      ([label, value]) => vs.metadata.labels?.[label] === value,
    );
  });
}

/**
 * Each domain may be served by one VirtualService per listener (Envoy requires unique domains in a
 * RouteConfiguration). The first VirtualService in namespace/name order keeps a contested domain; a later
 * one that contests it is rejected from this gateway, naming the one that has it.
 */
function virtualHostsOf(
  gateway: Gateway,
  services: VirtualService[],
  snapshot: ApiSnapshot,
  reports: Reports,
): ProxyVirtualHost[] {
  const domainOwners = new Map<string, ResourceKey>();
  const hosts: ProxyVirtualHost[] = [];
  for (const vs of services) {
    const key = keyOf(vs);
    if (reports.hasErrors(key)) continue;
    const domains = vs.spec?.virtualHost.domains?.length ? vs.spec.virtualHost.domains : ['*'];
    // Envoy matches domains case-insensitively and refuses a RouteConfiguration that repeats one.
    const lowerCase = domains.map((domain) => domain.toLowerCase());
    const repeated = domains.find((_, index) => lowerCase.indexOf(lowerCase[index]) !== index);
    if (repeated !== undefined) {
      reports.error(
        key,
        `spec.virtualHost.domains: ${JSON.stringify(repeated)} is listed twice (domains ignore case)`,
      );
      continue;
    }
    const conflicts = domains.filter((domain) => domainOwners.has(domain.toLowerCase()));
    if (conflicts.length > 0) {
      const holder = domainOwners.get(conflicts[0].toLowerCase()) as ResourceKey;
      reports.error(
        key,
        `spec.virtualHost.domains: domain ${JSON.stringify(conflicts[0])} is already served by VirtualService ` +
          `${holder.namespace}/${holder.name} on Gateway ${gateway.metadata.namespace}/${gateway.metadata.name}`,
      );
      continue;
    }
    if (gateway.spec?.ssl && !vs.spec?.sslConfig) continue;
    if (!gateway.spec?.ssl && vs.spec?.sslConfig) continue;
    lowerCase.forEach((domain) => domainOwners.set(domain, key));
    const routes = flattenRoutes(
      vs.spec?.virtualHost.routes ?? [],
      { key, path: 'spec.virtualHost.routes' },
      snapshot,
      reports,
    );
    hosts.push({
      name: `${vs.metadata.namespace}~${vs.metadata.name}`,
      domains,
      routes,
      options: vs.spec?.virtualHost.options,
      sslConfig: vs.spec?.sslConfig,
      owner: key,
    });
  }
  return hosts;
}

function listenersOf(gateway: Gateway, snapshot: ApiSnapshot, reports: Reports): ProxyListener[] {
  const spec = gateway.spec as GatewaySpec;
  const owner = keyOf(gateway);
  const virtualHosts = virtualHostsOf(
    gateway,
    selectVirtualServices(gateway, snapshot, reports),
    snapshot,
    reports,
  );
  const bindAddress = spec.bindAddress || '::';
  if (spec.grpcProxyless) {
    // One api_listener per domain: a gRPC client dials xds:///DOMAIN and asks for the Listener DOMAIN.
    return virtualHosts.flatMap((vh) =>
      vh.domains.map((domain) => ({
        name: domain,
        bindAddress,
        bindPort: spec.bindPort,
        ssl: false,
        grpcProxyless: true,
        virtualHosts: [{ ...vh, domains: [domain] }],
        owner,
      })),
    );
  }
  return [
    {
      name: `listener-${bindAddress}-${spec.bindPort}`,
      bindAddress,
      bindPort: spec.bindPort,
      ssl: spec.ssl === true,
      grpcProxyless: false,
      virtualHosts,
      owner,
    },
  ];
}

/** Gateways + VirtualServices (+ RouteTables) -> one Proxy per proxy name. */
export function translateGateways(snapshot: ApiSnapshot, reports: Reports): Proxy[] {
  const gateways = snapshot.gateways.size > 0 ? [...snapshot.gateways.values()] : [DEFAULT_GATEWAY];
  const proxies = new Map<string, Proxy>();
  const listenerOwners = new Map<string, string>();
  for (const gateway of gateways) {
    const owner = keyOf(gateway);
    if (snapshot.gateways.size > 0) reports.track(owner);
    const bindAddress = gateway.spec?.bindAddress;
    if (bindAddress && isIP(bindAddress) === 0)
      reports.error(
        owner,
        `spec.bindAddress: ${JSON.stringify(bindAddress)} is not an IP address (e.g. :: or 0.0.0.0)`,
      );
    if (reports.hasErrors(owner)) continue;
    const listeners = listenersOf(gateway, snapshot, reports);
    for (const proxyName of gateway.spec?.proxyNames?.length
      ? gateway.spec.proxyNames
      : [DEFAULT_PROXY_NAME]) {
      const { namespace, name } = splitProxyName(gateway, proxyName);
      const key = proxyKey(namespace, name);
      let proxy = proxies.get(key);
      if (!proxy) {
        proxy = { key, namespace, name, listeners: [] };
        proxies.set(key, proxy);
      }
      for (const listener of listeners) {
        const taken = listenerOwners.get(`${key}/${listener.name}`);
        if (taken && taken !== keyString(owner)) {
          reports.error(
            owner,
            `spec.bindPort: proxy ${key} already has listener ${listener.name} from ${taken}`,
          );
          continue;
        }
        listenerOwners.set(`${key}/${listener.name}`, keyString(owner));
        proxy.listeners.push(listener);
      }
    }
  }
  for (const vs of snapshot.virtualServices.values()) reports.track(keyOf(vs));
  for (const table of snapshot.routeTables.values()) reports.track(keyOf(table));
  return [...proxies.values()].sort((a, b) => a.key.localeCompare(b.key));
}

import type { ProxyListener } from '../gateway/proxy';
import type { Json, TranslatorPlugin } from '../plugin';
import { adsConfigSource } from './clusters';

const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = {
  name: 'envoy.filters.http.router',
  typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

export function routeConfigName(listener: ProxyListener): string {
  return `${listener.name}-routes`;
}

/** HTTP filters of the plugins whose filter some route uses, in plugin order, then the router. */
function httpFilters(
  usedFilters: ReadonlySet<string>,
  plugins: readonly TranslatorPlugin[],
  proxyless: boolean,
): Json[] {
  const filters: Json[] = [];
  for (const plugin of plugins) {
    const filter = plugin.httpFilter;
    if (!filter || !usedFilters.has(filter.filterName)) continue;
    filters.push({
      name: filter.filterName,
      typedConfig: filter.typedConfig,
      ...(filter.disabledByDefault ? { disabled: true } : {}),
      ...(proxyless && !filter.proxylessSupported ? { isOptional: true } : {}),
    });
  }
  return [...filters, ROUTER];
}

function connectionManager(
  listener: ProxyListener,
  usedFilters: ReadonlySet<string>,
  plugins: readonly TranslatorPlugin[],
): Json {
  return {
    '@type': HCM_TYPE,
    statPrefix: listener.grpcProxyless ? 'grpc' : 'http',
    rds: { configSource: adsConfigSource(), routeConfigName: routeConfigName(listener) },
    httpFilters: httpFilters(usedFilters, plugins, listener.grpcProxyless),
  };
}

export function sdsSecretName(namespace: string, name: string): string {
  return `${name}_${namespace}`;
}

function tlsFilterChains(listener: ProxyListener, hcm: Json): Json[] {
  return listener.virtualHosts.map((vh) => {
    const ssl = vh.sslConfig;
    if (!ssl) throw new Error(`virtual host ${vh.name} on TLS listener ${listener.name} has no sslConfig`);
    const serverNames = (ssl.sniDomains?.length ? ssl.sniDomains : vh.domains).filter(
      (domain) => domain !== '*',
    );
    const secret = sdsSecretName(ssl.secretRef.namespace || vh.owner.namespace, ssl.secretRef.name);
    return {
      ...(serverNames.length ? { filterChainMatch: { serverNames } } : {}),
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }],
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          commonTlsContext: {
            tlsCertificateSdsSecretConfigs: [{ name: secret, sdsConfig: adsConfigSource() }],
          },
        },
      },
    };
  });
}

/**
 * A Listener. Envoy gets a socket listener whose HCM fetches routes over ADS; proxyless gRPC clients get
 * an api_listener named after the domain they dial.
 */
export function buildListener(
  listener: ProxyListener,
  usedFilters: ReadonlySet<string>,
  plugins: readonly TranslatorPlugin[],
): Json {
  const hcm = connectionManager(listener, usedFilters, plugins);
  if (listener.grpcProxyless) return { name: listener.name, apiListener: { apiListener: hcm } };
  const filterChains = listener.ssl
    ? tlsFilterChains(listener, hcm)
    : [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }] }];
  return {
    name: listener.name,
    address: {
      socketAddress: {
        address: listener.bindAddress,
        portValue: listener.bindPort,
        ...(listener.bindAddress === '::' ? { ipv4Compat: true } : {}),
      },
    },
    filterChains,
  };
}

import { gcpKeyFromSecret, identityTokenKey } from '../../../api/gcp';
import { keyOf } from '../../../api/resource';
import type { GcpUpstreamSpec, Upstream } from '../../../api/types';
import { clusterName, dnsCluster } from '../../envoy/clusters';
import type {
  DestinationContext,
  DestinationTarget,
  Json,
  TranslationContext,
  TranslatorPlugin,
  UpstreamClusters,
} from '../../plugin';
import { listNames } from '../list-names';
import { gcpFunctions, isRoutable, requiresIdentityToken, type KnownGcpFunction } from './functions';
import { functionPathRewrite } from './rewrite';

const FILTER_NAME = 'envoy.filters.http.gcp_authn';
const CONFIG_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.gcp_authn.v3.GcpAuthnFilterConfig';
const AUDIENCE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.gcp_authn.v3.Audience';
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
/** Where gcp_authn asks for ID tokens: the GCE metadata server, reachable only on GCP. */
const METADATA_CLUSTER = 'gcp_authn_metadata_server';
const METADATA_HOST = 'metadata.google.internal';
const METADATA_TIMEOUT = '10s';
const METADATA_TOKEN_URI = `http://${METADATA_HOST}/computeMetadata/v1/instance/service-accounts/default/identity?audience=[AUDIENCE]`;
/** Tokens gcp_authn keeps (one per audience); 0, its default, would fetch one per request. */
const TOKEN_CACHE_SIZE = 1000;

/** Where a function is: its URL, parsed (https, or http for emulators and tests). */
interface FunctionAddress {
  url: string;
  host: string;
  port: number;
  tls: boolean;
  path: string;
}

function functionAddress(fn: KnownGcpFunction): FunctionAddress | undefined {
  if (!fn.url || !URL.canParse(fn.url)) return undefined;
  const url = new URL(fn.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const tls = url.protocol === 'https:';
  return {
    url: fn.url,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port) || (tls ? 443 : 80),
    tls,
    path: url.pathname,
  };
}

function authModeOf(spec: GcpUpstreamSpec): 'sluice' | 'gcp_authn' {
  return spec.authMode ?? 'sluice';
}

/**
 * Envoy's gcp_authn filter reads the audience from the cluster, so a function it authenticates gets a
 * cluster of its own; every other function shares its host's cluster.
 */
function usesGcpAuthn(spec: GcpUpstreamSpec, fn: KnownGcpFunction): boolean {
  return authModeOf(spec) === 'gcp_authn' && requiresIdentityToken(fn);
}

function functionClusterName(upstream: Upstream, fn: KnownGcpFunction, address: FunctionAddress): string {
  const spec = upstream.spec?.gcp as GcpUpstreamSpec;
  const base = `${clusterName(keyOf(upstream))}~${address.host}:${address.port}`;
  return usesGcpAuthn(spec, fn) ? `${base}${address.path.replace(/\/+$/, '')}` : base;
}

function functionCluster(upstream: Upstream, fn: KnownGcpFunction, address: FunctionAddress): Json {
  const spec = upstream.spec?.gcp as GcpUpstreamSpec;
  const audience = { '@type': AUDIENCE_TYPE, url: address.url };
  return dnsCluster(
    {
      name: functionClusterName(upstream, fn, address),
      connectTimeout: upstream.spec?.connectTimeout,
      tls: address.tls ? { sni: address.host, caFile: spec.caFile } : undefined,
      ...(usesGcpAuthn(spec, fn) ? { metadata: { typedFilterMetadata: { [FILTER_NAME]: audience } } } : {}),
    },
    [{ address: address.host, port: address.port }],
  );
}

function gcpClusters(upstream: Upstream, ctx: TranslationContext): UpstreamClusters {
  const spec = upstream.spec?.gcp as GcpUpstreamSpec;
  const clusters = new Map<string, Json>();
  for (const fn of gcpFunctions(upstream, ctx.snapshot).values()) {
    const address = functionAddress(fn);
    if (!address || !isRoutable(fn)) continue;
    const cluster = functionCluster(upstream, fn, address);
    clusters.set(cluster.name as string, cluster);
  }
  if (authModeOf(spec) === 'gcp_authn') {
    clusters.set(
      METADATA_CLUSTER,
      dnsCluster({ name: METADATA_CLUSTER }, [{ address: METADATA_HOST, port: 80 }]),
    );
  }
  return { clusters: [...clusters.values()], loadAssignments: [] };
}

/** `%` starts a format specifier in header values. */
function headerValue(text: string): string {
  return text.replace(/%/g, '%%');
}

/** How the request proves who calls: a token Sluice minted, Envoy's gcp_authn filter, or nothing. */
function authentication(
  ctx: DestinationContext,
  fn: KnownGcpFunction,
  address: FunctionAddress,
): Partial<DestinationTarget> | { error: string } {
  const { upstream } = ctx;
  const spec = upstream.spec?.gcp as GcpUpstreamSpec;
  if (!requiresIdentityToken(fn)) return {};
  // gcp_authn has no per-route config: an optional empty one only marks the filter as used here.
  if (usesGcpAuthn(spec, fn))
    return {
      typedPerFilterConfig: {
        [FILTER_NAME]: { '@type': FILTER_CONFIG_TYPE, config: { '@type': CONFIG_TYPE }, isOptional: true },
      },
    };
  if (!spec.secretRef) {
    return {
      error:
        `function ${fn.name} requires authentication: set spec.gcp.secretRef to a gcp Secret (Sluice then ` +
        'mints its identity tokens), or authMode gcp_authn when Envoy runs on GCP, or allowUnauthenticated: ' +
        'true in spec.gcp.functions if it allows allUsers',
    };
  }
  const found = gcpKeyFromSecret(ctx.snapshot, spec.secretRef, upstream.metadata.namespace);
  if ('error' in found) return found;
  const token = ctx.snapshot.identityTokens?.get(identityTokenKey(found.key.clientEmail, address.url));
  if (!token) return {};
  if ('error' in token)
    return { error: `cannot mint an identity token for function ${fn.name}: ${token.error}` };
  return {
    requestHeadersToAdd: [
      {
        header: { key: 'authorization', value: headerValue(token.header) },
        appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
    ],
  };
}

function gcpDestination(ctx: DestinationContext): DestinationTarget | { error: string } {
  const { upstream } = ctx;
  const where = `upstream ${upstream.metadata.namespace}/${upstream.metadata.name}`;
  const functions = gcpFunctions(upstream, ctx.snapshot);
  const wanted = ctx.destination.function;
  const known = () => listNames([...functions.keys()]);
  if (ctx.proxyless)
    return {
      error: `${where}: Cloud Functions are called over HTTPS; proxyless gRPC clients cannot reach them`,
    };
  if (!wanted)
    return { error: `${where} is a Google Cloud Functions upstream: set function (known: ${known()})` };
  const fn = functions.get(wanted);
  if (!fn) return { error: `${where} has no Cloud Function "${wanted}" (known: ${known()})` };
  if (fn.eventType)
    return {
      error: `${where}: function ${wanted} is triggered by events (${fn.eventType}), not HTTP; routes cannot reach it`,
    };
  if (!isRoutable(fn)) return { error: `${where}: function ${wanted} is ${fn.state}, not ACTIVE` };
  const address = functionAddress(fn);
  if (!address)
    return {
      error: `${where}: function ${wanted} has no http(s) url${fn.url ? ` (${JSON.stringify(fn.url)})` : ''}`,
    };
  for (const option of ['prefixRewrite', 'hostRewrite'] as const) {
    if (ctx.options[option] !== undefined)
      return {
        error: `options.${option}: function ${wanted} sets the ${option === 'hostRewrite' ? 'host' : 'path'} itself; remove ${option}`,
      };
  }
  const rewrite = functionPathRewrite(ctx.matchers, address.path);
  if ('error' in rewrite) return { error: `${where}: ${rewrite.error}` };
  const auth = authentication(ctx, fn, address);
  if ('error' in auth) return { error: `${where}: ${auth.error}` };
  return {
    cluster: functionClusterName(upstream, fn, address),
    hostRewriteLiteral: address.host,
    autoHostRewrite: true,
    pathRewrite: rewrite.pathRewrite,
    ...auth,
  };
}

/**
 * `gcp` upstreams: Google Cloud Functions over HTTPS, one cluster per function host (per function when
 * Envoy's gcp_authn filter must find its audience on the cluster). Functions that require
 * authentication get an ID token: minted by Sluice (authMode sluice) or by Envoy on GCP (gcp_authn).
 * See docs/gcp.md.
 */
export const gcpPlugin: TranslatorPlugin = {
  name: 'gcp',
  protoFiles: ['envoy/extensions/filters/http/gcp_authn/v3/gcp_authn.proto'],
  upstreamTypes: ['gcp'],
  upstreamClusters: gcpClusters,
  functionNames: (upstream, ctx) => [...gcpFunctions(upstream, ctx.snapshot).keys()],
  describeFunctions: (upstream, ctx) =>
    [...gcpFunctions(upstream, ctx.snapshot)].map(([name, fn]) => ({
      name,
      target: fn.eventType ? `event ${fn.eventType} (not routable)` : (fn.url ?? '(no url)'),
      qualifier: [fn.environment, fn.state].filter(Boolean).join(' '),
      source: fn.source,
    })),
  destination: gcpDestination,
  httpFilter: {
    filterName: FILTER_NAME,
    typedConfig: {
      '@type': CONFIG_TYPE,
      // http_uri for older Envoy releases, which know nothing else; cluster and timeout for newer ones.
      httpUri: { uri: METADATA_TOKEN_URI, cluster: METADATA_CLUSTER, timeout: METADATA_TIMEOUT },
      cluster: METADATA_CLUSTER,
      timeout: METADATA_TIMEOUT,
      cacheConfig: { cacheSize: String(TOKEN_CACHE_SIZE) },
    },
    proxylessSupported: false,
  },
};

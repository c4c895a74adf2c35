import { keyOf, type ResourceKey } from '../../api/resource';
import { discoveredFor, lookup } from '../../api/snapshot';
import type { Upstream } from '../../api/types';
import { keepHiddenClass } from '../../hidden-classes';
import { TYPE_URLS, type TypeUrl } from '../../xds/type-urls';
import type { Proxy, ProxyListener, ProxyVirtualHost } from '../gateway/proxy';
import { RecordingReports, replay } from '../memo';
import type { Json, TranslationContext, TranslatorPlugin, UpstreamClusters } from '../plugin';
import { pluginForUpstream } from './destinations';
import { buildListener, routeConfigName, sdsSecretName } from './listeners';
import { routeBuildContext, translateRoute, virtualHostOptions, type RouteBuildContext } from './routes';

/** type URL -> resource name -> proto3 JSON, for one proxy. */
export type ProxyResources = Map<TypeUrl, Map<string, Json>>;

export interface EnvoyTranslation {
  byProxy: Map<string, ProxyResources>;
  /** The API resources each xDS resource was made from (to report NACKs on). */
  owners: ResourceOwners;
}

type OwnerIndex = Map<string, Map<string, ResourceKey[]>>;
/** One owner, or several. */
type Owners = ResourceKey | readonly ResourceKey[];

function addOwners(index: OwnerIndex, typeUrl: string, name: string, owners: Owners): void {
  let byName = index.get(typeUrl);
  if (!byName) index.set(typeUrl, (byName = new Map()));
  let list = byName.get(name);
  if (!list) byName.set(name, (list = []));
  for (const owner of Array.isArray(owners) ? owners : [owners]) {
    if (
      !list.some(
        (key) => key.kind === owner.kind && key.namespace === owner.namespace && key.name === owner.name,
      )
    )
      list.push(owner);
  }
}

/** Records each JSON resource of `list` (named by its member `nameKey`) as made from `owner`. */
function addAllOwners(
  index: OwnerIndex,
  typeUrl: TypeUrl,
  list: readonly Json[],
  nameKey: string,
  owner: ResourceKey,
): void {
  for (let i = 0; i < list.length; i++) addOwners(index, typeUrl, list[i][nameKey] as string, owner);
}

/**
 * xDS resource (type URL, name) -> the API resources it was made from. Owners are recorded as they come
 * (in parallel lists: no object per resource; an upstream's clusters as the upstream and its result,
 * its key made only if asked) and indexed on the first lookup: a translation records them for every
 * resource (tens of thousands), but is asked only about the few that fail validation or are NACKed.
 */
export class ResourceOwners {
  private typeUrls: string[] = [];
  private names: string[] = [];
  private owners: Owners[] = [];
  private upstreams: Upstream[] = [];
  private upstreamResults: UpstreamClusters[] = [];
  private index: OwnerIndex | undefined;

  of(typeUrl: string, name: string): readonly ResourceKey[] {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.upstreams.length; i++)
        this.addUpstream(this.upstreams[i], this.upstreamResults[i]);
      for (let i = 0; i < this.names.length; i++)
        addOwners(this.index, this.typeUrls[i], this.names[i], this.owners[i]);
      this.typeUrls = [];
      this.names = [];
      this.owners = [];
      this.upstreams = [];
      this.upstreamResults = [];
    }
    return this.index.get(typeUrl)?.get(name) ?? [];
  }

  /** The clusters and load assignments `upstream` was translated to are made from it. */
  ownUpstream(upstream: Upstream, result: UpstreamClusters): void {
    if (this.index) {
      this.addUpstream(upstream, result);
      return;
    }
    this.upstreams.push(upstream);
    this.upstreamResults.push(result);
  }

  private addUpstream(upstream: Upstream, result: UpstreamClusters): void {
    const index = this.index as OwnerIndex;
    const key = keyOf(upstream);
    addAllOwners(index, TYPE_URLS.cluster, result.clusters, 'name', key);
    addAllOwners(index, TYPE_URLS.endpoint, result.loadAssignments, 'clusterName', key);
  }

  own(typeUrl: TypeUrl, name: string, owners: Owners): void {
    if (this.index) {
      addOwners(this.index, typeUrl, name, owners);
      return;
    }
    this.typeUrls.push(typeUrl);
    this.names.push(name);
    this.owners.push(owners);
  }
}

keepHiddenClass(new ResourceOwners());

interface UpstreamResources {
  clusters: Map<string, Json>;
  loadAssignments: Map<string, Json>;
}

/** Clusters and endpoints of every accepted upstream: shared (same objects) by every proxy. */
function translateUpstreams(
  ctx: TranslationContext,
  plugins: readonly TranslatorPlugin[],
  owners: ResourceOwners,
): UpstreamResources {
  const out: UpstreamResources = { clusters: new Map(), loadAssignments: new Map() };
  // forEach: no iterator result allocated per upstream.
  ctx.snapshot.upstreams.forEach((upstream) => {
    // Short-lived: the owners below keep the upstream, not this key.
    const key = keyOf(upstream);
    if (ctx.reports.hasErrors(key)) return;
    const discovered = discoveredFor(ctx.snapshot, upstream);
    if (discovered?.error)
      ctx.reports.warn(
        key,
        `function discovery failed: ${discovered.error}; serving the last known functions`,
      );
    const plugin = pluginForUpstream(upstream, plugins);
    if (!plugin?.upstreamClusters) {
      ctx.reports.error(
        key,
        `spec: no plugin serves upstream type ${Object.keys(upstream.spec ?? {}).join(', ')}`,
      );
      return;
    }
    const upstreamClusters = plugin.upstreamClusters;
    const result = ctx.memo
      ? ctx.memo.upstream(
          upstream,
          [discovered, plugin.upstreamInputs?.(upstream, ctx)],
          ctx.reports,
          (reports) => upstreamClusters(upstream, { ...ctx, reports }),
        )
      : upstreamClusters(upstream, ctx);
    if (ctx.reports.hasErrors(key)) return;
    const { clusters, loadAssignments } = result;
    // Indexed loops: for-of made an iterator object per upstream here.
    for (let i = 0; i < clusters.length; i++) out.clusters.set(clusters[i].name as string, clusters[i]);
    for (let i = 0; i < loadAssignments.length; i++)
      out.loadAssignments.set(loadAssignments[i].clusterName as string, loadAssignments[i]);
    owners.ownUpstream(upstream, result);
  });
  return out;
}

function tlsSecret(vh: ProxyVirtualHost, ctx: TranslationContext): Json | { error: string } {
  const ref = vh.sslConfig?.secretRef;
  if (!ref) return { error: 'spec.sslConfig.secretRef: missing' };
  const namespace = ref.namespace || vh.owner.namespace;
  const secret = lookup(ctx.snapshot.secrets, { namespace, name: ref.name });
  if (!secret) return { error: `spec.sslConfig.secretRef: Secret ${namespace}/${ref.name} not found` };
  if (secret.type !== 'tls')
    return {
      error: `spec.sslConfig.secretRef: Secret ${namespace}/${ref.name} has type ${secret.type}, not tls`,
    };
  const missing = ['certChain', 'privateKey'].filter((field) => !secret.data?.[field]);
  if (missing.length)
    return {
      error: `spec.sslConfig.secretRef: Secret ${namespace}/${ref.name} has no ${missing.join(' or ')} in data`,
    };
  return {
    name: sdsSecretName(namespace, ref.name),
    tlsCertificate: {
      certificateChain: { inlineString: secret.data?.certChain },
      privateKey: { inlineString: secret.data?.privateKey },
    },
  };
}

/** TLS listeners: each virtual host needs a valid certificate and its own SNI names. */
function tlsVirtualHosts(
  listener: ProxyListener,
  ctx: TranslationContext,
  secrets: Map<string, Json>,
  owners: ResourceOwners,
): ProxyVirtualHost[] {
  const kept: ProxyVirtualHost[] = [];
  const matches = new Map<string, string>();
  for (const vh of listener.virtualHosts) {
    const secret = tlsSecret(vh, ctx);
    if ('error' in secret) {
      ctx.reports.error(vh.owner, String(secret.error));
      continue;
    }
    const names = (vh.sslConfig?.sniDomains?.length ? vh.sslConfig.sniDomains : vh.domains).filter(
      (d) => d !== '*',
    );
    const matchKey = [...names].sort().join(',');
    const holder = matches.get(matchKey);
    if (holder) {
      ctx.reports.error(
        vh.owner,
        `spec.sslConfig: SNI names [${names.join(', ')}] are already served by ${holder} on ${listener.name}`,
      );
      continue;
    }
    matches.set(matchKey, vh.name);
    secrets.set(secret.name as string, secret);
    owners.own(TYPE_URLS.secret, secret.name as string, vh.owner);
    kept.push(vh);
  }
  return kept;
}

/** One virtual host, remembered per VirtualService object while nothing it depends on changes. */
function translateVirtualHost(vh: ProxyVirtualHost, routeCtx: RouteBuildContext): Json {
  const memo = routeCtx.memo;
  const owner = lookup(routeCtx.snapshot.virtualServices, vh.owner);
  const variant = `${routeCtx.proxyless}|${vh.name}|${vh.domains.join(',')}`;
  const cached = memo && owner ? memo.virtualHost(owner, variant) : undefined;
  if (cached) {
    replay(cached.recorded, routeCtx.reports);
    for (const filter of cached.usedFilters) routeCtx.usedFilters.add(filter);
    return cached.json;
  }
  const recording = memo && owner ? new RecordingReports(routeCtx.reports) : undefined;
  const vhCtx = routeBuildContext(
    routeCtx,
    recording ?? routeCtx.reports,
    routeCtx.proxyless,
    routeCtx.plugins,
  );
  const routes: Json[] = [];
  for (const route of vh.routes) translateRoute(route, vhCtx, routes);
  const json: Json = {
    name: vh.name,
    domains: vh.domains,
    routes,
    ...virtualHostOptions(vh.options, vh.owner, vhCtx),
  };
  for (const filter of vhCtx.usedFilters) routeCtx.usedFilters.add(filter);
  if (memo && owner && recording)
    memo.rememberVirtualHost(owner, variant, {
      json,
      usedFilters: [...vhCtx.usedFilters],
      recorded: recording.recorded,
    });
  return json;
}

function translateListener(
  listener: ProxyListener,
  ctx: TranslationContext,
  plugins: readonly TranslatorPlugin[],
  resources: ProxyResources,
  owners: ResourceOwners,
): void {
  const secrets = resources.get(TYPE_URLS.secret) as Map<string, Json>;
  const virtualHostsIn = listener.ssl
    ? tlsVirtualHosts(listener, ctx, secrets, owners)
    : listener.virtualHosts;
  const routeCtx = routeBuildContext(ctx, ctx.reports, listener.grpcProxyless, plugins);
  // Routes share their owner's key object: a set keeps one of each for ResourceOwners to compare.
  const routeOwners = new Set<ResourceKey>();
  const virtualHosts = virtualHostsIn.map((vh) => {
    routeOwners.add(vh.owner);
    for (const route of vh.routes) routeOwners.add(route.owner);
    return translateVirtualHost(vh, routeCtx);
  });
  const name = routeConfigName(listener);
  const routeConfig: Json = { name, virtualHosts };
  if (!listener.grpcProxyless) routeConfig.ignorePortInHostMatching = true;
  resources.get(TYPE_URLS.route)?.set(name, routeConfig);
  owners.own(TYPE_URLS.route, name, [...routeOwners]);
  resources
    .get(TYPE_URLS.listener)
    ?.set(
      listener.name,
      buildListener({ ...listener, virtualHosts: virtualHostsIn }, routeCtx.usedFilters, plugins),
    );
  owners.own(TYPE_URLS.listener, listener.name, [listener.owner, ...virtualHostsIn.map((vh) => vh.owner)]);
}

/** Proxies + upstreams + secrets -> the xDS resources of each proxy, in proto3 JSON. */
export function translateEnvoy(
  proxies: Proxy[],
  ctx: TranslationContext,
  plugins: readonly TranslatorPlugin[],
): EnvoyTranslation {
  const owners = new ResourceOwners();
  const upstreams = translateUpstreams(ctx, plugins, owners);
  const byProxy = new Map<string, ProxyResources>();
  for (const proxy of proxies) {
    // Clusters and endpoints are the same for every proxy: one map each, shared (never written to).
    const resources: ProxyResources = new Map([
      [TYPE_URLS.cluster, upstreams.clusters],
      [TYPE_URLS.endpoint, upstreams.loadAssignments],
      [TYPE_URLS.listener, new Map()],
      [TYPE_URLS.route, new Map()],
      [TYPE_URLS.secret, new Map()],
    ]);
    for (const listener of proxy.listeners) translateListener(listener, ctx, plugins, resources, owners);
    byProxy.set(proxy.key, resources);
  }
  return { byProxy, owners };
}

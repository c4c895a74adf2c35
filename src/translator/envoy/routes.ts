import { keyString, type ResourceKey } from '../../api/resource';
import type { DestinationSpec, MatcherSpec, RouteOptionsSpec } from '../../api/types';
import type { ProxyRoute } from '../gateway/proxy';
import type { DestinationTarget, Json, RouteContext, TranslationContext, TranslatorPlugin } from '../plugin';
import type { Reports } from '../reports';
import { resolveDestination } from './destinations';
import { functionRoutesOf } from './function-routes';
import { toProtoDuration } from './durations';
import { routeMatch } from './matchers';

/** Envoy refuses a RouteConfiguration with a longer direct response body (max_direct_response_body_size_bytes). */
const MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;
/** Envoy refuses weighted clusters whose weights add up to more than a uint32. */
const MAX_TOTAL_WEIGHT = 4294967295;

const REDIRECT_CODES: Record<number, string> = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
};

export interface RouteBuildContext extends TranslationContext {
  proxyless: boolean;
  plugins: readonly TranslatorPlugin[];
  /** HTTP filter names some route uses, so the listener includes those filters. */
  usedFilters: Set<string>;
}

/**
 * The context of the routes of one listener or virtual host. Made with every member named, as are the
 * per-route contexts made from it: an object that gets members by a spread (V8, Node 20) gets them on a
 * slow path (~0.5 µs each when added after the spread) and a hidden class that dies with the
 * translation, and the code optimized for that class is dropped with it.
 */
export function routeBuildContext(
  ctx: TranslationContext,
  reports: Reports,
  proxyless: boolean,
  plugins: readonly TranslatorPlugin[],
): RouteBuildContext {
  return { snapshot: ctx.snapshot, reports, memo: ctx.memo, proxyless, plugins, usedFilters: new Set() };
}

type Built<T> = T | { error: string };

function isError<T>(value: Built<T>): value is { error: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'error' in value &&
    typeof (value as { error: unknown }).error === 'string'
  );
}

/** No route options: what a route without `options` reads. */
const NO_OPTIONS: RouteOptionsSpec = Object.freeze({});
const NO_MATCHERS: readonly MatcherSpec[] = Object.freeze([]);
/** A route without matchers matches every path. */
const MATCH_ALL: readonly MatcherSpec[] = Object.freeze([Object.freeze({ prefix: '/' })]);

function addHeaderOptions(json: Json, headers: RouteOptionsSpec['headerManipulation']): void {
  if (!headers) return;
  const toAdd = (list: NonNullable<typeof headers>['requestHeadersToAdd']) =>
    (list ?? []).map((option) => ({
      header: { key: option.header.key, value: option.header.value ?? '' },
      appendAction: option.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
    }));
  if (headers.requestHeadersToAdd?.length) json.requestHeadersToAdd = toAdd(headers.requestHeadersToAdd);
  if (headers.requestHeadersToRemove?.length) json.requestHeadersToRemove = headers.requestHeadersToRemove;
  if (headers.responseHeadersToAdd?.length) json.responseHeadersToAdd = toAdd(headers.responseHeadersToAdd);
  if (headers.responseHeadersToRemove?.length) json.responseHeadersToRemove = headers.responseHeadersToRemove;
}

function retryPolicy(retries: NonNullable<RouteOptionsSpec['retries']>, proxyless: boolean): Json {
  const policy: Json = { retryOn: retries.retryOn || (proxyless ? 'unavailable' : '5xx') };
  if (retries.numRetries !== undefined) policy.numRetries = retries.numRetries;
  if (retries.perTryTimeout) policy.perTryTimeout = toProtoDuration(retries.perTryTimeout);
  return policy;
}

function hasAnyOption(options: RouteOptionsSpec): boolean {
  for (const key in options) if (options[key as keyof RouteOptionsSpec] !== undefined) return true;
  return false;
}

/**
 * Per-filter configs of plugins' route options, wrapped as optional for clients that lack the filter;
 * undefined when there are none (a route without options has nothing for a plugin to apply).
 */
function pluginConfigs(
  options: RouteOptionsSpec,
  owner: ResourceKey,
  source: string,
  ctx: RouteBuildContext,
): Built<Record<string, Json> | undefined> {
  if (!hasAnyOption(options)) return undefined;
  let configs: Record<string, Json> | undefined;
  let routeCtx: RouteContext | undefined;
  for (const plugin of ctx.plugins) {
    if (!plugin.routeOptions) continue;
    // Every member named: see routeBuildContext.
    routeCtx ??= {
      snapshot: ctx.snapshot,
      reports: ctx.reports,
      memo: ctx.memo,
      proxyless: ctx.proxyless,
      options,
      owner,
      source,
    };
    const result = plugin.routeOptions(routeCtx);
    if (!result) continue;
    if (result.error) return { error: result.error };
    if (result.typedPerFilterConfig) configs = Object.assign(configs ?? {}, result.typedPerFilterConfig);
  }
  return configs && markUsed(configs, ctx);
}

function markUsed(configs: Record<string, Json>, ctx: RouteBuildContext): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const filter in configs) {
    const config = configs[filter];
    ctx.usedFilters.add(filter);
    const supported = ctx.plugins.find((plugin) => plugin.httpFilter?.filterName === filter)?.httpFilter
      ?.proxylessSupported;
    out[filter] =
      ctx.proxyless && !supported
        ? { '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', config, isOptional: true }
        : config;
  }
  return out;
}

/** Resolves one destination of `route`. */
function resolveFor(
  route: ProxyRoute,
  options: RouteOptionsSpec,
  destination: DestinationSpec,
  ctx: RouteBuildContext,
): DestinationTarget | { error: string } {
  return resolveDestination(
    ctx,
    destination,
    route.owner,
    route.source,
    options,
    route.matchers ?? NO_MATCHERS,
  );
}

/**
 * Sets where the route sends traffic on `action` (`cluster` or `weightedClusters`); returns what the
 * destination needs on the route besides.
 */
function addDestination(
  action: Json,
  route: ProxyRoute,
  options: RouteOptionsSpec,
  ctx: RouteBuildContext,
): Built<DestinationTarget> {
  const spec = route.routeAction ?? {};
  if (spec.single) {
    const target = resolveFor(route, options, spec.single, ctx);
    if (isError(target)) return target;
    action.cluster = target.cluster;
    return target;
  }
  const destinations = spec.multi?.destinations ?? [];
  if (destinations.length === 0)
    return { error: 'routeAction.multi.destinations: add at least one destination' };
  const totalWeight = destinations.reduce((total, weighted) => total + (weighted.weight ?? 0), 0);
  if (totalWeight === 0) {
    return { error: 'routeAction.multi.destinations: the weights must add up to more than 0' };
  }
  if (totalWeight > MAX_TOTAL_WEIGHT) {
    return {
      error: `routeAction.multi.destinations: the weights add up to ${totalWeight}, more than Envoy's ${MAX_TOTAL_WEIGHT}`,
    };
  }
  const clusters: Json[] = [];
  const matchers = route.matchers?.length ? route.matchers : MATCH_ALL;
  let firstPath: Json | undefined;
  for (let index = 0; index < destinations.length; index++) {
    const weighted = destinations[index];
    const target = resolveFor(route, options, weighted.destination, ctx);
    if (isError(target)) return { error: `routeAction.multi.destinations[${index}]: ${target.error}` };
    const path = rewritesNothing(target.pathRewrite, matchers) ? undefined : target.pathRewrite;
    if (index === 0) firstPath = path;
    else if (JSON.stringify(path) !== JSON.stringify(firstPath))
      return { error: pathConflict(firstPath, path, index) };
    const cluster: Json = { name: target.cluster, weight: weighted.weight ?? 0 };
    if (target.typedPerFilterConfig)
      cluster.typedPerFilterConfig = markUsed(target.typedPerFilterConfig, ctx);
    if (target.requestHeadersToAdd) cluster.requestHeadersToAdd = target.requestHeadersToAdd;
    // Per cluster, so that the split's other destinations keep their own Host header.
    if (target.hostRewriteLiteral) cluster.hostRewriteLiteral = target.hostRewriteLiteral;
    clusters.push(cluster);
  }
  action.weightedClusters = { clusters };
  return { cluster: '', pathRewrite: firstPath };
}

/**
 * Whether `rewrite` leaves every path the route matches as it is (a function's path matched exactly,
 * or as the prefix): a split with destinations that keep the path then needs none.
 */
function rewritesNothing(rewrite: Json | undefined, matchers: readonly MatcherSpec[]): boolean {
  const to = rewrite?.prefixRewrite;
  return (
    to !== undefined &&
    Object.keys(rewrite as Json).length === 1 &&
    matchers.every((matcher) => (matcher.exact ?? matcher.prefix) === to)
  );
}

/** Where a path rewrite sends requests, for messages. */
function rewrittenTo(rewrite: Json | undefined): string {
  if (!rewrite) return 'kept';
  const { prefixRewrite, regexRewrite, pathRewritePolicy } = rewrite as {
    prefixRewrite?: string;
    regexRewrite?: { substitution: string };
    pathRewritePolicy?: { typedConfig: { pathTemplateRewrite: string } };
  };
  const to =
    prefixRewrite ?? regexRewrite?.substitution ?? pathRewritePolicy?.typedConfig.pathTemplateRewrite;
  return `rewritten to ${to}`;
}

/**
 * Why destination `index` of a split cannot share the route with the first: they need different path
 * rewrites. Names one that needs a rewrite: the later when it does, else the first.
 */
function pathConflict(first: Json | undefined, later: Json | undefined, index: number): string {
  const [named, needs, otherIndex, other] = later ? [index, later, 0, first] : [0, first, index, later];
  return (
    `routeAction.multi.destinations[${named}]: needs the path ${rewrittenTo(needs)}, which Envoy ` +
    `applies to the whole route, and destinations[${otherIndex}] needs it ${rewrittenTo(other)}; ` +
    'split between destinations that need the same path, or use separate routes'
  );
}

/** Fills `action` (the route's RouteAction); returns what its destination needs on the route besides. */
function fillRouteAction(
  action: Json,
  route: ProxyRoute,
  options: RouteOptionsSpec,
  hasTemplate: boolean,
  ctx: RouteBuildContext,
): Built<DestinationTarget> {
  const target = addDestination(action, route, options, ctx);
  if (isError(target)) return target;
  if (options.prefixRewrite !== undefined) {
    if (hasTemplate) return { error: 'options.prefixRewrite cannot be combined with a pathTemplate matcher' };
    action.prefixRewrite = options.prefixRewrite;
  }
  if (options.timeout) {
    action.timeout = toProtoDuration(options.timeout);
    if (ctx.proxyless) action.maxStreamDuration = { maxStreamDuration: action.timeout };
  }
  if (options.grpc?.maxGrpcTimeout) {
    action.maxStreamDuration = {
      ...(action.maxStreamDuration as Json | undefined),
      grpcTimeoutHeaderMax: toProtoDuration(options.grpc.maxGrpcTimeout),
    };
  }
  if (options.retries) action.retryPolicy = retryPolicy(options.retries, ctx.proxyless);
  if (options.hostRewrite) action.hostRewriteLiteral = options.hostRewrite;
  if (target.autoHostRewrite) action.autoHostRewrite = true;
  else if (target.hostRewriteLiteral) action.hostRewriteLiteral = target.hostRewriteLiteral;
  if (target.pathRewrite) Object.assign(action, target.pathRewrite);
  return target;
}

function redirect(route: ProxyRoute): Json {
  const spec = route.redirectAction ?? {};
  const json: Json = {};
  if (spec.hostRedirect) json.hostRedirect = spec.hostRedirect;
  if (spec.pathRedirect) json.pathRedirect = spec.pathRedirect;
  else if (spec.prefixRewrite) json.prefixRewrite = spec.prefixRewrite;
  if (spec.responseCode && spec.responseCode !== 301) json.responseCode = REDIRECT_CODES[spec.responseCode];
  if (spec.httpsRedirect) json.httpsRedirect = true;
  if (spec.stripQuery) json.stripQuery = true;
  if (spec.portRedirect) json.portRedirect = spec.portRedirect;
  return json;
}

/**
 * Adds the Envoy routes for one Sluice route (one per matcher) to `out`, or tells why the route is
 * rejected (and adds nothing).
 */
function buildRoutes(route: ProxyRoute, ctx: RouteBuildContext, out: Json[]): string | undefined {
  if (route.rejected) return route.rejected;
  const matchers = route.matchers?.length ? route.matchers : MATCH_ALL;
  const matches = new Array<Json>(matchers.length);
  let hasTemplate = false;
  for (let index = 0; index < matchers.length; index++) {
    const matcher = matchers[index];
    const result = routeMatch(matcher, ctx.proxyless);
    if (result.error) return `matchers[${index}].${result.error}`;
    // Indexed: for-of makes an iterator per matcher over the shared (frozen) empty list.
    for (let i = 0; i < result.dropped.length; i++) {
      ctx.reports.warn(
        route.owner,
        `${route.source}.matchers[${index}].${result.dropped[i]}: ignored by proxyless gRPC clients`,
      );
    }
    matches[index] = result.match;
    if (matcher.pathTemplate !== undefined) hasTemplate = true;
  }
  // Built for the first match (whole, so that no member is added to it later: objects stay compact);
  // the routes of further matches are copies with their own match.
  const match = matches[0];
  const options = route.options ?? NO_OPTIONS;
  let first: Json;
  if (route.routeAction) {
    const action: Json = {};
    const target = fillRouteAction(action, route, options, hasTemplate, ctx);
    if (isError(target)) return target.error;
    first = route.name ? { name: route.name, match, route: action } : { match, route: action };
    if (target.typedPerFilterConfig) first.typedPerFilterConfig = markUsed(target.typedPerFilterConfig, ctx);
    if (target.requestHeadersToAdd) first.requestHeadersToAdd = target.requestHeadersToAdd;
  } else if (ctx.proxyless && (route.redirectAction || route.directResponseAction)) {
    return 'redirects and direct responses are not supported by proxyless gRPC clients';
  } else {
    first = route.name ? { name: route.name, match } : { match };
    if (route.redirectAction) {
      first.redirect = redirect(route);
    } else if (route.directResponseAction) {
      const { status, body: text } = route.directResponseAction;
      const bytes = text === undefined ? 0 : Buffer.byteLength(text);
      if (bytes > MAX_DIRECT_RESPONSE_BODY_BYTES)
        return `directResponseAction.body: ${bytes} bytes, more than the ${MAX_DIRECT_RESPONSE_BODY_BYTES} Envoy accepts`;
      first.directResponse = { status, ...(text !== undefined ? { body: { inlineString: text } } : {}) };
    }
  }
  if (
    !route.routeAction &&
    (options.prefixRewrite || options.timeout || options.retries || options.hostRewrite || options.grpc)
  ) {
    return 'options.prefixRewrite, timeout, retries, hostRewrite and grpc need a routeAction';
  }
  const filters = pluginConfigs(options, route.owner, route.source, ctx);
  if (isError(filters)) return filters.error;
  if (filters && Object.keys(filters).length) {
    first.typedPerFilterConfig = { ...(first.typedPerFilterConfig as Json | undefined), ...filters };
  }
  addHeaderOptions(first, options.headerManipulation);
  out.push(first);
  for (let index = 1; index < matches.length; index++) out.push({ ...first, match: matches[index] });
  return undefined;
}

/**
 * Translates a route into `out`, reporting a failure on the resource that wrote it. A rejected route
 * answers 503 on Envoy (so its traffic never falls through to a broader route) and is left out for
 * gRPC clients.
 */
export function translateRoute(route: ProxyRoute, ctx: RouteBuildContext, out: Json[]): void {
  const generated = functionRoutesOf(route, ctx);
  if (generated) {
    for (const each of generated) translateRoute(each, ctx, out);
    return;
  }
  const error = buildRoutes(route, ctx, out);
  if (error === undefined) return;
  ctx.reports.warn(route.owner, `${route.source}: route rejected: ${error}`);
  if (ctx.proxyless) return;
  const body = `sluice: this route is rejected; see the status of ${keyString(route.owner)}\n`;
  for (const matcher of route.matchers?.length ? route.matchers : MATCH_ALL) {
    const { match, error: matchError } = routeMatch(matcher, false);
    if (!matchError) out.push({ match, directResponse: { status: 503, body: { inlineString: body } } });
  }
}

/** Virtual host options: only those Envoy applies to a whole virtual host. */
export function virtualHostOptions(
  options: RouteOptionsSpec | undefined,
  owner: ResourceKey,
  ctx: RouteBuildContext,
): Json {
  if (!options) return {};
  const unsupported = (['prefixRewrite', 'timeout', 'faults', 'hostRewrite'] as const).filter(
    (name) => options[name] !== undefined,
  );
  for (const name of unsupported) {
    ctx.reports.warn(owner, `spec.virtualHost.options.${name}: ignored; set it on routes`);
  }
  const json: Json = {};
  addHeaderOptions(json, options.headerManipulation);
  if (options.retries) json.retryPolicy = retryPolicy(options.retries, ctx.proxyless);
  const filters = pluginConfigs({ cors: options.cors }, owner, 'spec.virtualHost', ctx);
  if (isError(filters)) ctx.reports.warn(owner, `spec.virtualHost.${filters.error}`);
  else if (filters && Object.keys(filters).length) json.typedPerFilterConfig = filters;
  return json;
}

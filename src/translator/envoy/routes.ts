import { keyString, type ResourceKey } from '../../api/resource';
import type { RouteOptionsSpec } from '../../api/types';
import type { ProxyRoute } from '../gateway/proxy';
import type { DestinationTarget, Json, TranslationContext, TranslatorPlugin } from '../plugin';
import { resolveDestination } from './destinations';
import { functionRoutesOf } from './function-routes';
import { toProtoDuration } from './durations';
import { routeMatch } from './matchers';

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

type Built<T> = T | { error: string };

function isError<T>(value: Built<T>): value is { error: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    'error' in value &&
    typeof (value as { error: unknown }).error === 'string'
  );
}

function headerOptions(headers: RouteOptionsSpec['headerManipulation']): Json {
  const toAdd = (list: NonNullable<typeof headers>['requestHeadersToAdd']) =>
    (list ?? []).map((option) => ({
      header: { key: option.header.key, value: option.header.value ?? '' },
      appendAction: option.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD',
    }));
  const json: Json = {};
  if (headers?.requestHeadersToAdd?.length) json.requestHeadersToAdd = toAdd(headers.requestHeadersToAdd);
  if (headers?.requestHeadersToRemove?.length) json.requestHeadersToRemove = headers.requestHeadersToRemove;
  if (headers?.responseHeadersToAdd?.length) json.responseHeadersToAdd = toAdd(headers.responseHeadersToAdd);
  if (headers?.responseHeadersToRemove?.length)
    json.responseHeadersToRemove = headers.responseHeadersToRemove;
  return json;
}

function retryPolicy(retries: NonNullable<RouteOptionsSpec['retries']>, proxyless: boolean): Json {
  const policy: Json = { retryOn: retries.retryOn || (proxyless ? 'unavailable' : '5xx') };
  if (retries.numRetries !== undefined) policy.numRetries = retries.numRetries;
  if (retries.perTryTimeout) policy.perTryTimeout = toProtoDuration(retries.perTryTimeout);
  return policy;
}

/** Per-filter configs of plugins' route options, wrapped as optional for clients that lack the filter. */
function pluginConfigs(
  options: RouteOptionsSpec,
  owner: ResourceKey,
  source: string,
  ctx: RouteBuildContext,
): Built<Record<string, Json>> {
  const configs: Record<string, Json> = {};
  for (const plugin of ctx.plugins) {
    const result = plugin.routeOptions?.({ ...ctx, options, owner, source });
    if (!result) continue;
    if (result.error) return { error: result.error };
    Object.assign(configs, result.typedPerFilterConfig ?? {});
  }
  return markUsed(configs, ctx);
}

function markUsed(configs: Record<string, Json>, ctx: RouteBuildContext): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [filter, config] of Object.entries(configs)) {
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

function destinationTarget(route: ProxyRoute, ctx: RouteBuildContext): Built<Json> {
  const action = route.routeAction ?? {};
  const request = {
    ...ctx,
    owner: route.owner,
    source: route.source,
    options: route.options ?? {},
    matchers: route.matchers ?? [],
  };
  if (action.single) {
    const target = resolveDestination({ ...request, destination: action.single });
    if (isError(target)) return target;
    return { cluster: target.cluster, target };
  }
  const destinations = action.multi?.destinations ?? [];
  if (destinations.length === 0)
    return { error: 'routeAction.multi.destinations: add at least one destination' };
  if (destinations.every((weighted) => !weighted.weight)) {
    return { error: 'routeAction.multi.destinations: the weights must add up to more than 0' };
  }
  const clusters: Json[] = [];
  let routeFields: Json | undefined;
  for (const [index, weighted] of destinations.entries()) {
    const target = resolveDestination({ ...request, destination: weighted.destination });
    if (isError(target)) return { error: `routeAction.multi.destinations[${index}]: ${target.error}` };
    if (target.routeFields) {
      if (routeFields && JSON.stringify(routeFields) !== JSON.stringify(target.routeFields)) {
        return {
          error: `routeAction.multi.destinations[${index}]: its function needs route settings that conflict with another destination's`,
        };
      }
      routeFields = target.routeFields;
    }
    const cluster: Json = { name: target.cluster, weight: weighted.weight ?? 0 };
    if (target.typedPerFilterConfig)
      cluster.typedPerFilterConfig = markUsed(target.typedPerFilterConfig, ctx);
    if (target.requestHeadersToAdd) cluster.requestHeadersToAdd = target.requestHeadersToAdd;
    clusters.push(cluster);
  }
  return { weightedClusters: { clusters }, target: { cluster: '', routeFields } };
}

function routeAction(
  route: ProxyRoute,
  hasTemplate: boolean,
  ctx: RouteBuildContext,
): Built<{ action: Json; route: Json }> {
  const built = destinationTarget(route, ctx);
  if (isError(built)) return built;
  const { target, ...action } = built as Json & { target: DestinationTarget };
  const envoyRoute: Json = {};
  const options = route.options ?? {};
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
  Object.assign(action, target.routeFields ?? {});
  if (target.typedPerFilterConfig)
    envoyRoute.typedPerFilterConfig = markUsed(target.typedPerFilterConfig, ctx);
  if (target.requestHeadersToAdd) envoyRoute.requestHeadersToAdd = target.requestHeadersToAdd;
  return { action, route: envoyRoute };
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

/** The Envoy routes for one Sluice route (one per matcher), or why the route is rejected. */
function buildRoutes(route: ProxyRoute, ctx: RouteBuildContext): Built<Json[]> {
  if (route.rejected) return { error: route.rejected };
  const matchers = route.matchers?.length ? route.matchers : [{ prefix: '/' }];
  const matches: Json[] = [];
  for (const [index, matcher] of matchers.entries()) {
    const result = routeMatch(matcher, ctx.proxyless);
    if (result.error) return { error: `matchers[${index}].${result.error}` };
    for (const dropped of result.dropped) {
      ctx.reports.warn(
        route.owner,
        `${route.source}.matchers[${index}].${dropped}: ignored by proxyless gRPC clients`,
      );
    }
    matches.push(result.match);
  }
  const hasTemplate = matchers.some((matcher) => matcher.pathTemplate !== undefined);
  const body: Json = {};
  if (route.routeAction) {
    const built = routeAction(route, hasTemplate, ctx);
    if (isError(built)) return built;
    body.route = built.action;
    Object.assign(body, built.route);
  } else if (ctx.proxyless && (route.redirectAction || route.directResponseAction)) {
    return { error: 'redirects and direct responses are not supported by proxyless gRPC clients' };
  } else if (route.redirectAction) {
    body.redirect = redirect(route);
  } else if (route.directResponseAction) {
    const { status, body: text } = route.directResponseAction;
    body.directResponse = { status, ...(text !== undefined ? { body: { inlineString: text } } : {}) };
  }
  const options = route.options ?? {};
  if (
    !route.routeAction &&
    (options.prefixRewrite || options.timeout || options.retries || options.hostRewrite || options.grpc)
  ) {
    return { error: 'options.prefixRewrite, timeout, retries, hostRewrite and grpc need a routeAction' };
  }
  const filters = pluginConfigs(options, route.owner, route.source, ctx);
  if (isError(filters)) return filters;
  if (Object.keys(filters).length) {
    body.typedPerFilterConfig = { ...(body.typedPerFilterConfig as Json | undefined), ...filters };
  }
  Object.assign(body, headerOptions(options.headerManipulation));
  return matches.map((match) => ({ ...(route.name ? { name: route.name } : {}), match, ...body }));
}

/**
 * Translates a route, reporting a failure on the resource that wrote it. A rejected route answers 503
 * on Envoy (so its traffic never falls through to a broader route) and is left out for gRPC clients.
 */
export function translateRoute(route: ProxyRoute, ctx: RouteBuildContext): Json[] {
  const generated = functionRoutesOf(route, ctx);
  if (generated) return generated.flatMap((each) => translateRoute(each, ctx));
  const built = buildRoutes(route, ctx);
  if (!isError(built)) return built;
  ctx.reports.warn(route.owner, `${route.source}: route rejected: ${built.error}`);
  if (ctx.proxyless) return [];
  const body = `sluice: this route is rejected; see the status of ${keyString(route.owner)}\n`;
  return (route.matchers?.length ? route.matchers : [{ prefix: '/' }]).flatMap((matcher) => {
    const { match, error } = routeMatch(matcher, false);
    return error ? [] : [{ match, directResponse: { status: 503, body: { inlineString: body } } }];
  });
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
  const json: Json = headerOptions(options.headerManipulation);
  if (options.retries) json.retryPolicy = retryPolicy(options.retries, ctx.proxyless);
  const filters = pluginConfigs({ cors: options.cors }, owner, 'spec.virtualHost', ctx);
  if (isError(filters)) ctx.reports.warn(owner, `spec.virtualHost.${filters.error}`);
  else if (Object.keys(filters).length) json.typedPerFilterConfig = filters;
  return json;
}

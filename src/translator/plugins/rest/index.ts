import { upstreamClusterName } from '../../envoy/clusters';
import type { DestinationContext, DestinationTarget, TranslatorPlugin } from '../../plugin';
import { listNames } from '../list-names';
import { hasRestFunctions, requestPath, restFunctions, upstreamPath } from './functions';
import { pathRewrite } from './rewrite';
import { LUA_FILTER, LUA_TYPE, requestTransformation } from './transformation';
import { routeTemplate } from './variables';

function restDestination(ctx: DestinationContext): DestinationTarget | { error: string } {
  const { upstream } = ctx;
  const cluster = upstreamClusterName(upstream);
  const wanted = ctx.destination.function;
  if (wanted === undefined) return { cluster };
  const functions = restFunctions(upstream, ctx.snapshot);
  const fn = functions.get(wanted);
  const where = `upstream ${upstream.metadata.namespace}/${upstream.metadata.name}`;
  if (!fn)
    return {
      error: `${where} has no REST function "${wanted}" (known: ${listNames([...functions.keys()])})`,
    };
  if (ctx.options.prefixRewrite !== undefined)
    return {
      error: `options.prefixRewrite: function ${wanted} sets the upstream path itself; remove prefixRewrite`,
    };
  const rewrite = pathRewrite(fn, ctx.matchers);
  if ('error' in rewrite) return { error: `${where}: ${rewrite.error}` };
  return { cluster, pathRewrite: rewrite.pathRewrite, ...requestTransformation(fn) };
}

/**
 * REST functions (OpenAPI operations) on service upstreams (static, kube), written in serviceSpec.rest or
 * discovered: routes by operation name, one route per operation for routeAction.functions, and the
 * request transformation each operation declares. See docs/openapi.md.
 */
export const restPlugin: TranslatorPlugin = {
  name: 'rest',
  protoFiles: ['envoy/extensions/filters/http/lua/v3/lua.proto'],
  offersFunctions: (upstream, ctx) => hasRestFunctions(upstream, ctx.snapshot),
  functionNames: (upstream, ctx) => [...restFunctions(upstream, ctx.snapshot).keys()],
  describeFunctions: (upstream, ctx) =>
    [...restFunctions(upstream, ctx.snapshot).values()].map((fn) => ({
      name: fn.name,
      target: `${fn.method} ${upstreamPath(fn)}`,
      source: fn.source,
    })),
  functionRoutes: (upstream, ctx) =>
    [...restFunctions(upstream, ctx.snapshot).values()].map((fn) => ({
      function: fn.name,
      pathTemplate: routeTemplate(requestPath(fn)),
      method: fn.method,
    })),
  destination: restDestination,
  httpFilter: { filterName: LUA_FILTER, typedConfig: { '@type': LUA_TYPE }, proxylessSupported: false },
};

import { keyOf, resolveRef } from '../../api/resource';
import { lookup } from '../../api/snapshot';
import type { MatcherSpec } from '../../api/types';
import type { ProxyRoute } from '../gateway/proxy';
import type { FunctionRoute } from '../plugin';
import { functionPlugins } from './destinations';
import type { RouteBuildContext } from './routes';
import { parsePathTemplate, segmentRanks, type PathTemplate } from './uri-template';

interface Candidate {
  route: FunctionRoute;
  template: PathTemplate;
  ranks: number[];
}

/**
 * Literal segments before variables, position by position; then shorter templates (two templates that
 * differ only in length never match the same path); then by text and method.
 */
function compareCandidates(a: Candidate, b: Candidate): number {
  const length = Math.min(a.ranks.length, b.ranks.length);
  for (let index = 0; index < length; index++) {
    if (a.ranks[index] !== b.ranks[index]) return a.ranks[index] - b.ranks[index];
  }
  if (a.ranks.length !== b.ranks.length) return a.ranks.length - b.ranks.length;
  if (a.route.pathTemplate !== b.route.pathTemplate)
    return a.route.pathTemplate < b.route.pathTemplate ? -1 : 1;
  return (a.route.method ?? '').localeCompare(b.route.method ?? '');
}

function joinPath(prefix: string, template: string): string {
  return prefix.replace(/\/+$/, '') + template;
}

function candidatesOf(routes: FunctionRoute[], owner: ProxyRoute, ctx: RouteBuildContext): Candidate[] {
  const candidates: Candidate[] = [];
  const seen = new Map<string, string>();
  for (const route of routes) {
    const template = parsePathTemplate(route.pathTemplate);
    if (typeof template === 'string') {
      ctx.reports.warn(
        owner.owner,
        `${owner.source}: function ${route.function} left out: path ${JSON.stringify(route.pathTemplate)}: ${template}`,
      );
      continue;
    }
    // Variable names left out: two functions with the same shape cannot be told apart.
    const shape = `${route.method ?? '*'} ${route.pathTemplate.replace(/\{[^}]*\}/g, '{}')}`;
    const holder = seen.get(shape);
    if (holder !== undefined) {
      ctx.reports.warn(
        owner.owner,
        `${owner.source}: functions ${holder} and ${route.function} both match ${shape}; ${route.function} is left out`,
      );
      continue;
    }
    seen.set(shape, route.function);
    candidates.push({ route, template, ranks: segmentRanks(template) });
  }
  return candidates.sort(compareCandidates);
}

function functionMatcher(prefix: MatcherSpec, candidate: Candidate): MatcherSpec | undefined {
  const { route, template } = candidate;
  if (route.method && prefix.methods?.length && !prefix.methods.includes(route.method)) return undefined;
  const path = route.absolute ? route.pathTemplate : joinPath(prefix.prefix ?? '/', route.pathTemplate);
  const hasVariables = template.segments.some((segment) => segment.some((piece) => !('literal' in piece)));
  const { prefix: _prefix, ...conditions } = prefix;
  return {
    ...conditions,
    ...(hasVariables ? { pathTemplate: path } : { exact: path }),
    ...(route.method ? { methods: [route.method] } : {}),
  };
}

/**
 * `routeAction.functions`: one route per function of the upstream under each prefix matcher, ordered so
 * that literal segments win over variables (`/pets/mine` before `/pets/{id}`). Each generated route is a
 * `single` destination to its function, so the function's plugin rewrites the path as for a hand-written
 * route. Two functions that cannot be told apart are a Warning naming both (the first is served).
 */
function expandFunctionRoutes(route: ProxyRoute, ctx: RouteBuildContext): ProxyRoute[] {
  const reject = (reason: string): ProxyRoute[] => [{ ...route, rejected: reason }];
  const ref = resolveRef(route.routeAction?.functions?.upstream ?? { name: '' }, route.owner.namespace);
  const upstream = lookup(ctx.snapshot.upstreams, ref);
  if (!upstream) return reject(`routeAction.functions: upstream ${ref.namespace}/${ref.name} not found`);
  if (ctx.reports.hasErrors(keyOf(upstream)))
    return reject(`routeAction.functions: upstream ${ref.namespace}/${ref.name} is rejected`);
  const plugin = functionPlugins(upstream, ctx.plugins, ctx).find((candidate) => candidate.functionRoutes);
  if (!plugin?.functionRoutes) {
    return reject(
      `routeAction.functions: upstream ${ref.namespace}/${ref.name} offers no functions that map to paths ` +
        '(REST operations do: set serviceSpec.rest or enable discovery)',
    );
  }
  const matchers = route.matchers?.length ? route.matchers : [{ prefix: '/' }];
  const notPrefix = matchers.findIndex((matcher) => matcher.prefix === undefined);
  if (notPrefix >= 0) return reject(`matchers[${notPrefix}]: routeAction.functions needs prefix matchers`);
  const functionRoutes = plugin.functionRoutes(upstream, ctx);
  // A prefix cannot apply to functions whose paths are absolute (gRPC); ignoring it would be silent.
  const absolute = functionRoutes.find((candidate) => candidate.absolute);
  const prefixed = matchers.findIndex((matcher) => matcher.prefix !== '/');
  if (absolute && prefixed >= 0) {
    return reject(
      `matchers[${prefixed}]: the functions of upstream ${ref.namespace}/${ref.name} have paths of their own ` +
        `(e.g. ${absolute.pathTemplate}); use prefix /`,
    );
  }
  const candidates = candidatesOf(functionRoutes, route, ctx);
  if (candidates.length === 0) {
    ctx.reports.warn(
      route.owner,
      `${route.source}: upstream ${ref.namespace}/${ref.name} has no functions yet; the route serves nothing`,
    );
  }
  const { functions: _functions, ...action } = route.routeAction ?? {};
  return matchers.flatMap((prefix) =>
    candidates.flatMap((candidate) => {
      const matcher = functionMatcher(prefix, candidate);
      if (!matcher) return [];
      return [
        {
          ...route,
          name: candidate.route.function,
          matchers: [matcher],
          routeAction: { ...action, single: { upstream: ref, function: candidate.route.function } },
          source: `${route.source} (function ${candidate.route.function})`,
          generated: true,
        },
      ];
    }),
  );
}

type PathSpecifier = { exact: string } | { prefix: string };

/** The path the destinations' functions decide (gRPC methods), if any. */
function functionPathOf(
  route: ProxyRoute,
  ctx: RouteBuildContext,
): PathSpecifier | { error: string } | undefined {
  const action = route.routeAction ?? {};
  // Most routes name no function: nothing to look up or allocate for them.
  const named = action.single
    ? action.single.function !== undefined
    : action.multi?.destinations?.some((weighted) => weighted.destination.function !== undefined);
  if (!named) return undefined;
  const destinations = action.single
    ? [action.single]
    : (action.multi?.destinations ?? []).map((weighted) => weighted.destination);
  const paths = new Map<string, PathSpecifier>();
  for (const destination of destinations) {
    if (destination.function === undefined) continue;
    const upstream = lookup(ctx.snapshot.upstreams, resolveRef(destination.upstream, route.owner.namespace));
    if (!upstream) continue;
    const plugin = functionPlugins(upstream, ctx.plugins, ctx).find((candidate) => candidate.functionPath);
    const path = plugin?.functionPath?.(upstream, destination.function, ctx);
    if (path) paths.set(JSON.stringify(path), path);
  }
  if (paths.size > 1) {
    return {
      error: `routeAction: the destinations' functions are on different gRPC paths (${[...paths.keys()].join(', ')})`,
    };
  }
  return paths.values().next().value;
}

/** A gRPC function route matches its method's path; the matchers add header and query conditions. */
function withFunctionPath(route: ProxyRoute, ctx: RouteBuildContext): ProxyRoute[] | undefined {
  const path = functionPathOf(route, ctx);
  if (!path) return undefined;
  if ('error' in path) return [{ ...route, rejected: path.error }];
  const matchers = route.matchers?.length ? route.matchers : [{}];
  const conflicting = matchers.findIndex(
    ({ prefix, exact, regex, pathTemplate }) =>
      (prefix !== undefined && prefix !== '/') ||
      exact !== undefined ||
      regex !== undefined ||
      pathTemplate !== undefined,
  );
  if (conflicting >= 0) {
    return [
      {
        ...route,
        rejected: `matchers[${conflicting}]: the function decides the path (${JSON.stringify(path)}); leave the path out of the matcher`,
      },
    ];
  }
  return [
    {
      ...route,
      matchers: matchers.map(({ prefix: _prefix, ...conditions }) => ({ ...conditions, ...path })),
      generated: true,
    },
  ];
}

/**
 * The routes a function route stands for: one per function for routeAction.functions, or the route
 * with its path set by its function (gRPC); undefined for any other route.
 */
export function functionRoutesOf(route: ProxyRoute, ctx: RouteBuildContext): ProxyRoute[] | undefined {
  if (route.rejected || route.generated) return undefined;
  if (route.routeAction?.functions) return expandFunctionRoutes(route, ctx);
  return withFunctionPath(route, ctx);
}

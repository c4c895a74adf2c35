import { keyOf, keyString, type ResourceKey } from '../../api/resource';
import { lookup, type ApiSnapshot } from '../../api/snapshot';
import type { MatcherSpec, RouteOptionsSpec, RouteSpec } from '../../api/types';
import type { Reports } from '../reports';
import type { ProxyRoute } from './proxy';

interface Owner {
  key: ResourceKey;
  /** Path of the routes list in the owner, e.g. `spec.virtualHost.routes`. */
  path: string;
}

function mergeOptions(parent?: RouteOptionsSpec, child?: RouteOptionsSpec): RouteOptionsSpec | undefined {
  if (!parent) return child;
  if (!child) return parent;
  return { ...parent, ...child };
}

function parentPrefix(route: RouteSpec): string | { error: string } {
  const matchers = route.matchers ?? [];
  if (matchers.length === 0) return '/';
  if (matchers.length > 1) return { error: 'a delegating route must have exactly one matcher' };
  const [matcher] = matchers;
  if (matcher.exact !== undefined || matcher.regex !== undefined || matcher.pathTemplate !== undefined) {
    return { error: 'a delegating route must match by prefix' };
  }
  return matcher.prefix ?? '/';
}

/** A child matcher inherits the parent's header, query and method conditions. */
function inheritConditions(parent: MatcherSpec | undefined, child: MatcherSpec): MatcherSpec {
  if (!parent) return child;
  const headers = [...(parent.headers ?? []), ...(child.headers ?? [])];
  const queryParameters = [...(parent.queryParameters ?? []), ...(child.queryParameters ?? [])];
  const methods = child.methods ?? parent.methods;
  return {
    ...child,
    ...(headers.length ? { headers } : {}),
    ...(queryParameters.length ? { queryParameters } : {}),
    ...(methods ? { methods } : {}),
  };
}

function childPath(matcher: MatcherSpec): string | undefined {
  return matcher.prefix ?? matcher.exact ?? matcher.pathTemplate;
}

/**
 * Route sources (`PATH[INDEX]`) by path, made once: the routes at the same place in every owner, in
 * every translation, share one string (every route keeps its source). Paths are a few constants.
 */
const sourcesByPath = new Map<string, string[]>();

function sourcesOf(path: string): string[] {
  let sources = sourcesByPath.get(path);
  if (!sources) sourcesByPath.set(path, (sources = []));
  return sources;
}

/**
 * Flattens a VirtualService's routes, following delegateAction into RouteTables (recursively, with
 * cycle detection). A delegated route must stay under its parent's prefix; a broken delegation is
 * reported on the resource that holds it and the route is rejected, not the whole VirtualService.
 */
export function flattenRoutes(
  routes: RouteSpec[],
  owner: Owner,
  snapshot: ApiSnapshot,
  reports: Reports,
  visiting: string[] = [keyString(owner.key)],
): ProxyRoute[] {
  const out: ProxyRoute[] = [];
  const sources = sourcesOf(owner.path);
  routes.forEach((route, index) => {
    const source = (sources[index] ??= `${owner.path}[${index}]`);
    if (!route.delegateAction) {
      // The route spread last: V8 (Node 20) adds members after a leading spread slowly.
      out.push({ owner: owner.key, source, ...route });
      return;
    }
    const reject = (reason: string): void => {
      reports.warn(owner.key, `${source}: route rejected: ${reason}`);
      out.push({ ...route, owner: owner.key, source, rejected: reason });
    };
    const { ref, name, namespace } = route.delegateAction;
    const target = ref ?? (name ? { name, namespace } : undefined);
    if (!target?.name) return reject('delegateAction: set ref.name (the RouteTable to delegate to)');
    const tableKey = {
      kind: 'RouteTable' as const,
      name: target.name,
      namespace: target.namespace || owner.key.namespace,
    };
    const table = lookup(snapshot.routeTables, tableKey);
    if (!table) return reject(`delegateAction: RouteTable ${tableKey.namespace}/${tableKey.name} not found`);
    if (reports.hasErrors(keyOf(table)))
      return reject(`delegateAction: RouteTable ${tableKey.namespace}/${tableKey.name} is rejected`);
    const tableId = keyString(tableKey);
    if (visiting.includes(tableId)) {
      return reject(`delegateAction: delegation cycle ${[...visiting, tableId].join(' -> ')}`);
    }
    const prefix = parentPrefix(route);
    if (typeof prefix !== 'string') return reject(`delegateAction: ${prefix.error}`);
    reports.track(tableKey);
    const parentMatcher = route.matchers?.[0];
    const children = flattenRoutes(
      table.spec?.routes ?? [],
      { key: tableKey, path: 'spec.routes' },
      snapshot,
      reports,
      [...visiting, tableId],
    );
    for (const child of children) {
      const matchers = child.matchers?.length ? child.matchers : [{ prefix }];
      const outside = matchers.find(
        (matcher) => matcher.regex !== undefined || !(childPath(matcher) ?? '/').startsWith(prefix),
      );
      if (outside) {
        const reason = `matchers must start with the delegating prefix ${JSON.stringify(prefix)} of ${keyString(owner.key)} ${source}`;
        reports.warn(child.owner, `${child.source}: route rejected: ${reason}`);
        out.push({ ...child, rejected: reason });
        continue;
      }
      out.push({
        ...child,
        matchers: matchers.map((matcher) => inheritConditions(parentMatcher, matcher)),
        options: mergeOptions(route.options, child.options),
      });
    }
  });
  return out;
}

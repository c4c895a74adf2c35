import { keyOf, type ResourceKey } from '../../api/resource';
import { nameKey } from '../../api/snapshot';
import type { DestinationSpec, MatcherSpec, RouteOptionsSpec, Upstream } from '../../api/types';
import type { DestinationTarget, TranslationContext, TranslatorPlugin } from '../plugin';
import { upstreamClusterName } from './clusters';

/** The plugin that owns an upstream's type (the one key of its spec that a plugin claims). */
export function pluginForUpstream(
  upstream: Upstream,
  plugins: readonly TranslatorPlugin[],
): TranslatorPlugin | undefined {
  const spec = upstream.spec ?? {};
  // Loops, not find/some: asked for every upstream and route destination, with no closure per plugin.
  for (const plugin of plugins) {
    const types = plugin.upstreamTypes;
    if (types) for (const type of types) if (Object.hasOwn(spec, type)) return plugin;
  }
  return undefined;
}

/** The plugins that offer functions on an upstream: the one of its type, then function plugins (REST, ...). */
export function functionPlugins(
  upstream: Upstream,
  plugins: readonly TranslatorPlugin[],
  ctx: TranslationContext,
): TranslatorPlugin[] {
  const typePlugin = pluginForUpstream(upstream, plugins);
  const offering = plugins.filter((plugin) => plugin.offersFunctions?.(upstream, ctx));
  return typePlugin ? [typePlugin, ...offering.filter((plugin) => plugin !== typePlugin)] : offering;
}

/** Option paths by their dotted form, split once: every destination of every route reads them. */
const optionPaths = new Map<string, readonly string[]>();

function optionAt(options: RouteOptionsSpec, path: string): unknown {
  let keys = optionPaths.get(path);
  if (!keys) optionPaths.set(path, (keys = path.split('.')));
  let value: unknown = options;
  for (const key of keys) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

/** A destination option the route sets that `resolver` does not honour, with the plugins that do. */
function foreignOption(
  options: RouteOptionsSpec,
  resolver: TranslatorPlugin,
  plugins: readonly TranslatorPlugin[],
): { path: string; owners: string } | undefined {
  for (const owner of plugins) {
    if (owner === resolver || !owner.destinationOptions) continue;
    // The first option of the plugin the route sets; a loop, not find: no closure per destination.
    let path: string | undefined;
    for (const candidate of owner.destinationOptions) {
      if (optionAt(options, candidate) !== undefined) {
        path = candidate;
        break;
      }
    }
    if (path && !resolver.destinationOptions?.includes(path)) return { path, owners: owner.name };
  }
  return undefined;
}

/** The first plugin that offers functions on the upstream; a loop, not find: no closure per destination. */
function functionPluginOf(upstream: Upstream, scope: DestinationScope): TranslatorPlugin | undefined {
  for (const plugin of scope.plugins) if (plugin.offersFunctions?.(upstream, scope)) return plugin;
  return undefined;
}

/** What the destinations of one listener's routes are resolved in. */
export interface DestinationScope extends TranslationContext {
  proxyless: boolean;
  plugins: readonly TranslatorPlugin[];
}

/**
 * Where a route destination goes, or why it cannot go there (naming the upstream and function). The
 * route's parts come as arguments: no object is made per destination unless a plugin resolves it.
 */
export function resolveDestination(
  scope: DestinationScope,
  destination: DestinationSpec,
  owner: ResourceKey,
  source: string,
  options: RouteOptionsSpec,
  matchers: readonly MatcherSpec[],
): DestinationTarget | { error: string } {
  // The ref resolved into its parts: no object per destination.
  const { name } = destination.upstream;
  const namespace = destination.upstream.namespace || owner.namespace;
  const upstream = scope.snapshot.upstreams.get(nameKey(namespace, name));
  if (!upstream) return { error: `upstream ${namespace}/${name} not found` };
  if (scope.reports.hasErrors(keyOf(upstream))) return { error: `upstream ${namespace}/${name} is rejected` };
  const plugin = pluginForUpstream(upstream, scope.plugins);
  if (!plugin) return { error: `upstream ${namespace}/${name} has no supported type` };
  const fn = destination.function;
  const functionPlugin = functionPluginOf(upstream, scope);
  const resolver = functionPlugin?.destination ? functionPlugin : plugin;
  const foreign = foreignOption(options, resolver, scope.plugins);
  if (foreign) {
    return {
      error: `options.${foreign.path} applies to ${foreign.owners} upstreams; upstream ${namespace}/${name} is not one`,
    };
  }
  if (resolver.destination) {
    // Every member named: see routeBuildContext (routes.ts).
    return resolver.destination({
      snapshot: scope.snapshot,
      reports: scope.reports,
      memo: scope.memo,
      upstream,
      destination,
      source,
      owner,
      proxyless: scope.proxyless,
      options,
      matchers,
    });
  }
  if (fn !== undefined) {
    const known = plugin.functionNames?.(upstream, scope) ?? [];
    return {
      error:
        `upstream ${namespace}/${name} has no function ${JSON.stringify(fn)}` +
        (known.length ? ` (known: ${known.join(', ')})` : ` (it offers no functions)`),
    };
  }
  return { cluster: upstreamClusterName(upstream) };
}

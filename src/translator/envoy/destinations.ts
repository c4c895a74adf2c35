import { keyOf, resolveRef, type ResourceKey } from '../../api/resource';
import { lookup } from '../../api/snapshot';
import type { DestinationSpec, RouteOptionsSpec, Upstream } from '../../api/types';
import type { DestinationTarget, TranslationContext, TranslatorPlugin } from '../plugin';
import { clusterName } from './clusters';

/** The plugin that owns an upstream's type (the one key of its spec that a plugin claims). */
export function pluginForUpstream(
  upstream: Upstream,
  plugins: readonly TranslatorPlugin[],
): TranslatorPlugin | undefined {
  const spec = upstream.spec ?? {};
  return plugins.find((plugin) => plugin.upstreamTypes?.some((type) => Object.hasOwn(spec, type)));
}

export interface DestinationRequest extends TranslationContext {
  destination: DestinationSpec;
  owner: ResourceKey;
  source: string;
  proxyless: boolean;
  options: RouteOptionsSpec;
  plugins: readonly TranslatorPlugin[];
}

/** Where a route destination goes, or why it cannot go there (naming the upstream and function). */
export function resolveDestination(request: DestinationRequest): DestinationTarget | { error: string } {
  const ref = resolveRef(request.destination.upstream, request.owner.namespace);
  const upstream = lookup(request.snapshot.upstreams, ref);
  if (!upstream) return { error: `upstream ${ref.namespace}/${ref.name} not found` };
  if (request.reports.hasErrors(keyOf(upstream)))
    return { error: `upstream ${ref.namespace}/${ref.name} is rejected` };
  const plugin = pluginForUpstream(upstream, request.plugins);
  if (!plugin) return { error: `upstream ${ref.namespace}/${ref.name} has no supported type` };
  if (plugin.destination) return plugin.destination({ ...request, upstream });
  const fn = request.destination.function;
  if (fn !== undefined) {
    const known = plugin.functionNames?.(upstream, request) ?? [];
    return {
      error:
        `upstream ${ref.namespace}/${ref.name} has no function ${JSON.stringify(fn)}` +
        (known.length ? ` (known: ${known.join(', ')})` : ` (it offers no functions)`),
    };
  }
  return { cluster: clusterName(ref) };
}

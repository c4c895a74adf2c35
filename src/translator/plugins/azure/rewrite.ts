import type { MatcherSpec } from '../../../api/types';
import type { Json } from '../../plugin';
import type { KnownAzureFunction } from './functions';

type Rewrite = { pathRewrite: Json } | { error: string };

/** The segments of a function's path before its first route parameter (`/api/products` of `/api/products/{id}`). */
function literalStart(path: string): { literal: string; parameters: boolean } {
  const segments = path.split('/');
  const first = segments.findIndex((segment) => segment.includes('{'));
  if (first < 0) return { literal: path, parameters: false };
  return { literal: segments.slice(0, first).join('/') || '/', parameters: true };
}

function matcherRewrite(fn: KnownAzureFunction, matcher: MatcherSpec): Json | { error: string } {
  const { literal, parameters } = literalStart(fn.path);
  // A prefix is replaced and the rest of the request path follows: it fills the route's parameters.
  if (matcher.prefix !== undefined) return { prefixRewrite: literal };
  if (parameters) {
    return {
      error: `function ${fn.name} has route parameters (${fn.path}): match it with a prefix, after which the request path fills them`,
    };
  }
  // A path (exact) match is a prefix of itself: prefix_rewrite replaces the whole path, query kept.
  if (matcher.exact !== undefined) return { prefixRewrite: fn.path };
  return { regexRewrite: { pattern: { regex: '^.*$' }, substitution: fn.path.replace(/\\/g, '\\\\') } };
}

/**
 * How a route reaches function `fn` on its host: the matched path becomes the function's path under the
 * app's route prefix (`/api/ROUTE`). Every matcher of the route must lead to the same rewrite.
 */
export function functionPathRewrite(fn: KnownAzureFunction, matchers: readonly MatcherSpec[]): Rewrite {
  let chosen: Json | undefined;
  for (const [index, matcher] of (matchers.length ? matchers : [{ prefix: '/' }]).entries()) {
    const rewrite = matcherRewrite(fn, matcher);
    if ('error' in rewrite) return { error: `matchers[${index}]: ${rewrite.error}` };
    if (chosen && JSON.stringify(chosen) !== JSON.stringify(rewrite))
      return {
        error: `matchers[${index}]: needs a different path rewrite than matchers[0]; split the route`,
      };
    chosen = rewrite;
  }
  return { pathRewrite: chosen as Json };
}

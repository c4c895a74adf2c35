import type { MatcherSpec } from '../../../api/types';
import type { Json } from '../../plugin';

function escapeRe2(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * What a route's matcher leaves of the request path for the function, in place of the function URL's
 * path (`/` for 2nd gen, `/NAME` for 1st gen). A prefix is replaced (with the slash after it), so
 * `/gcf/hello/a?b` reaches `/NAME/a?b`; an exact path, a regex or a path template is replaced whole.
 * regex_rewrite throughout: prefix_rewrite cannot follow a uri_template matcher and leaves `//a` behind
 * a prefix without a trailing slash.
 */
function matcherRewrite(matcher: MatcherSpec, basePath: string): Json {
  const base = basePath.replace(/\/+$/, '');
  if (matcher.prefix !== undefined) {
    return {
      pattern: { regex: `^${escapeRe2(matcher.prefix.replace(/\/+$/, ''))}/?` },
      substitution: `${base}/`,
    };
  }
  return { pattern: { regex: '^.*$' }, substitution: base || '/' };
}

/** The route fields that rewrite the path for the function; every matcher of the route must agree. */
export function functionPathRewrite(
  matchers: readonly MatcherSpec[],
  basePath: string,
): { pathRewrite: Json } | { error: string } {
  const rewrites = (matchers.length ? matchers : [{ prefix: '/' }]).map((matcher) =>
    matcherRewrite(matcher, basePath),
  );
  const differing = rewrites.findIndex((rewrite) => JSON.stringify(rewrite) !== JSON.stringify(rewrites[0]));
  if (differing > 0)
    return {
      error: `matchers[${differing}] needs a different path rewrite than matchers[0]; split the route`,
    };
  return { pathRewrite: { regexRewrite: rewrites[0] } };
}

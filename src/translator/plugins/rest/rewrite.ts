import type { MatcherSpec } from '../../../api/types';
import {
  envoyTemplateProblem,
  formatTemplate,
  parsePathTemplate,
  renameVariables,
  templateRegex,
  type PathTemplate,
} from '../../envoy/uri-template';
import type { Json } from '../../plugin';
import { upstreamPath, type KnownRestFunction } from './functions';
import { envoyVariableNames } from './variables';

const URI_TEMPLATE_REWRITER = 'envoy.path.rewrite.uri_template.uri_template_rewriter';
const URI_TEMPLATE_REWRITE_TYPE =
  'type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig';
/** RE2 substitutions reference capture groups \1 to \9. */
const MAX_CAPTURES = 9;

type Rewrite = { pathRewrite: Json } | { error: string };

/** An RE2 substitution: literals with backslashes escaped, variables as \N of the matcher's captures. */
function substitution(target: PathTemplate, captures: readonly string[]): string {
  return (
    '/' +
    target.segments
      .map((segment) =>
        segment
          .map((piece) => {
            if ('literal' in piece) return piece.literal.replace(/\\/g, '\\\\');
            if ('variable' in piece) return `\\${captures.indexOf(piece.variable) + 1}`;
            return piece.wildcard;
          })
          .join(''),
      )
      .join('/')
  );
}

/** The rewrite for a pathTemplate matcher: its variables fill the operation's path parameters. */
function templateRewrite(fn: KnownRestFunction, target: PathTemplate, matcher: string): Rewrite {
  const parsed = parsePathTemplate(matcher);
  if (typeof parsed === 'string') return { error: `pathTemplate ${JSON.stringify(matcher)}: ${parsed}` };
  const envoyNames = envoyVariableNames(target.variables);
  const mapping = new Map<string, string>();
  const missing: string[] = [];
  for (const variable of target.variables) {
    const envoyName = envoyNames.get(variable) as string;
    const name = [variable, envoyName].find((candidate) => parsed.variables.includes(candidate));
    if (name) mapping.set(variable, name);
    else missing.push(`{${envoyName}}`);
  }
  if (missing.length) {
    return {
      error: `pathTemplate ${JSON.stringify(matcher)} must name the path parameters of function ${fn.name}: ${missing.join(', ')}`,
    };
  }
  const rewritten = renameVariables(target, mapping);
  if (!envoyTemplateProblem(parsed) && !envoyTemplateProblem(rewritten)) {
    return {
      pathRewrite: {
        pathRewritePolicy: {
          name: URI_TEMPLATE_REWRITER,
          typedConfig: { '@type': URI_TEMPLATE_REWRITE_TYPE, pathTemplateRewrite: formatTemplate(rewritten) },
        },
      },
    };
  }
  if (parsed.variables.length > MAX_CAPTURES)
    return { error: `pathTemplate ${JSON.stringify(matcher)}: more than ${MAX_CAPTURES} variables` };
  return {
    pathRewrite: {
      regexRewrite: {
        pattern: { regex: templateRegex(parsed, true) },
        substitution: substitution(rewritten, parsed.variables),
      },
    },
  };
}

function matcherRewrite(fn: KnownRestFunction, target: PathTemplate, matcher: MatcherSpec): Rewrite {
  if (matcher.pathTemplate !== undefined) return templateRewrite(fn, target, matcher.pathTemplate);
  if (target.variables.length) {
    const names = [...envoyVariableNames(target.variables).values()].map((name) => `{${name}}`);
    return {
      error:
        `function ${fn.name} has path parameters ${names.join(', ')}: match it with a pathTemplate that ` +
        'names them, or use routeAction.functions',
    };
  }
  const path = formatTemplate(target);
  // With a path (exact) match, prefix_rewrite replaces the whole path; otherwise replace it by regex.
  if (matcher.exact !== undefined) return { pathRewrite: { prefixRewrite: path } };
  return {
    pathRewrite: { regexRewrite: { pattern: { regex: '^.*$' }, substitution: substitution(target, []) } },
  };
}

/**
 * How a route reaches operation `fn`: the request path is replaced by the operation's path on the
 * upstream (base path included), path parameters taken from the matcher's template variables. Every
 * matcher of the route must lead to the same rewrite.
 */
export function pathRewrite(fn: KnownRestFunction, matchers: readonly MatcherSpec[]): Rewrite {
  const target = parsePathTemplate(upstreamPath(fn));
  if (typeof target === 'string')
    return { error: `function ${fn.name}: path ${JSON.stringify(fn.path)}: ${target}` };
  if (target.segments.some((segment) => segment.some((piece) => 'wildcard' in piece)))
    return {
      error: `function ${fn.name}: path ${JSON.stringify(fn.path)} has a wildcard; name it as a parameter`,
    };
  let chosen: Rewrite | undefined;
  for (const [index, matcher] of (matchers.length ? matchers : [{ prefix: '/' }]).entries()) {
    const rewrite = matcherRewrite(fn, target, matcher);
    if ('error' in rewrite) return { error: `matchers[${index}]: ${rewrite.error}` };
    if (chosen && JSON.stringify(chosen) !== JSON.stringify(rewrite))
      return {
        error: `matchers[${index}]: needs a different path rewrite than matchers[0]; split the route`,
      };
    chosen = rewrite;
  }
  return chosen as Rewrite;
}

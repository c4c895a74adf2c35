import type { HeaderMatcherSpec, MatcherSpec, QueryParameterMatcherSpec } from '../../api/types';
import type { Json } from '../plugin';
import { envoyTemplateProblem, parsePathTemplate, templateRegex } from './uri-template';

const URI_TEMPLATE_MATCHER = 'envoy.path.match.uri_template.uri_template_matcher';

function stringMatch(matcher: { value?: string; regex?: boolean }): Json {
  return matcher.regex ? { safeRegex: { regex: matcher.value ?? '' } } : { exact: matcher.value ?? '' };
}

function headerMatcher(matcher: HeaderMatcherSpec): Json {
  const json: Json = { name: matcher.name };
  if (matcher.present || matcher.value === undefined) json.presentMatch = true;
  else json.stringMatch = stringMatch(matcher);
  if (matcher.invertMatch) json.invertMatch = true;
  return json;
}

function queryMatcher(matcher: QueryParameterMatcherSpec): Json {
  if (matcher.present || matcher.value === undefined) return { name: matcher.name, presentMatch: true };
  return { name: matcher.name, stringMatch: stringMatch(matcher) };
}

export interface MatchResult {
  match: Json;
  /** Conditions left out because the client cannot evaluate them (proxyless gRPC). */
  dropped: readonly string[];
  error?: string;
}

/** What a matcher usually drops: one shared empty list, not one per route. */
const NOTHING_DROPPED: readonly string[] = Object.freeze([]);

/**
 * One Sluice matcher -> Envoy RouteMatch. Path templates beyond Envoy's uri_template rules, and every
 * template for proxyless gRPC clients, become equivalent regexes. For proxyless gRPC clients
 * `:method` conditions are left out (gRPC never matches pseudo-headers; every call is a POST).
 */
export function routeMatch(matcher: MatcherSpec, proxyless: boolean): MatchResult {
  const match: Json = {};
  let dropped = NOTHING_DROPPED;
  if (matcher.exact !== undefined) match.path = matcher.exact;
  else if (matcher.regex !== undefined) match.safeRegex = { regex: matcher.regex };
  else if (matcher.pathTemplate !== undefined) {
    const template = parsePathTemplate(matcher.pathTemplate);
    if (typeof template === 'string')
      return { match, dropped, error: `pathTemplate ${JSON.stringify(matcher.pathTemplate)}: ${template}` };
    if (proxyless || envoyTemplateProblem(template)) match.safeRegex = { regex: templateRegex(template) };
    else {
      match.pathMatchPolicy = {
        name: URI_TEMPLATE_MATCHER,
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig',
          pathTemplate: matcher.pathTemplate,
        },
      };
    }
  } else match.prefix = matcher.prefix ?? '/';
  // Allocated only for a matcher with conditions on headers (most have none).
  let headers = matcher.headers?.length ? matcher.headers.map(headerMatcher) : undefined;
  if (matcher.methods?.length) {
    if (proxyless) dropped = ['methods'];
    else {
      const methods = [...new Set(matcher.methods)];
      (headers ??= []).push({
        name: ':method',
        stringMatch:
          methods.length === 1 ? { exact: methods[0] } : { safeRegex: { regex: methods.join('|') } },
      });
    }
  }
  if (headers) match.headers = headers;
  if (matcher.queryParameters?.length) match.queryParameters = matcher.queryParameters.map(queryMatcher);
  return { match, dropped };
}

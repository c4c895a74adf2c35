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
  dropped: string[];
  error?: string;
}

/**
 * One Sluice matcher -> Envoy RouteMatch. Path templates beyond Envoy's uri_template rules, and every
 * template for proxyless gRPC clients, become equivalent regexes. For proxyless gRPC clients
 * `:method` conditions are left out (gRPC never matches pseudo-headers; every call is a POST).
 */
export function routeMatch(matcher: MatcherSpec, proxyless: boolean): MatchResult {
  const match: Json = {};
  const dropped: string[] = [];
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
  const headers = (matcher.headers ?? []).map(headerMatcher);
  if (matcher.methods?.length) {
    if (proxyless) dropped.push('methods');
    else {
      const methods = [...new Set(matcher.methods)];
      headers.push({
        name: ':method',
        stringMatch:
          methods.length === 1 ? { exact: methods[0] } : { safeRegex: { regex: methods.join('|') } },
      });
    }
  }
  if (headers.length) match.headers = headers;
  if (matcher.queryParameters?.length) match.queryParameters = matcher.queryParameters.map(queryMatcher);
  return { match, dropped };
}

import type { Json } from '../../src/translator/plugin';

/**
 * Envoy's HTTP routing, modelled from Envoy's documented semantics (route_components.proto, the
 * uri_template extensions) and written apart from the translator, so that a test routes requests
 * through what the translator produced instead of re-deriving it with the translator's own code.
 *
 * Input is a RouteConfiguration in proto3 JSON (lowerCamel field names). A configuration Envoy would
 * reject (an invalid uri_template, conflicting rewrites, a regex RE2 refuses) throws when the router is
 * built, as Envoy would NACK it; a field this model does not know throws too, rather than being ignored.
 */

export interface EnvoyRequest {
  method: string;
  /** The :path header: path, then optionally `?query`. */
  path: string;
  /** The :authority (Host) header; any host when absent. */
  authority?: string;
  /** Other request headers (names in lower case). */
  headers?: Record<string, string>;
}

export interface RouteDecision {
  virtualHost: Json;
  route: Json;
  /** The :path sent upstream, after the route's rewrite; undefined for redirects and direct responses. */
  forwardedPath?: string;
}

export type EnvoyRouter = (request: EnvoyRequest) => RouteDecision | undefined;

/** Characters uri_template literals and globs take: RFC 3986 pchar without `*` and `=`. */
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@";
const TEMPLATE_MAX_VARIABLES = 5;
const TEMPLATE_MAX_NAME_LENGTH = 16;
const TEMPLATE_VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;
const URI_TEMPLATE_MATCHER =
  'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';
const URI_TEMPLATE_REWRITER =
  'type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig';

class EnvoyConfigError extends Error {}

function reject(message: string): never {
  throw new EnvoyConfigError(message);
}

function onlyKnownFields(json: Json, known: readonly string[], where: string): void {
  const unknown = Object.keys(json).filter((key) => !known.includes(key));
  if (unknown.length) reject(`${where}: fields this model of Envoy does not evaluate: ${unknown.join(', ')}`);
}

/** The path without query and fragment, as Envoy's PathUtil::removeQueryAndFragment leaves it. */
function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}

/**
 * An RE2 pattern as a JS RegExp source. RE2 refuses look-around and backreferences, which JS accepts:
 * those are rejected, as Envoy would reject them.
 */
function re2Source(regex: string): string {
  if (/\(\?<?[=!]/.test(regex)) reject(`regex ${JSON.stringify(regex)}: RE2 has no look-around`);
  if (/\\[1-9]|\\k</.test(regex)) reject(`regex ${JSON.stringify(regex)}: RE2 has no backreferences`);
  if (/\[\[:|\\[zACQpP]/.test(regex))
    reject(`regex ${JSON.stringify(regex)}: RE2 syntax this model does not translate`);
  const source = regex.replace(/\(\?P</g, '(?<');
  try {
    new RegExp(source);
  } catch (error) {
    reject(`regex ${JSON.stringify(regex)}: ${(error as Error).message}`);
  }
  return source;
}

/** safe_regex matching is a full match (RE2::FullMatch). */
function fullMatchRegex(matcher: Json, where: string): RegExp {
  onlyKnownFields(matcher, ['regex'], where);
  return new RegExp(`^(?:${re2Source(String(matcher.regex))})$`);
}

/** A StringMatcher (envoy.type.matcher.v3). */
function stringMatcher(json: Json | undefined, where: string): (value: string) => boolean {
  if (json === undefined) return reject(`${where}: missing`);
  onlyKnownFields(json, ['exact', 'prefix', 'suffix', 'contains', 'safeRegex', 'ignoreCase'], where);
  const fold = (text: string) => (json.ignoreCase ? text.toLowerCase() : text);
  if (json.exact !== undefined) return (value) => fold(value) === fold(String(json.exact));
  if (json.prefix !== undefined) return (value) => fold(value).startsWith(fold(String(json.prefix)));
  if (json.suffix !== undefined) return (value) => fold(value).endsWith(fold(String(json.suffix)));
  if (json.contains !== undefined) return (value) => fold(value).includes(fold(String(json.contains)));
  if (json.safeRegex !== undefined) {
    const regex = fullMatchRegex(json.safeRegex as Json, `${where}.safeRegex`);
    return (value) => regex.test(value);
  }
  return reject(`${where}: no match pattern`);
}

type HeaderValues = ReadonlyMap<string, string[]>;

/**
 * A HeaderMatcher. A missing header matches only `presentMatch: false`, or `presentMatch: true` inverted
 * (Envoy's HeaderUtility::matchHeaders); otherwise the values joined by `,` are matched, then inverted.
 */
function headerMatcher(json: Json, where: string): (headers: HeaderValues) => boolean {
  onlyKnownFields(json, ['name', 'stringMatch', 'presentMatch', 'invertMatch'], where);
  const name = String(json.name).toLowerCase();
  const invert = Boolean(json.invertMatch);
  const present = json.presentMatch;
  const matches =
    present !== undefined
      ? () => Boolean(present)
      : stringMatcher(json.stringMatch as Json, `${where}.stringMatch`);
  return (headers) => {
    const values = headers.get(name);
    if (values === undefined) return present !== undefined && Boolean(present) === invert;
    return matches(values.join(',')) !== invert;
  };
}

/** A QueryParameterMatcher: the first value of the parameter, which must be there. */
function queryMatcher(json: Json, where: string): (query: ReadonlyMap<string, string>) => boolean {
  onlyKnownFields(json, ['name', 'stringMatch', 'presentMatch'], where);
  const name = String(json.name);
  const matches =
    json.stringMatch === undefined
      ? () => true
      : stringMatcher(json.stringMatch as Json, `${where}.stringMatch`);
  return (query) => {
    const value = query.get(name);
    return value !== undefined && matches(value);
  };
}

/** Query parameters by name, first value only, percent-decoded. */
function queryParameters(path: string): Map<string, string> {
  const parameters = new Map<string, string>();
  const start = path.indexOf('?');
  if (start < 0) return parameters;
  const query = path.slice(start + 1).split('#')[0];
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const [name, ...value] = pair.split('=');
    const key = decodeURIComponent(name);
    if (!parameters.has(key)) parameters.set(key, decodeURIComponent(value.join('=')));
  }
  return parameters;
}

type Glob = '*' | '**';
type TemplateSegment = { literal: string } | { glob: Glob } | { variable: string; match: TemplateSegment[] };

interface UriTemplate {
  /** Named groups, one per variable. */
  regex: RegExp;
  variables: string[];
}

function validLiteral(text: string, where: string): string {
  if (!new RegExp(`^[${PCHAR}]+$`).test(text)) reject(`${where}: invalid literal ${JSON.stringify(text)}`);
  return text;
}

/** What a variable's `=...` says: globs and literal segments, separated by `/`. */
function parseVariableMatch(text: string, where: string): TemplateSegment[] {
  if (!text) reject(`${where}: empty variable match`);
  const parts = text.split('/');
  if (parts.some((part) => part === '')) reject(`${where}: invalid variable match ${JSON.stringify(text)}`);
  return parts.map((part) => {
    if (part === '*' || part === '**') return { glob: part };
    if (part.startsWith('*')) return reject(`${where}: invalid variable match ${JSON.stringify(text)}`);
    return { literal: validLiteral(part, where) };
  });
}

/**
 * Parses a uri_template path template: segments that are a literal, `*`, `**` or a variable
 * (`{name}`, `{name=*}`, `{name=**}`, `{name=lit/*}`); a literal may follow a glob or variable in the last
 * segment only (a suffix); a trailing `/` is an empty last segment.
 */
function parseUriTemplate(template: string, where: string): { segments: TemplateSegment[]; suffix: string } {
  if (!/^\/[\x21-\x7e]*$/.test(template)) reject(`${where}: invalid pattern ${JSON.stringify(template)}`);
  const segments: TemplateSegment[] = [];
  let rest = template.slice(1);
  let suffix = '';
  while (rest) {
    let consumed: number;
    if (rest.startsWith('*')) {
      const glob: Glob = rest.startsWith('**') ? '**' : '*';
      segments.push({ glob });
      consumed = glob.length;
    } else if (rest.startsWith('{')) {
      const close = rest.indexOf('}');
      if (close < 0) reject(`${where}: unmatched variable bracket`);
      const [name, ...match] = rest.slice(1, close).split('=');
      if (!TEMPLATE_VARIABLE_NAME.test(name))
        reject(`${where}: invalid variable name ${JSON.stringify(name)}`);
      segments.push({
        variable: name,
        match: match.length ? parseVariableMatch(match.join('='), where) : [],
      });
      consumed = close + 1;
    } else {
      const end = rest.indexOf('/');
      const literal = end < 0 ? rest : rest.slice(0, end);
      segments.push({ literal: validLiteral(literal, where) });
      consumed = literal.length;
    }
    rest = rest.slice(consumed);
    if (rest === '/') {
      segments.push({ literal: '' });
      break;
    }
    if (rest.startsWith('/')) rest = rest.slice(1);
    else if (rest) {
      if (rest.includes('/')) reject(`${where}: a suffix must end the template`);
      suffix = validLiteral(rest, where);
      break;
    }
  }
  return { segments, suffix };
}

/** No glob (`*`, `**`, or a variable's implicit `*`) may come after a `**`. */
function checkGlobOrder(segments: readonly TemplateSegment[], where: string): void {
  let afterTextGlob = false;
  const visit = (glob: Glob) => {
    if (afterTextGlob) reject(`${where}: glob after "**"`);
    afterTextGlob = glob === '**';
  };
  for (const segment of segments) {
    if ('glob' in segment) visit(segment.glob);
    if (!('variable' in segment)) continue;
    if (segment.match.length === 0) visit('*');
    for (const part of segment.match) if ('glob' in part) visit(part.glob);
  }
}

function segmentRegex(segment: TemplateSegment): string {
  if ('literal' in segment) return segment.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if ('glob' in segment) return segment.glob === '**' ? `[${PCHAR}/]*` : `[${PCHAR}]+`;
  const match = segment.match.length ? segment.match.map(segmentRegex).join('/') : `[${PCHAR}]+`;
  return `(?<${segment.variable}>${match})`;
}

function compileUriTemplate(template: string, where: string): UriTemplate {
  const { segments, suffix } = parseUriTemplate(template, where);
  const variables = segments.flatMap((segment) => ('variable' in segment ? [segment.variable] : []));
  if (variables.length > TEMPLATE_MAX_VARIABLES)
    reject(`${where}: more than ${TEMPLATE_MAX_VARIABLES} variables`);
  if (variables.some((name) => name.length > TEMPLATE_MAX_NAME_LENGTH))
    reject(`${where}: a variable name is longer than ${TEMPLATE_MAX_NAME_LENGTH}`);
  if (new Set(variables).size !== variables.length) reject(`${where}: repeated variable name`);
  checkGlobOrder(segments, where);
  const source = '/' + segments.map(segmentRegex).join('/') + segmentRegex({ literal: suffix });
  return { regex: new RegExp(`^${source}$`), variables };
}

type RewritePiece = { literal: string } | { variable: string };

/** A uri_template rewrite: `/` first, no `//`, literals of pchar and `/`, `{name}` of the matcher's variables. */
function compileTemplateRewrite(rewrite: string, matcher: UriTemplate, where: string): RewritePiece[] {
  if (!rewrite.startsWith('/') || rewrite.includes('//'))
    reject(`${where}: invalid rewrite ${JSON.stringify(rewrite)}`);
  const pieces: RewritePiece[] = [];
  for (const [token, name] of rewrite.matchAll(/\{([^}]*)\}|[^{]+|\{/g)) {
    if (token === '{') reject(`${where}: unmatched variable bracket`);
    if (name === undefined) {
      if (!new RegExp(`^[${PCHAR}/]+$`).test(token))
        reject(`${where}: invalid rewrite literal ${JSON.stringify(token)}`);
      pieces.push({ literal: token });
    } else if (!matcher.variables.includes(name)) {
      reject(`${where}: ${JSON.stringify(name)} is not a variable of the path_match_policy`);
    } else pieces.push({ variable: name });
  }
  return pieces;
}

function typedConfig(policy: Json, typeUrl: string, where: string): Json {
  onlyKnownFields(policy, ['name', 'typedConfig'], where);
  const config = policy.typedConfig as Json;
  if (config?.['@type'] !== typeUrl) reject(`${where}: expected a ${typeUrl}`);
  return config;
}

/**
 * RE2::GlobalReplace: every non-overlapping match replaced, `\0`..`\9` standing for groups and `\\` for a
 * backslash; an empty match right where the previous match ended is skipped (unlike String.replace).
 */
function globalReplace(text: string, regex: RegExp, substitution: string): string {
  const pattern = new RegExp(regex.source, 'g');
  let out = '';
  let position = 0;
  let lastEnd = -1;
  let count = 0;
  while (position <= text.length) {
    pattern.lastIndex = position;
    const match = pattern.exec(text);
    if (!match) break;
    out += text.slice(position, match.index);
    if (match[0] === '' && match.index === lastEnd) {
      out += text.slice(match.index, match.index + 1);
      position = match.index + 1;
      continue;
    }
    out += substitution.replace(/\\(.)/g, (_, escaped: string) =>
      escaped === '\\' ? '\\' : (match[Number(escaped)] ?? ''),
    );
    position = lastEnd = match.index + match[0].length;
    count++;
  }
  return count === 0 ? text : out + text.slice(position);
}

function compileRegexRewrite(json: Json, where: string): (path: string) => string {
  onlyKnownFields(json, ['pattern', 'substitution'], where);
  const pattern = json.pattern as Json;
  onlyKnownFields(pattern, ['regex'], `${where}.pattern`);
  const regex = new RegExp(re2Source(String(pattern.regex)));
  const substitution = String(json.substitution ?? '');
  const groups = new RegExp(`(?:${regex.source})|`).exec('')?.length ?? 1;
  for (const [, escaped] of substitution.matchAll(/\\(.)/g)) {
    if (escaped !== '\\' && !(/[0-9]/.test(escaped) && Number(escaped) < groups))
      reject(`${where}: substitution ${JSON.stringify(substitution)} has an invalid \\${escaped}`);
  }
  return (path) => globalReplace(path, regex, substitution);
}

interface CompiledRoute {
  json: Json;
  matches(request: EnvoyRequest, headers: HeaderValues, query: ReadonlyMap<string, string>): boolean;
  /** The :path sent upstream, for a request this route matched. */
  forward?(path: string): string;
}

type PathMatch =
  | { kind: 'prefix'; prefix: string }
  | { kind: 'path'; path: string }
  | { kind: 'regex'; regex: RegExp }
  | { kind: 'template'; template: UriTemplate };

function compilePathMatch(match: Json, where: string): PathMatch {
  const specifiers = ['prefix', 'path', 'safeRegex', 'pathMatchPolicy'].filter(
    (key) => match[key] !== undefined,
  );
  if (specifiers.length !== 1)
    reject(`${where}: needs exactly one path specifier, has ${specifiers.join(', ')}`);
  if (match.prefix !== undefined) return { kind: 'prefix', prefix: String(match.prefix) };
  if (match.path !== undefined) return { kind: 'path', path: String(match.path) };
  if (match.safeRegex !== undefined)
    return { kind: 'regex', regex: fullMatchRegex(match.safeRegex as Json, `${where}.safeRegex`) };
  const config = typedConfig(match.pathMatchPolicy as Json, URI_TEMPLATE_MATCHER, `${where}.pathMatchPolicy`);
  return {
    kind: 'template',
    template: compileUriTemplate(String(config.pathTemplate), `${where}.pathMatchPolicy`),
  };
}

/** prefix and path compare the path case-sensitively unless caseSensitive is false; prefix sees the query too. */
function pathMatches(pathMatch: PathMatch, path: string, caseSensitive: boolean): boolean {
  const fold = (text: string) => (caseSensitive ? text : text.toLowerCase());
  switch (pathMatch.kind) {
    case 'prefix':
      return fold(path).startsWith(fold(pathMatch.prefix));
    case 'path':
      return fold(pathOnly(path)) === fold(pathMatch.path);
    case 'regex':
      return pathMatch.regex.test(pathOnly(path));
    case 'template':
      return pathMatch.template.regex.test(pathOnly(path));
  }
}

/**
 * The one rewrite a route action may have. prefix_rewrite replaces what was matched: the prefix, or the
 * whole path of a path or regex match; regex_rewrite and path_rewrite_policy rewrite the path without the
 * query, which is kept.
 */
function compileRewrite(action: Json, pathMatch: PathMatch, where: string): (path: string) => string {
  const rewrites = ['prefixRewrite', 'regexRewrite', 'pathRewritePolicy'].filter(
    (key) => action[key] !== undefined && action[key] !== '',
  );
  if (rewrites.length > 1) reject(`${where}: specify only one of ${rewrites.join(', ')}`);
  const keepQuery = (rewrite: (path: string) => string) => (path: string) => {
    const just = pathOnly(path);
    return rewrite(just) + path.slice(just.length);
  };
  if (action.prefixRewrite) {
    const replacement = String(action.prefixRewrite);
    if (pathMatch.kind === 'template') reject(`${where}: cannot use prefix_rewrite with a path_match_policy`);
    if (pathMatch.kind === 'prefix') return (path) => replacement + path.slice(pathMatch.prefix.length);
    return keepQuery(() => replacement);
  }
  if (action.regexRewrite)
    return keepQuery(compileRegexRewrite(action.regexRewrite as Json, `${where}.regexRewrite`));
  if (action.pathRewritePolicy) {
    if (pathMatch.kind !== 'template')
      reject(`${where}: path_rewrite_policy needs a uri_template path_match_policy`);
    const { template } = pathMatch;
    const config = typedConfig(
      action.pathRewritePolicy as Json,
      URI_TEMPLATE_REWRITER,
      `${where}.pathRewritePolicy`,
    );
    const pieces = compileTemplateRewrite(
      String(config.pathTemplateRewrite),
      template,
      `${where}.pathRewritePolicy`,
    );
    return keepQuery((path) => {
      const groups = template.regex.exec(path)?.groups;
      if (!groups) return path;
      return pieces.map((piece) => ('literal' in piece ? piece.literal : groups[piece.variable])).join('');
    });
  }
  return (path) => path;
}

function compileRoute(route: Json, where: string): CompiledRoute {
  const match = (route.match ?? {}) as Json;
  onlyKnownFields(
    match,
    ['prefix', 'path', 'safeRegex', 'pathMatchPolicy', 'caseSensitive', 'headers', 'queryParameters'],
    `${where}.match`,
  );
  const pathMatch = compilePathMatch(match, `${where}.match`);
  const caseSensitive = match.caseSensitive !== false;
  const headers = ((match.headers ?? []) as Json[]).map((header, index) =>
    headerMatcher(header, `${where}.match.headers[${index}]`),
  );
  const query = ((match.queryParameters ?? []) as Json[]).map((parameter, index) =>
    queryMatcher(parameter, `${where}.match.queryParameters[${index}]`),
  );
  const forward = route.route ? compileRewrite(route.route as Json, pathMatch, `${where}.route`) : undefined;
  return {
    json: route,
    matches: (request, requestHeaders, requestQuery) =>
      pathMatches(pathMatch, request.path, caseSensitive) &&
      headers.every((matcher) => matcher(requestHeaders)) &&
      query.every((matcher) => matcher(requestQuery)),
    forward,
  };
}

/**
 * The virtual host for a host name: an exact domain first, then the longest `*.suffix`, then the longest
 * `prefix*`, then `*`.
 */
function selectVirtualHost<T>(
  hosts: ReadonlyArray<{ domains: string[]; host: T }>,
  authority: string,
): T | undefined {
  const host = authority.toLowerCase();
  const candidates = hosts.flatMap(({ domains, host: virtualHost }) =>
    domains.map((domain) => ({ domain: domain.toLowerCase(), virtualHost })),
  );
  const exact = candidates.find(({ domain }) => domain === host);
  if (exact) return exact.virtualHost;
  const longest = (matches: typeof candidates) =>
    matches.sort((a, b) => b.domain.length - a.domain.length)[0];
  const suffix = longest(
    candidates.filter(
      ({ domain }) =>
        domain.startsWith('*') &&
        domain !== '*' &&
        host.endsWith(domain.slice(1)) &&
        host.length > domain.length - 1,
    ),
  );
  if (suffix) return suffix.virtualHost;
  const prefix = longest(
    candidates.filter(
      ({ domain }) =>
        domain.endsWith('*') &&
        domain !== '*' &&
        host.startsWith(domain.slice(0, -1)) &&
        host.length > domain.length - 1,
    ),
  );
  return (prefix ?? candidates.find(({ domain }) => domain === '*'))?.virtualHost;
}

/** Builds the router of a RouteConfiguration (throws where Envoy would reject the configuration). */
export function envoyRouter(config: Json): EnvoyRouter {
  const virtualHosts = ((config.virtualHosts ?? []) as Json[]).map((virtualHost, hostIndex) => ({
    domains: (virtualHost.domains ?? []) as string[],
    host: {
      json: virtualHost,
      routes: ((virtualHost.routes ?? []) as Json[]).map((route, index) =>
        compileRoute(route, `virtualHosts[${hostIndex}].routes[${index}]`),
      ),
    },
  }));
  return (request) => {
    const virtualHost = selectVirtualHost(virtualHosts, request.authority ?? 'any.host');
    if (!virtualHost) return undefined;
    const headers = new Map<string, string[]>([
      [':method', [request.method]],
      [':path', [request.path]],
      [':authority', [request.authority ?? 'any.host']],
    ]);
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      headers.set(name.toLowerCase(), [...(headers.get(name.toLowerCase()) ?? []), value]);
    }
    const query = queryParameters(request.path);
    const route = virtualHost.routes.find((candidate) => candidate.matches(request, headers, query));
    if (!route) return undefined;
    return { virtualHost: virtualHost.json, route: route.json, forwardedPath: route.forward?.(request.path) };
  };
}

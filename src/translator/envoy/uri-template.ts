/**
 * Path templates (`/pets/{id}`, `/files/{path=**}`, `/v1/*`): Sluice accepts OpenAPI-style templates and
 * translates each either to Envoy's uri_template extension, when its stricter rules allow, or to an
 * equivalent RE2 regex. Checking here makes a bad template a clear error on the route, not a NACK.
 */
const ENVOY_VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,15}$/;
/** Characters Envoy's uri_template accepts in literals: unreserved, pct-encoded, sub-delims but * and =, : and @. */
const ENVOY_LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@]*$/;
const ENVOY_MAX_VARIABLES = 5;
const ENVOY_MAX_LENGTH = 256;

type Piece = { literal: string } | { variable: string; rest: boolean } | { wildcard: '*' | '**' };

export interface PathTemplate {
  segments: Piece[][];
  /** Variable names in order of appearance. */
  variables: string[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function parseSegment(text: string, isLast: boolean): Piece[] | string {
  if (text === '*' || text === '**') {
    return text === '**' && !isLast ? '"**" may only be the last segment' : [{ wildcard: text }];
  }
  const pieces: Piece[] = [];
  const pattern = /\{([^{}=/]*)(?:=([^{}]*))?\}|[^{}]+|[{}]/g;
  for (const [token, name, match] of text.matchAll(pattern)) {
    if (token === '{' || token === '}') return `segment ${JSON.stringify(text)}: unbalanced "${token}"`;
    if (name === undefined) {
      if (token.includes('*')) return `segment ${JSON.stringify(text)}: a wildcard must fill a whole segment`;
      pieces.push({ literal: token });
      continue;
    }
    if (!name) return `segment ${JSON.stringify(text)}: a variable needs a name`;
    if (match !== undefined && match !== '*' && match !== '**')
      return `variable ${name}: only {${name}}, {${name}=*} or {${name}=**} are supported`;
    if (match === '**' && !isLast) return `variable ${name}: "**" may only be in the last segment`;
    pieces.push({ variable: name, rest: match === '**' });
  }
  return pieces;
}

/**
 * Parsed templates by text: a route's template is read by the expansion, the matcher and the rewrite, on
 * every translation. Results are never mutated. Bounded, since templates come from user input.
 */
const parsedTemplates = new Map<string, Readonly<PathTemplate> | string>();
const MAX_PARSED = 100_000;

/** Parses a template, or says why it is not one. */
export function parsePathTemplate(template: string): PathTemplate | string {
  let parsed = parsedTemplates.get(template);
  if (parsed === undefined) {
    if (parsedTemplates.size >= MAX_PARSED) parsedTemplates.clear();
    parsed = parseUncached(template);
    parsedTemplates.set(template, parsed);
  }
  return parsed;
}

function parseUncached(template: string): PathTemplate | string {
  if (!template.startsWith('/')) return 'must start with "/"';
  const segments: Piece[][] = [];
  const variables: string[] = [];
  const parts = template.slice(1).split('/');
  for (const [index, part] of parts.entries()) {
    const segment = parseSegment(part, index === parts.length - 1);
    if (typeof segment === 'string') return segment;
    for (const piece of segment) {
      if (!('variable' in piece)) continue;
      if (variables.includes(piece.variable)) return `variable ${piece.variable} is used twice`;
      variables.push(piece.variable);
    }
    segments.push(segment);
  }
  return { segments, variables };
}

/** The template's problem, or undefined when it is a valid template. */
export function uriTemplateProblem(template: string): string | undefined {
  const parsed = parsePathTemplate(template);
  return typeof parsed === 'string' ? parsed : undefined;
}

function envoySegmentProblem(segment: Piece[], isLast: boolean): string | undefined {
  if (segment.length === 0 && !isLast) return 'an empty segment ("//")';
  for (const [index, piece] of segment.entries()) {
    if ('literal' in piece && !ENVOY_LITERAL.test(piece.literal))
      return `literal ${JSON.stringify(piece.literal)} has characters uri_template does not accept`;
    if (!('variable' in piece)) continue;
    if (!ENVOY_VARIABLE_NAME.test(piece.variable))
      return `variable name ${JSON.stringify(piece.variable)} is not 1-16 letters, digits or _`;
    if (index !== 0) return `variable ${piece.variable} does not start its segment`;
    const suffix = segment.slice(1);
    if (suffix.length && (!isLast || piece.rest || suffix.some((next) => !('literal' in next))))
      return `only one variable per segment, with a literal suffix in the last segment only`;
  }
  return undefined;
}

/**
 * Why Envoy's uri_template extension cannot take a valid template as it is written (the template is then
 * matched with a regex instead), or undefined when it can.
 */
export function envoyTemplateProblem(template: PathTemplate | string): string | undefined {
  const parsed = typeof template === 'string' ? parsePathTemplate(template) : template;
  if (typeof parsed === 'string') return parsed;
  if (parsed.variables.length > ENVOY_MAX_VARIABLES) return `more than ${ENVOY_MAX_VARIABLES} variables`;
  if (formatTemplate(parsed).length > ENVOY_MAX_LENGTH) return `longer than ${ENVOY_MAX_LENGTH} characters`;
  for (const [index, segment] of parsed.segments.entries()) {
    const problem = envoySegmentProblem(segment, index === parsed.segments.length - 1);
    if (problem) return problem;
  }
  return undefined;
}

function formatPiece(piece: Piece): string {
  if ('literal' in piece) return piece.literal;
  if ('wildcard' in piece) return piece.wildcard;
  return piece.rest ? `{${piece.variable}=**}` : `{${piece.variable}}`;
}

/** The template as text (after renaming variables, say). */
export function formatTemplate(template: PathTemplate): string {
  return '/' + template.segments.map((segment) => segment.map(formatPiece).join('')).join('/');
}

/**
 * The RE2 regex (matched against the whole path, as Envoy's safe_regex is) that matches the same paths;
 * with `capture`, each variable is a capture group, numbered in the order of `variables`.
 */
export function templateRegex(template: PathTemplate | string, capture = false): string {
  const parsed = typeof template === 'string' ? parsePathTemplate(template) : template;
  if (typeof parsed === 'string') throw new Error(`invalid path template ${String(template)}: ${parsed}`);
  const group = (regex: string) => (capture ? `(${regex})` : regex);
  const pieceRegex = (piece: Piece): string => {
    if ('literal' in piece) return escapeRegex(piece.literal);
    if ('wildcard' in piece) return piece.wildcard === '**' ? '.*' : '[^/]+';
    return group(piece.rest ? '.*' : '[^/]+');
  };
  return '/' + parsed.segments.map((segment) => segment.map(pieceRegex).join('')).join('/');
}

/** Renames the template's variables (names missing from `names` stay as they are). */
export function renameVariables(template: PathTemplate, names: ReadonlyMap<string, string>): PathTemplate {
  const rename = (piece: Piece): Piece =>
    'variable' in piece ? { ...piece, variable: names.get(piece.variable) ?? piece.variable } : piece;
  return {
    segments: template.segments.map((segment) => segment.map(rename)),
    variables: template.variables.map((name) => names.get(name) ?? name),
  };
}

/**
 * How specific each segment is, for ordering routes so that a literal segment wins over a variable in the
 * same place (`/pets/mine` before `/pets/{id}`): 0 literal, 1 literal with a variable, 2 variable or `*`,
 * 3 `**`.
 */
export function segmentRanks(template: PathTemplate): number[] {
  return template.segments.map((segment) => {
    if (segment.some((piece) => 'wildcard' in piece && piece.wildcard === '**')) return 3;
    if (segment.some((piece) => 'variable' in piece && piece.rest)) return 3;
    const literal = segment.some((piece) => 'literal' in piece);
    const variable = segment.some((piece) => !('literal' in piece));
    if (!variable) return 0;
    return literal ? 1 : 2;
  });
}

/**
 * Envoy's URI template rules (envoy.path.match.uri_template): checked here so that a bad template is a
 * clear error on the route instead of a NACK from Envoy.
 */
const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,15}$/;
const MAX_VARIABLES = 5;
const MAX_LENGTH = 256;

interface Segment {
  regex: string;
  variable?: string;
}

function segmentOf(text: string, isLast: boolean): Segment | string {
  if (text === '*') return { regex: '[^/]+' };
  if (text === '**') return isLast ? { regex: '.*' } : '"**" may only be the last segment';
  const variable = /^\{([^}=]*)(?:=([^}]*))?\}(.*)$/.exec(text);
  if (!variable) {
    if (/[{}*]/.test(text))
      return `segment ${JSON.stringify(text)}: a variable or wildcard must fill a whole segment`;
    return { regex: text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') };
  }
  const [, name, pattern = '*', suffix] = variable;
  if (!VARIABLE_NAME.test(name)) {
    return `variable ${JSON.stringify(name)}: names start with a letter and have 1-16 letters, digits or _`;
  }
  if (pattern !== '*' && pattern !== '**')
    return `variable ${name}: only {${name}}, {${name}=*} or {${name}=**} are supported`;
  if (pattern === '**' && !isLast) return `variable ${name}: "**" may only be in the last segment`;
  if (suffix && (!isLast || /[{}*/]/.test(suffix)))
    return `variable ${name}: only the last segment may have a literal suffix`;
  const escapedSuffix = suffix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return { regex: (pattern === '**' ? '.*' : '[^/]+') + escapedSuffix, variable: name };
}

/** The template's problem, or undefined when Envoy accepts it. */
export function uriTemplateProblem(template: string): string | undefined {
  const result = parse(template);
  return typeof result === 'string' ? result : undefined;
}

function parse(template: string): Segment[] | string {
  if (!template.startsWith('/')) return 'must start with "/"';
  if (template.length > MAX_LENGTH) return `must be at most ${MAX_LENGTH} characters`;
  const parts = template.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let index = 0; index < parts.length; index++) {
    const segment = segmentOf(parts[index], index === parts.length - 1);
    if (typeof segment === 'string') return segment;
    if (segment.variable) {
      if (names.has(segment.variable)) return `variable ${segment.variable} is used twice`;
      names.add(segment.variable);
    }
    segments.push(segment);
  }
  if (names.size > MAX_VARIABLES) return `at most ${MAX_VARIABLES} variables are allowed`;
  return segments;
}

/** The RE2 regex that matches the same paths, for clients without the uri_template extension. */
export function uriTemplateRegex(template: string): string {
  const segments = parse(template);
  if (typeof segments === 'string') throw new Error(`invalid URI template ${template}: ${segments}`);
  return '/' + segments.map((segment) => segment.regex).join('/');
}

import {
  formatTemplate,
  parsePathTemplate,
  renameVariables,
  type PathTemplate,
} from '../../envoy/uri-template';

const MAX_ENVOY_NAME = 16;

/**
 * OpenAPI parameter names (`user-id`, `repo_name_with_owner`) renamed to what Envoy's uri_template takes
 * (a letter, then up to 15 letters, digits or _), distinct within the template and the same every time.
 */
export function envoyVariableNames(variables: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const variable of variables) {
    let base = variable.replace(/[^a-zA-Z0-9_]/g, '_');
    if (!/^[a-zA-Z]/.test(base)) base = `p${base}`;
    base = base.slice(0, MAX_ENVOY_NAME);
    let name = base;
    for (let suffix = 2; taken.has(name); suffix++) {
      name = base.slice(0, MAX_ENVOY_NAME - String(suffix).length) + suffix;
    }
    taken.add(name);
    names.set(variable, name);
  }
  return names;
}

/** A template with its variables renamed for Envoy, or the parse problem. */
export function envoyNamedTemplate(path: string): PathTemplate | string {
  const parsed = parsePathTemplate(path);
  return typeof parsed === 'string' ? parsed : renameVariables(parsed, envoyVariableNames(parsed.variables));
}

/** The path as routes match it (variables renamed for Envoy), or the path as written when it does not parse. */
export function routeTemplate(path: string): string {
  const template = envoyNamedTemplate(path);
  return typeof template === 'string' ? path : formatTemplate(template);
}

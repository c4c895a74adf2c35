import type { RestFunctionSpec, RestParameterSpec } from '../../../api/types';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** The parts of a dereferenced Swagger 2.0 / OpenAPI 3.x document that describe requests. */
interface Parameter {
  name?: string;
  in?: string;
  required?: boolean;
  enum?: unknown[];
  schema?: { enum?: unknown[]; const?: unknown };
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  consumes?: string[];
  requestBody?: { content?: Record<string, unknown> };
  servers?: Server[];
}

interface Server {
  url?: string;
  variables?: Record<string, { default?: unknown }>;
}

type PathItem = Partial<Record<(typeof METHODS)[number], Operation>> & {
  parameters?: Parameter[];
  servers?: Server[];
};

export interface ApiDocument {
  swagger?: string;
  openapi?: string;
  basePath?: string;
  consumes?: string[];
  servers?: Server[];
  paths?: Record<string, PathItem | undefined>;
}

/** The path part of a server URL (variables at their defaults), relative to where the document was found. */
function serverBasePath(server: Server | undefined, documentUrl: string): string {
  if (!server?.url) return '';
  const url = server.url.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    const value = server.variables?.[name]?.default;
    return value === undefined ? whole : String(value);
  });
  try {
    return decodeURI(new URL(url, documentUrl).pathname).replace(/\/+$/, '');
  } catch {
    return '';
  }
}

/** The operation's servers, else its path's, else the document's; an empty list counts as none. */
function applicableServers(
  document: ApiDocument,
  item: PathItem,
  operation: Operation,
): Server[] | undefined {
  return [operation.servers, item.servers, document.servers].find((servers) => servers?.length);
}

function fixedValue(parameter: Parameter): string | undefined {
  if (!parameter.required) return undefined;
  const values = parameter.enum ?? parameter.schema?.enum;
  if (values?.length === 1) return String(values[0]);
  return parameter.schema?.const === undefined ? undefined : String(parameter.schema.const);
}

/** Path-level parameters apply unless the operation redefines the same name and location. */
function parametersOf(item: PathItem, operation: Operation): RestParameterSpec[] {
  const merged = new Map<string, Parameter>();
  for (const parameter of [...(item.parameters ?? []), ...(operation.parameters ?? [])]) {
    if (parameter?.name && parameter.in) merged.set(`${parameter.in}:${parameter.name}`, parameter);
  }
  const out: RestParameterSpec[] = [];
  for (const parameter of merged.values()) {
    if (!['path', 'query', 'header', 'cookie'].includes(parameter.in as string)) continue;
    const spec: RestParameterSpec = {
      name: parameter.name as string,
      in: parameter.in as RestParameterSpec['in'],
    };
    if (parameter.required || parameter.in === 'path') spec.required = true;
    const fixed = fixedValue(parameter);
    if (fixed !== undefined) spec.fixedValue = fixed;
    out.push(spec);
  }
  return out;
}

/** The request body's media type when the operation declares exactly one. */
function requestContentType(
  document: ApiDocument,
  operation: Operation,
  parameters: Parameter[],
): string | undefined {
  const types = document.swagger
    ? parameters.some((parameter) => parameter.in === 'body' || parameter.in === 'formData')
      ? (operation.consumes ?? document.consumes ?? [])
      : []
    : Object.keys(operation.requestBody?.content ?? {});
  return types.length === 1 ? types[0] : undefined;
}

/** A stable name for an operation without operationId: get_pets_petId for GET /pets/{petId}. */
function derivedName(method: string, path: string): string {
  const words = path
    .replace(/[{}]/g, '')
    .split(/[^a-zA-Z0-9]+/)
    .filter(Boolean);
  return [method, ...words].join('_');
}

/**
 * Every operation of a dereferenced document as a REST function, paths in document order and each path's
 * methods in a fixed order (get, put, post, delete, options, head, patch, trace): its name
 * (operationId, or derived from method and path), method, path template, base path (Swagger basePath, or
 * the path of the applicable OpenAPI server URL), parameters and request media type.
 */
export function operationsOf(document: ApiDocument, documentUrl: string): RestFunctionSpec[] {
  const functions: RestFunctionSpec[] = [];
  const names = new Set<string>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    if (!item || !path.startsWith('/')) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const base = document.swagger
        ? (document.basePath ?? '').replace(/\/+$/, '')
        : serverBasePath(applicableServers(document, item, operation)?.[0], documentUrl);
      let name = operation.operationId || derivedName(method, path);
      for (let suffix = 2; names.has(name); suffix++)
        name = `${operation.operationId || derivedName(method, path)}_${suffix}`;
      names.add(name);
      const fn: RestFunctionSpec = { name, method: method.toUpperCase(), path };
      if (base && base !== '/') fn.basePath = base;
      const parameters = parametersOf(item, operation);
      if (parameters.length) fn.parameters = parameters;
      const allParameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])];
      const contentType = requestContentType(document, operation, allParameters);
      if (contentType) fn.requestContentType = contentType;
      functions.push(fn);
    }
  }
  return functions;
}

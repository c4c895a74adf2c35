import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types';
import { API_VERSION, DEFAULT_NAMESPACE, KINDS, type Kind, type Resource } from './resource';
import { documentSchema, FORMAT_PATTERNS } from './schema';
import { re2Problem } from './re2';

interface OneofGroup {
  name: string;
  members: string[];
  exactlyOne: boolean;
}

function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addKeyword({
    keyword: 'x-oneof',
    type: 'object',
    errors: true,
    validate: function checkOneofs(
      groups: OneofGroup[],
      data: Record<string, unknown>,
      _parentSchema?: unknown,
      dataContext?: DataValidationCxt,
    ): boolean {
      const errors: ErrorObject[] = [];
      for (const group of groups) {
        const set = group.members.filter((member) => data[member] !== undefined);
        if (set.length > 1 || (group.exactlyOne && set.length === 0)) {
          errors.push({
            keyword: 'x-oneof',
            instancePath: dataContext?.instancePath ?? '',
            schemaPath: '',
            params: { set },
            message:
              set.length > 1
                ? `set only one of ${group.members.join(', ')} (found ${set.join(', ')})`
                : `set exactly one of ${group.members.join(', ')}`,
          });
        }
      }
      (checkOneofs as unknown as { errors: ErrorObject[] }).errors = errors;
      return errors.length === 0;
    },
  });
  ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);
  return ajv;
}

const ajv = createAjv();
const validators = new Map<Kind, ValidateFunction>();

function validatorFor(kind: Kind): ValidateFunction {
  let validator = validators.get(kind);
  if (!validator) {
    validator = ajv.compile(documentSchema(kind, 'validation'));
    validators.set(kind, validator);
  }
  return validator;
}

/** `/spec/virtualHost/routes/0/matchers` -> `spec.virtualHost.routes[0].matchers` */
export function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce(
      (path, segment) =>
        /^\d+$/.test(segment) ? `${path}[${segment}]` : path ? `${path}.${segment}` : segment,
      '',
    );
}

function describe(error: ErrorObject): string {
  const at = fieldPath(error.instancePath) || '(document)';
  switch (error.keyword) {
    case 'additionalProperties':
      return `${at}: unknown field "${String(error.params.additionalProperty)}"`;
    case 'required':
      return `${at}: missing required field "${String(error.params.missingProperty)}"`;
    case 'enum':
      return `${at}: must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern': {
      const format = Object.values(FORMAT_PATTERNS).find((entry) => entry.pattern === error.params.pattern);
      return `${at}: invalid value (expected ${format?.hint ?? `a value matching ${String(error.params.pattern)}`})`;
    }
    case 'minLength':
      return `${at}: must not be empty`;
    case 'minItems':
      return `${at}: must have at least ${String(error.params.limit)} item(s)`;
    default:
      return `${at}: ${error.message ?? 'is invalid'}`;
  }
}

export interface ParseResult {
  resource?: Resource;
  errors: string[];
}

function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

/** Regex fields are RE2 in Envoy: check that they compile and use nothing RE2 lacks. */
function regexErrors(value: unknown, path: string, out: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => regexErrors(item, `${path}[${index}]`, out));
    return;
  }
  if (!value || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  for (const [key, child] of Object.entries(record)) {
    const childPath = path ? `${path}.${key}` : key;
    const isRegex =
      (key === 'regex' && typeof child === 'string') ||
      (key === 'value' && record.regex === true && typeof child === 'string') ||
      (key === 'allowOriginRegex' && Array.isArray(child));
    if (isRegex) {
      for (const pattern of Array.isArray(child) ? child : [child]) {
        const problem = re2Problem(String(pattern));
        if (problem) out.push(`${childPath}: invalid regex ${JSON.stringify(pattern)}: ${problem}`);
      }
    } else {
      regexErrors(child, childPath, out);
    }
  }
}

/**
 * Turns one parsed document into a typed resource, or says precisely what is wrong with it. Shared by
 * every store and the CLI so that a resource is accepted or rejected the same way everywhere.
 */
export function parseResource(document: unknown): ParseResult {
  if (!document || typeof document !== 'object' || Array.isArray(document)) {
    return { errors: ['(document): expected a mapping with apiVersion, kind, metadata'] };
  }
  const doc = document as Record<string, unknown>;
  if (!isKind(doc.kind)) {
    return { errors: [`kind: must be one of ${KINDS.join(', ')} (found ${JSON.stringify(doc.kind)})`] };
  }
  const errors: string[] = [];
  if (doc.apiVersion !== API_VERSION) {
    errors.push(`apiVersion: must be ${API_VERSION} (found ${JSON.stringify(doc.apiVersion)})`);
  }
  const validate = validatorFor(doc.kind);
  if (!validate(doc)) errors.push(...(validate.errors ?? []).map(describe));
  regexErrors(doc.spec, 'spec', errors);
  if (errors.length > 0) return { errors: [...new Set(errors)] };
  const resource = doc as unknown as Resource;
  // Copied only to add the namespace: copying every time gives a document parsed again a new hidden
  // class each time, and code optimized for the last one is thrown away.
  if (!resource.metadata.namespace)
    resource.metadata = { ...resource.metadata, namespace: DEFAULT_NAMESPACE };
  return { resource, errors };
}

import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { DataValidationCxt } from 'ajv/dist/types';
import { API_VERSION, DEFAULT_NAMESPACE, KINDS, type Kind, type Resource } from './resource';
import { documentSchema, DURATION_PATTERN, FORMAT_PATTERNS, MAX_DURATION_MS } from './schema';
import { re2Problem } from './re2';
import { durationMs } from '../translator/envoy/durations';

interface OneofGroup {
  name: string;
  members: string[];
  exactlyOne: boolean;
}

const DURATION = new RegExp(DURATION_PATTERN);

function keywordError(
  keyword: string,
  message: string,
  dataContext: DataValidationCxt | undefined,
  params: Record<string, unknown> = {},
): ErrorObject {
  return { keyword, instancePath: dataContext?.instancePath ?? '', schemaPath: '', params, message };
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
          const message =
            set.length > 1
              ? `set only one of ${group.members.join(', ')} (found ${set.join(', ')})`
              : `set exactly one of ${group.members.join(', ')}`;
          errors.push(keywordError('x-oneof', message, dataContext, { set }));
        }
      }
      (checkOneofs as unknown as { errors: ErrorObject[] }).errors = errors;
      return errors.length === 0;
    },
  });
  ajv.addKeyword({
    keyword: 'x-duration',
    type: 'string',
    errors: true,
    validate: function checkDuration(
      rule: { positive: boolean },
      data: string,
      _parentSchema?: unknown,
      dataContext?: DataValidationCxt,
    ): boolean {
      // A malformed duration is the pattern's error; only a well-formed one is measured.
      const ms = DURATION.test(data) ? durationMs(data) : undefined;
      let message: string | undefined;
      if (ms !== undefined && ms > MAX_DURATION_MS)
        message = `must be at most ${MAX_DURATION_MS / 1000}s (the longest duration Envoy accepts)`;
      else if (ms === 0 && rule.positive) message = 'must be at least 1ms (Envoy refuses 0 here)';
      (checkDuration as unknown as { errors: ErrorObject[] }).errors = message
        ? [keywordError('x-duration', message, dataContext)]
        : [];
      return message === undefined;
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
      const patterns: Array<[string, unknown]> = Array.isArray(child)
        ? child.map((pattern, index) => [`${childPath}[${index}]`, pattern])
        : [[childPath, child]];
      for (const [patternPath, pattern] of patterns) {
        const problem = pattern === '' ? 'an empty regex' : re2Problem(String(pattern));
        if (problem) out.push(`${patternPath}: invalid regex ${JSON.stringify(pattern)}: ${problem}`);
      }
    } else {
      regexErrors(child, childPath, out);
    }
  }
}

/** Kubernetes object names: a DNS-1123 subdomain; namespaces: a DNS-1123 label. */
const DNS_1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const NAME_RULES = {
  name: {
    pattern: new RegExp(`^${DNS_1123_LABEL}(\\.${DNS_1123_LABEL})*$`),
    maxLength: 253,
    hint: 'lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
  },
  namespace: {
    pattern: new RegExp(`^${DNS_1123_LABEL}$`),
    maxLength: 63,
    hint: 'lower-case letters, digits and "-", starting and ending with a letter or digit',
  },
};

/** The names Kubernetes would refuse (and that would not make safe file names, cluster names or proxy keys). */
function nameErrors(metadata: unknown): string[] {
  const meta = (metadata ?? {}) as Record<string, unknown>;
  return (['name', 'namespace'] as const).flatMap((field) => {
    const value = meta[field];
    const { pattern, maxLength, hint } = NAME_RULES[field];
    if (typeof value !== 'string' || value === '') return [];
    if (value.length <= maxLength && pattern.test(value)) return [];
    return [`metadata.${field}: not a valid ${field}: ${hint}, at most ${maxLength} characters`];
  });
}

/** Header names as Envoy's strict rule has them: an RFC 7230 token, or a pseudo-header such as :authority. */
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_`|~]+$/;
/** Envoy's limit on a header it adds (HeaderValue). */
const MAX_HEADER_BYTES = 16384;
/** Fields holding a header name: header matchers, headers to add, headers to remove. */
const HEADER_NAME_FIELD = /(\.headers\[\d+\]\.name|\.header\.key|HeadersToRemove\[\d+\])$/;
const HEADER_VALUE_FIELD = /\.header\.value$/;
/** The one free-text field: a response body may hold any text. */
const FREE_TEXT_FIELD = /\.directResponseAction\.body$/;

/**
 * Strings end up in HTTP headers, paths and names Envoy checks: a line break or NUL anywhere, a header
 * name that is not a token or an oversized header value would make Envoy refuse the whole
 * RouteConfiguration, taking every other VirtualService on the listener with it.
 */
function stringErrors(value: unknown, path: string, out: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => stringErrors(item, `${path}[${index}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) stringErrors(child, `${path}.${key}`, out);
  } else if (typeof value === 'string') {
    if (HEADER_NAME_FIELD.test(path) && !HEADER_NAME.test(value)) {
      out.push(`${path}: not a header name (letters, digits and !#$%&'*+-.^_\`|~ only)`);
    } else if (!FREE_TEXT_FIELD.test(path) && /[\0\r\n]/.test(value)) {
      out.push(`${path}: must not contain a line break or NUL character`);
    } else if (HEADER_VALUE_FIELD.test(path) && Buffer.byteLength(value) > MAX_HEADER_BYTES) {
      out.push(`${path}: longer than ${MAX_HEADER_BYTES} bytes, the most Envoy accepts in a header`);
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
  errors.push(...nameErrors(doc.metadata));
  if (!validate(doc)) errors.push(...(validate.errors ?? []).map(describe));
  regexErrors(doc.spec, 'spec', errors);
  stringErrors(doc.spec, 'spec', errors);
  if (errors.length > 0) return { errors: [...new Set(errors)] };
  const resource = doc as unknown as Resource;
  // Copied only to add the namespace: copying every time gives a document parsed again a new hidden
  // class each time, and code optimized for the last one is thrown away.
  if (!resource.metadata.namespace)
    resource.metadata = { ...resource.metadata, namespace: DEFAULT_NAMESPACE };
  return { resource, errors };
}

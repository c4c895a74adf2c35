import type * as protobuf from 'protobufjs';
import { apiType } from './api-protos';
import type { Kind } from './resource';

/**
 * JSON Schemas generated from the API protos. Two flavours from one walk:
 * - `validation`: strict (unknown fields rejected, oneofs as a custom keyword with a readable error),
 *   used by every store and the CLI through ajv;
 * - `crd`: a Kubernetes structural schema (no additionalProperties:false, oneofs as `oneOf` of
 *   `required`, which the API server accepts as a value validation).
 */
export type SchemaFlavour = 'validation' | 'crd';
export type JsonSchema = Record<string, unknown>;

/** "3s", "250ms", "1m30s", "1.5s", "0s". */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

/** The longest google.protobuf.Duration (10,000 years), in milliseconds. */
export const MAX_DURATION_MS = 315_576_000_000_000;

/** Durations that become Envoy fields which must be more than 0 (protoc-gen-validate `gt {}`). */
const POSITIVE_DURATIONS = new Set([
  '.sluice.v1.UpstreamSpec.connectTimeout',
  '.sluice.v1.FaultDelay.fixedDelay',
]);

/** String formats of `(sluice.v1.format)`, with what a user should write instead of a bad value. */
export const FORMAT_PATTERNS: Record<string, { pattern: string; hint: string }> = {
  duration: { pattern: DURATION_PATTERN, hint: 'a duration such as 3s or 250ms' },
  'aws-region': {
    pattern: '^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$',
    hint: 'an AWS region such as us-east-2',
  },
  'aws-account-id': { pattern: '^[0-9]{12}$', hint: 'a 12-digit AWS account id' },
};

const INTEGER_RANGES: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  sint32: [-2147483648, 2147483647],
  fixed32: [0, 4294967295],
  sfixed32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function option(field: protobuf.Field | protobuf.OneOf, name: string): unknown {
  return field.options?.[`(sluice.v1.${name})`];
}

function scalarSchema(field: protobuf.Field, flavour: SchemaFlavour): JsonSchema {
  const type = field.type;
  if (type === 'string') {
    const schema: JsonSchema = { type: 'string' };
    const format = option(field, 'format');
    if (typeof format === 'string' && FORMAT_PATTERNS[format])
      schema.pattern = FORMAT_PATTERNS[format].pattern;
    // A range check ajv runs (validate.ts); a structural CRD schema has no place for it.
    if (format === 'duration' && flavour === 'validation')
      schema['x-duration'] = { positive: POSITIVE_DURATIONS.has(field.fullName) };
    const allowed = option(field, 'allowed');
    if (typeof allowed === 'string') schema.enum = allowed.split(',');
    return schema;
  }
  if (type === 'bool') return { type: 'boolean' };
  if (type === 'double' || type === 'float') return numericBounds(field, { type: 'number' });
  if (type === 'bytes') return { type: 'string', format: 'byte' };
  const range = INTEGER_RANGES[type];
  if (!range) throw new Error(`schema: unsupported field type ${type} of ${field.fullName}`);
  const schema: JsonSchema = { type: 'integer', minimum: range[0], maximum: range[1] };
  const allowed = option(field, 'allowed');
  if (typeof allowed === 'string') schema.enum = allowed.split(',').map(Number);
  return numericBounds(field, schema);
}

function numericBounds(field: protobuf.Field, schema: JsonSchema): JsonSchema {
  const min = option(field, 'min');
  const max = option(field, 'max');
  if (typeof min === 'number') schema.minimum = min;
  if (typeof max === 'number') schema.maximum = max;
  return schema;
}

function valueSchema(field: protobuf.Field, flavour: SchemaFlavour): JsonSchema {
  return field.resolvedType && 'fields' in field.resolvedType
    ? messageSchema(field.resolvedType as protobuf.Type, flavour)
    : scalarSchema(field, flavour);
}

function fieldSchema(field: protobuf.Field, flavour: SchemaFlavour): JsonSchema {
  if (field.map) {
    return { type: 'object', additionalProperties: valueSchema(field, flavour) };
  }
  const item = valueSchema(field, flavour);
  if (field.repeated) {
    const schema: JsonSchema = { type: 'array', items: item };
    if (option(field, 'required')) schema.minItems = 1;
    return schema;
  }
  if (option(field, 'required') && item.type === 'string' && !item.enum) return { ...item, minLength: 1 };
  return item;
}

function oneofSchemas(type: protobuf.Type, flavour: SchemaFlavour): JsonSchema {
  const groups = type.oneofsArray.map((oneof) => ({
    name: oneof.name,
    members: oneof.oneof,
    exactlyOne: option(oneof, 'exactlyOne') === true,
  }));
  if (groups.length === 0) return {};
  if (flavour === 'validation') return { 'x-oneof': groups };
  const constraints = groups.map((group) => {
    const alternatives = group.members.map((member) => ({ required: [member] }));
    if (group.exactlyOne) return { oneOf: alternatives };
    return { oneOf: [...alternatives, { not: { anyOf: alternatives } }] };
  });
  return constraints.length === 1 ? constraints[0] : { allOf: constraints };
}

const cache = new Map<string, JsonSchema>();

/** The schema of one API message, e.g. `messageSchema(apiType('UpstreamSpec'), 'crd')`. */
export function messageSchema(type: protobuf.Type, flavour: SchemaFlavour): JsonSchema {
  const cacheKey = `${flavour}:${type.fullName}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const field of type.fieldsArray) {
    properties[field.name] = fieldSchema(field, flavour);
    const comment = field.comment?.trim();
    if (comment && flavour === 'crd') properties[field.name].description = comment;
    if (option(field, 'required')) required.push(field.name);
  }
  const schema: JsonSchema = { type: 'object', properties };
  if (flavour === 'validation') schema.additionalProperties = false;
  if (required.length > 0) schema.required = required;
  Object.assign(schema, oneofSchemas(type, flavour));
  cache.set(cacheKey, schema);
  return schema;
}

/** The spec message of each kind; Secret has no spec (its `type`/`data` sit at the top level). */
export const SPEC_MESSAGES: Record<Exclude<Kind, 'Secret'>, string> = {
  Upstream: 'UpstreamSpec',
  VirtualService: 'VirtualServiceSpec',
  RouteTable: 'RouteTableSpec',
  Gateway: 'GatewaySpec',
  Settings: 'SettingsSpec',
};

/** The schema of a whole document of `kind` (envelope, metadata, body, status). */
export function documentSchema(kind: Kind, flavour: SchemaFlavour): JsonSchema {
  const metadata = messageSchema(apiType('ObjectMeta'), flavour);
  const properties: Record<string, JsonSchema> = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { ...metadata, required: ['name'] },
    status: messageSchema(apiType('Status'), flavour),
  };
  if (kind === 'Secret') {
    Object.assign(properties, messageSchema(apiType('SecretBody'), flavour).properties as object);
    return {
      type: 'object',
      properties,
      required: ['apiVersion', 'kind', 'metadata', 'type'],
      additionalProperties: false,
    };
  }
  properties.spec = messageSchema(apiType(SPEC_MESSAGES[kind]), flavour);
  return {
    type: 'object',
    properties,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    additionalProperties: false,
  };
}

import type * as protobuf from 'protobufjs';
import { fieldForJsonKey, lookupMessageType, typeForUrl } from './proto-json';

export const REDACTED = '[redacted]';

/**
 * Messages whose every field but the first is a credential though Envoy's protos do not mark them
 * `(udpa.annotations.sensitive)`.
 */
const CREDENTIAL_MESSAGES: Record<string, readonly string[]> = {
  'envoy.extensions.filters.http.aws_lambda.v3.Credentials': ['secretAccessKey', 'sessionToken'],
};

/**
 * Request headers whose value is a credential (HeaderValue `value`/`rawValue` is redacted): Azure function
 * keys, the Google ID tokens Sluice adds for Cloud Functions.
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'x-functions-key',
  'authorization',
  'proxy-authorization',
]);
const HEADER_VALUE = 'envoy.config.core.v3.HeaderValue';

function isCredentialHeader(messageName: string, record: Record<string, unknown>): boolean {
  return (
    messageName === HEADER_VALUE &&
    typeof record.key === 'string' &&
    CREDENTIAL_HEADERS.has(record.key.toLowerCase())
  );
}

function isSensitive(field: protobuf.Field): boolean {
  return field.options?.['(udpa.annotations.sensitive)'] === true;
}

function redactValue(value: unknown, type: protobuf.Type | undefined): unknown {
  if (Array.isArray(value)) return value.map((item) => redactValue(item, type));
  if (!value || typeof value !== 'object' || !type) return value;
  const record = value as Record<string, unknown>;
  const own =
    typeof record['@type'] === 'string' && type.fullName === '.google.protobuf.Any'
      ? typeForUrl(record['@type'])
      : type;
  const messageName = own?.fullName.slice(1) ?? '';
  const credentialFields = isCredentialHeader(messageName, record)
    ? ['value', 'rawValue']
    : (CREDENTIAL_MESSAGES[messageName] ?? []);
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(record)) {
    const field = own ? fieldForJsonKey(own, key) : undefined;
    if (field && (isSensitive(field) || credentialFields.includes(field.name))) out[key] = REDACTED;
    else if (field?.map) {
      out[key] = Object.fromEntries(
        Object.entries(child as Record<string, unknown>).map(([k, v]) => [
          k,
          redactValue(v, field.resolvedType as protobuf.Type),
        ]),
      );
    } else
      out[key] = redactValue(
        child,
        field?.resolvedType && 'fields' in field.resolvedType
          ? (field.resolvedType as protobuf.Type)
          : undefined,
      );
  }
  return out;
}

/**
 * A copy of a resource in proto3 JSON with secrets replaced by "[redacted]", as Envoy's config dump
 * does: fields marked sensitive in the protos (private keys, SDS secrets) and inline cloud credentials.
 */
export function redactSecrets(messageName: string, json: Record<string, unknown>): Record<string, unknown> {
  return redactValue(json, lookupMessageType(messageName)) as Record<string, unknown>;
}

/**
 * A copy of discovered functions for people to read: every function's `secrets` (keys discovery read,
 * e.g. Azure function keys) shown as "[redacted]". What is persisted keeps them.
 */
export function redactDiscoveredSecrets<T extends { functions: Array<Record<string, unknown>> }>(
  found: T,
): T {
  return {
    ...found,
    functions: found.functions.map((fn) =>
      fn.secrets && typeof fn.secrets === 'object'
        ? { ...fn, secrets: Object.fromEntries(Object.keys(fn.secrets).map((key) => [key, REDACTED])) }
        : fn,
    ),
  };
}

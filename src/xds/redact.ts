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
  const credentialFields = CREDENTIAL_MESSAGES[own?.fullName.slice(1) ?? ''] ?? [];
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

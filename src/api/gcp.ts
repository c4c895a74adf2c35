import { createPrivateKey } from 'crypto';
import { resolveRef, type ResourceRef } from './resource';
import { lookup, type ApiSnapshot } from './snapshot';
import type { Secret } from './types';

/** The key of a gcp Secret's data that holds the service-account JSON key, as `sluice create secret gcp` writes it. */
export const GCP_SECRET_KEY = 'serviceAccount';

/** Where Google's libraries get tokens unless a key says otherwise (its `token_uri`). */
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/** What Sluice uses of a service-account JSON key. */
export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: string;
  privateKeyId?: string;
  tokenUri: string;
}

/** At most this much of a value from the key is repeated in a message (never the private key). */
const SHOWN_VALUE_LENGTH = 40;

function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return JSON.stringify(text.length > SHOWN_VALUE_LENGTH ? `${text.slice(0, SHOWN_VALUE_LENGTH)}...` : text);
}

function isPrivateKeyPem(text: string): boolean {
  try {
    return createPrivateKey(text).type === 'private';
  } catch {
    return false;
  }
}

/**
 * A service-account JSON key, or what is wrong with it (naming the field, never echoing the text: a
 * JSON syntax error would quote it).
 */
export function parseServiceAccountKey(text: string): { key: ServiceAccountKey } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'is not JSON: give the service-account key file as downloaded (a JSON object)' };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    return { error: 'is not a JSON object: give the service-account key file as downloaded' };
  const fields = json as Record<string, unknown>;
  if (fields.type !== 'service_account') {
    return {
      error:
        fields.type === undefined
          ? 'has no "type": a service-account key has "type": "service_account"'
          : `has "type" ${shown(fields.type)}, not "service_account": create a JSON key for a service account (IAM > Service accounts > Keys)`,
    };
  }
  for (const field of ['client_email', 'private_key']) {
    if (typeof fields[field] !== 'string' || fields[field] === '')
      return { error: `has no "${field}": give the whole key file as downloaded` };
  }
  if (!isPrivateKeyPem(fields.private_key as string))
    return {
      error:
        'has a "private_key" that is not a PEM private key (were its "\\n" line breaks lost?): give the key file as downloaded',
    };
  if (
    fields.token_uri !== undefined &&
    (typeof fields.token_uri !== 'string' || !URL.canParse(fields.token_uri))
  )
    return { error: `has a "token_uri" that is not a URL: ${shown(fields.token_uri)}` };
  return {
    key: {
      clientEmail: fields.client_email as string,
      privateKey: fields.private_key as string,
      ...(typeof fields.private_key_id === 'string' ? { privateKeyId: fields.private_key_id } : {}),
      tokenUri: (fields.token_uri as string | undefined) ?? GOOGLE_TOKEN_URI,
    },
  };
}

const parsedSecrets = new WeakMap<Secret, { key: ServiceAccountKey } | { error: string }>();

/**
 * The service-account key in a gcp Secret, or what is wrong with it (naming the secret and what to fix).
 * Parsed once per Secret object: translation asks for every route.
 */
export function gcpKeyFromSecret(
  snapshot: ApiSnapshot,
  ref: ResourceRef,
  fromNamespace: string,
): { key: ServiceAccountKey } | { error: string } {
  const { namespace, name } = resolveRef(ref, fromNamespace);
  const where = `spec.gcp.secretRef: Secret ${namespace}/${name}`;
  const secret = lookup(snapshot.secrets, { namespace, name });
  if (!secret) return { error: `${where} not found` };
  if (secret.type !== 'gcp') return { error: `${where} has type ${secret.type}, not gcp` };
  const text = secret.data?.[GCP_SECRET_KEY];
  if (!text) return { error: `${where} has no ${GCP_SECRET_KEY} in data` };
  let parsed = parsedSecrets.get(secret);
  if (!parsed) {
    parsed = parseServiceAccountKey(text);
    parsedSecrets.set(secret, parsed);
  }
  return 'error' in parsed ? { error: `${where}: data.${GCP_SECRET_KEY} ${parsed.error}` } : parsed;
}

/** A Google ID token Sluice minted for one audience (a function's URL), or why it could not. */
export type IdentityToken =
  /** `header`: the whole Authorization header value (`Bearer ...`). */
  { header: string; expiresAt: number } | { error: string };

/** Sluice-minted ID tokens by identityTokenKey(service account, audience). */
export type IdentityTokens = ReadonlyMap<string, IdentityToken>;

export function identityTokenKey(clientEmail: string, audience: string): string {
  return `${clientEmail} ${audience}`;
}

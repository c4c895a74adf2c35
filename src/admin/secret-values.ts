import type { ApiSnapshot } from '../api/snapshot';
import { REDACTED } from '../xds/redact';

/** Secret data that is public by nature: a TLS certificate chain and root CA. */
const PUBLIC_SECRET_KEYS: ReadonlySet<string> = new Set(['certChain', 'rootCa']);
/** The credentials inside a Secret value that is a JSON credentials file (e.g. a GCP service-account key). */
const CREDENTIAL_JSON_FIELDS = ['private_key', 'private_key_id', 'client_secret', 'refresh_token'];
/** Shorter values are not searched for: they would hide ordinary words and numbers. */
const MIN_SECRET_LENGTH = 4;

function credentialsInJson(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!parsed || typeof parsed !== 'object') return [];
  const record = parsed as Record<string, unknown>;
  return CREDENTIAL_JSON_FIELDS.map((field) => record[field]).filter(
    (value): value is string => typeof value === 'string',
  );
}

/** Every secret string of an API snapshot: Secrets' data, discovered function keys, minted ID tokens. */
function secretStrings(snapshot: ApiSnapshot): string[] {
  const values: string[] = [];
  for (const secret of snapshot.secrets.values()) {
    for (const [key, value] of Object.entries(secret.data ?? {})) {
      if (PUBLIC_SECRET_KEYS.has(key) || typeof value !== 'string') continue;
      values.push(value, ...credentialsInJson(value));
    }
  }
  for (const found of snapshot.discovered.values()) {
    for (const fn of found.functions) {
      if (fn.secrets && typeof fn.secrets === 'object') {
        for (const value of Object.values(fn.secrets)) if (typeof value === 'string') values.push(value);
      }
    }
  }
  for (const token of snapshot.identityTokens?.values() ?? []) {
    if ('header' in token) values.push(token.header, token.header.replace(/^\S+\s+/, ''));
  }
  return values;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The secret values Sluice currently holds, from each translated API snapshot, so that admin answers
 * can hide them wherever they appear (statuses, file problems, NACK messages), not only in the fields
 * known to hold secrets.
 */
export class SecretValues {
  private pattern: RegExp | undefined;

  update(snapshot: ApiSnapshot): void {
    const values = [...new Set(secretStrings(snapshot))].filter((value) => value.length >= MIN_SECRET_LENGTH);
    // Longest first, so that a secret containing another is hidden whole.
    values.sort((a, b) => b.length - a.length);
    this.pattern = values.length > 0 ? new RegExp(values.map(escapeRegExp).join('|'), 'g') : undefined;
  }

  /** `text` with every known secret value replaced by "[redacted]". */
  redact(text: string): string {
    return this.pattern ? text.replace(this.pattern, REDACTED) : text;
  }
}

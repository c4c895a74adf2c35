import { resolveRef, type ResourceRef } from './resource';
import { lookup, type ApiSnapshot } from './snapshot';
import type { Secret } from './types';

/** A service principal, as `sluice create secret azure` writes it (keys of the Secret's data). */
export interface AzureCredentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export const AZURE_SECRET_KEYS: readonly (keyof AzureCredentials)[] = [
  'tenantId',
  'clientId',
  'clientSecret',
];

/** The key of a function or host key Secret's data (`keySecretRef`). */
export const FUNCTION_KEY_FIELD = 'key';

/**
 * The Secret `ref` points at (seen from `fromNamespace`), or what is wrong with the reference; `field`
 * names the reference in messages (`spec.azure.secretRef`).
 */
function referencedSecret(
  snapshot: ApiSnapshot,
  ref: ResourceRef,
  fromNamespace: string,
  field: string,
): { secret: Secret; name: string } | { error: string } {
  const { namespace, name } = resolveRef(ref, fromNamespace);
  const secret = lookup(snapshot.secrets, { namespace, name });
  if (!secret) return { error: `${field}: Secret ${namespace}/${name} not found` };
  return { secret, name: `${namespace}/${name}` };
}

/** The service principal in an azure Secret, or what is wrong with it (naming the secret and every missing key). */
export function azureCredentialsFromSecret(
  snapshot: ApiSnapshot,
  ref: ResourceRef,
  fromNamespace: string,
): { credentials: AzureCredentials } | { error: string } {
  const found = referencedSecret(snapshot, ref, fromNamespace, 'spec.azure.secretRef');
  if ('error' in found) return found;
  const { secret, name } = found;
  if (secret.type !== 'azure')
    return { error: `spec.azure.secretRef: Secret ${name} has type ${secret.type}, not azure` };
  const data = secret.data ?? {};
  const missing = AZURE_SECRET_KEYS.filter((key) => !data[key]);
  if (missing.length)
    return { error: `spec.azure.secretRef: Secret ${name} has no ${missing.join(', ')} in data` };
  return {
    credentials: { tenantId: data.tenantId, clientId: data.clientId, clientSecret: data.clientSecret },
  };
}

/** The function or host key in a Secret's `data.key` (any Secret type), or what is wrong with it. */
export function functionKeyFromSecret(
  snapshot: ApiSnapshot,
  ref: ResourceRef,
  fromNamespace: string,
  field: string,
): { key: string } | { error: string } {
  const found = referencedSecret(snapshot, ref, fromNamespace, field);
  if ('error' in found) return found;
  const key = found.secret.data?.[FUNCTION_KEY_FIELD];
  return key ? { key } : { error: `${field}: Secret ${found.name} has no ${FUNCTION_KEY_FIELD} in data` };
}

export type AzureAuthLevel = 'anonymous' | 'function' | 'admin';

/** The keys discovery read for a function (only those its auth level needs). Never logged or printed. */
export interface AzureFunctionKeys {
  /** The function's own key (`default`, else its first). */
  functionKey?: string;
  /** A host function key, for a function-level function that has no key of its own. */
  hostKey?: string;
  /** The master key: the only key admin-level functions accept. */
  masterKey?: string;
}

/** One function of a function app as discovery records it (DIR/.sluice/discovered.json). */
export interface DiscoveredAzureFunction {
  functionAppName: string;
  functionName: string;
  resourceGroup: string;
  /** The app's default host name, e.g. APP.azurewebsites.net. */
  hostName: string;
  /** `httpTrigger`, or the trigger of a function HTTP cannot invoke (`timerTrigger`, ...). */
  trigger: string;
  /** HTTP functions only. */
  authLevel?: AzureAuthLevel;
  /** HTTP functions only: the route template, e.g. `hello` or `products/{id:int}`. */
  route?: string;
  /** HTTP functions only: the path that invokes it, routePrefix included, e.g. `/api/hello`. */
  path?: string;
  disabled?: boolean;
  /** Credentials: shown redacted by every command (see redactDiscoveredSecrets). */
  secrets?: AzureFunctionKeys;
  /** Why its key could not be read (e.g. the service principal may not list keys). */
  keyError?: string;
}

export const AZURE_DISCOVERER = 'azure-functions';

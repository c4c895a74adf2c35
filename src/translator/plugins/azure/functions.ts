import { AZURE_DISCOVERER, type AzureAuthLevel, type DiscoveredAzureFunction } from '../../../api/azure';
import type { ResourceRef } from '../../../api/resource';
import { discoveredFor, type ApiSnapshot } from '../../../api/snapshot';
import type { AzureUpstreamSpec, Upstream } from '../../../api/types';

const HTTP_TRIGGER = 'httpTrigger';
/** Where Azure Functions serve HTTP functions unless host.json changes `routePrefix`. */
const DEFAULT_ROUTE_PREFIX = '/api';

/** A function as routes see it: what was written in the Upstream, completed by what discovery found. */
export interface KnownAzureFunction {
  /** What routes name: FUNCTION for the upstream's own app, APP/FUNCTION otherwise. */
  name: string;
  functionAppName: string;
  functionName: string;
  hostName: string;
  trigger: string;
  authLevel: AzureAuthLevel;
  /** The path that invokes it on its host, e.g. `/api/hello` or `/api/products/{id:int}`. */
  path: string;
  keySecretRef?: ResourceRef;
  /** Where `keySecretRef` was written, for messages. */
  keySecretField?: string;
  /** What discovery found for the same function (its keys, above all). */
  discovered?: DiscoveredAzureFunction;
  source: 'spec' | 'discovered';
}

export interface AzureFunctionTable {
  functions: Map<string, KnownAzureFunction>;
  /** Hand-written functions that cannot be used, and why. */
  problems: string[];
  /** Discovery's result for the upstream, when it has run. */
  discovered?: DiscoveredAzureFunction[];
}

function sameName(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** FUNCTION when it belongs to the app the upstream names, APP/FUNCTION otherwise. */
export function routeName(spec: AzureUpstreamSpec, app: string, fn: string): string {
  return sameName(app, spec.functionAppName) ? fn : `${app}/${fn}`;
}

const tables = new WeakMap<Upstream, { discovered: unknown; table: AzureFunctionTable }>();

/**
 * Hand-written functions first, then discovered ones: a discovered function never replaces one a user
 * wrote under the same name. A hand-written function takes what it leaves out (auth level, route, host)
 * from the discovered function of the same app and name, and its keys. Built once per upstream and
 * discovery result, not per route.
 */
export function azureFunctions(upstream: Upstream, snapshot: ApiSnapshot): AzureFunctionTable {
  const entry = discoveredFor(snapshot, upstream);
  const cached = tables.get(upstream);
  if (cached && cached.discovered === entry) return cached.table;
  const spec = upstream.spec?.azure as AzureUpstreamSpec;
  const discovered =
    entry?.discoverer === AZURE_DISCOVERER
      ? (entry.functions as unknown as DiscoveredAzureFunction[])
      : undefined;
  const byApp = new Map(
    (discovered ?? []).map((fn) => [`${fn.functionAppName}/${fn.functionName}`.toLowerCase(), fn]),
  );
  const table: AzureFunctionTable = { functions: new Map(), problems: [], discovered };
  for (const [index, fn] of (spec.functions ?? []).entries()) {
    const app = fn.functionAppName || spec.functionAppName;
    if (!app) {
      table.problems.push(
        `spec.azure.functions[${index}] (${fn.functionName}): set functionAppName; the upstream does not name one app`,
      );
      continue;
    }
    const found = byApp.get(`${app}/${fn.functionName}`.toLowerCase());
    const name = routeName(spec, app, fn.functionName);
    if (table.functions.has(name)) continue;
    table.functions.set(name, {
      name,
      functionAppName: app,
      functionName: fn.functionName,
      hostName: fn.hostName || found?.hostName || `${app}.azurewebsites.net`,
      trigger: HTTP_TRIGGER,
      authLevel: fn.authLevel ?? found?.authLevel ?? 'function',
      path:
        fn.route !== undefined
          ? `${DEFAULT_ROUTE_PREFIX}/${fn.route.replace(/^\/+/, '')}`
          : (found?.path ?? `${DEFAULT_ROUTE_PREFIX}/${fn.functionName}`),
      ...(fn.keySecretRef
        ? { keySecretRef: fn.keySecretRef, keySecretField: `spec.azure.functions[${index}].keySecretRef` }
        : {}),
      ...(found ? { discovered: found } : {}),
      source: 'spec',
    });
  }
  for (const fn of discovered ?? []) {
    const name = routeName(spec, fn.functionAppName, fn.functionName);
    if (table.functions.has(name)) continue;
    table.functions.set(name, {
      name,
      functionAppName: fn.functionAppName,
      functionName: fn.functionName,
      hostName: fn.hostName,
      trigger: fn.trigger,
      authLevel: fn.authLevel ?? 'function',
      path: fn.path ?? `${DEFAULT_ROUTE_PREFIX}/${fn.functionName}`,
      discovered: fn,
      source: 'discovered',
    });
  }
  tables.set(upstream, { discovered: entry, table });
  return table;
}

export function isHttpFunction(fn: KnownAzureFunction): boolean {
  return fn.trigger === HTTP_TRIGGER;
}

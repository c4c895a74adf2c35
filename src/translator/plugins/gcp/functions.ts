import { discoveredFor, type ApiSnapshot } from '../../../api/snapshot';
import type { GcpFunctionSpec, Upstream } from '../../../api/types';

/** The discoverer whose results are Cloud Functions. */
export const GCP_DISCOVERER = 'gcp-functions';

export type KnownGcpFunction = GcpFunctionSpec & { source: 'spec' | 'discovered' };

const tables = new WeakMap<Upstream, { discovered: unknown; table: Map<string, KnownGcpFunction> }>();

/** Discovered functions by route name: the short name, or REGION/NAME where regions share a name. */
function discoveredByName(functions: readonly GcpFunctionSpec[]): Map<string, GcpFunctionSpec> {
  const count = new Map<string, number>();
  for (const fn of functions) count.set(fn.name, (count.get(fn.name) ?? 0) + 1);
  return new Map(
    functions.map((fn) => [(count.get(fn.name) ?? 0) > 1 ? `${fn.region}/${fn.name}` : fn.name, fn]),
  );
}

/**
 * Discovered functions merged with hand-written ones: a function written in spec.gcp.functions is never
 * removed, and the fields it sets win over discovery's for the same name. Built once per upstream and
 * discovery result, not per route.
 */
export function gcpFunctions(upstream: Upstream, snapshot: ApiSnapshot): Map<string, KnownGcpFunction> {
  const discovered = discoveredFor(snapshot, upstream);
  const cached = tables.get(upstream);
  if (cached && cached.discovered === discovered) return cached.table;
  const table = new Map<string, KnownGcpFunction>();
  if (discovered?.discoverer === GCP_DISCOVERER) {
    for (const [name, fn] of discoveredByName(discovered.functions as unknown as GcpFunctionSpec[]))
      table.set(name, { ...fn, name, source: 'discovered' });
  }
  for (const fn of upstream.spec?.gcp?.functions ?? []) {
    table.set(fn.name, { ...table.get(fn.name), ...fn, source: 'spec' });
  }
  tables.set(upstream, { discovered, table });
  return table;
}

/** Whether routes may reach it: called over HTTP, and ACTIVE (as a hand-written one without a state is taken to be). */
export function isRoutable(fn: GcpFunctionSpec): boolean {
  return !fn.eventType && (fn.state === undefined || fn.state === 'ACTIVE');
}

/** Whether calling the function needs a Google ID token (unless it is known to allow allUsers). */
export function requiresIdentityToken(fn: GcpFunctionSpec): boolean {
  return fn.allowUnauthenticated !== true;
}

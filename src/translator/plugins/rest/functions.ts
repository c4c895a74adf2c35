import { discoveredFor, type ApiSnapshot } from '../../../api/snapshot';
import type { RestFunctionSpec, Upstream } from '../../../api/types';
import { serviceSpecOf } from '../service-spec';

/** The discoverer whose results are REST functions. */
export const OPENAPI_DISCOVERER = 'openapi';

export type KnownRestFunction = RestFunctionSpec & { source: 'spec' | 'discovered' };

function discoveredOf(upstream: Upstream, snapshot: ApiSnapshot): RestFunctionSpec[] | undefined {
  const discovered = discoveredFor(snapshot, upstream);
  return discovered?.discoverer === OPENAPI_DISCOVERER
    ? (discovered.functions as unknown as RestFunctionSpec[])
    : undefined;
}

/** Whether the upstream offers REST functions: written in serviceSpec.rest, or found by discovery. */
export function hasRestFunctions(upstream: Upstream, snapshot: ApiSnapshot): boolean {
  return serviceSpecOf(upstream)?.rest !== undefined || discoveredOf(upstream, snapshot) !== undefined;
}

const tables = new WeakMap<Upstream, { discovered: unknown; table: Map<string, KnownRestFunction> }>();

/**
 * Hand-written operations first, then discovered ones: discovery never replaces an operation a user wrote
 * under the same name. Built once per upstream and discovery result.
 */
export function restFunctions(upstream: Upstream, snapshot: ApiSnapshot): Map<string, KnownRestFunction> {
  const discovered = discoveredOf(upstream, snapshot);
  const cached = tables.get(upstream);
  if (cached && cached.discovered === discovered) return cached.table;
  const table = new Map<string, KnownRestFunction>();
  for (const fn of serviceSpecOf(upstream)?.rest?.functions ?? []) {
    if (!table.has(fn.name)) table.set(fn.name, { ...fn, source: 'spec' });
  }
  for (const fn of discovered ?? []) {
    if (!table.has(fn.name)) table.set(fn.name, { ...fn, source: 'discovered' });
  }
  tables.set(upstream, { discovered, table });
  return table;
}

/**
 * The operation's path as requests carry it. Some documents tell operations on one path apart with a
 * fragment (ReadMe's `/cookies#formExploded`), which never leaves a client.
 */
export function requestPath(fn: RestFunctionSpec): string {
  return fn.path.split('#')[0];
}

/** basePath + path, with exactly one slash between them and none at the end of basePath. */
export function upstreamPath(fn: RestFunctionSpec): string {
  const base = (fn.basePath ?? '').replace(/\/+$/, '');
  return (base && !base.startsWith('/') ? `/${base}` : base) + requestPath(fn);
}

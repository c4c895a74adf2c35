/**
 * Synthetic API snapshots for the benchmarks: N static upstreams (IP hosts, so EDS clusters) and N
 * routes spread over VirtualServices, each route a `prefix` matcher to a distinct upstream; every
 * 10th route adds a header matcher, every 7th is a weighted two-way split, every 5th has a timeout.
 */
import type { Resource } from '../src/api/resource';
import type { StoreContents, StoredResource } from '../src/store/store';

export interface GenOptions {
  /** Upstreams, and routes in total. */
  n: number;
  /** VirtualServices the routes are spread over (default 10). */
  virtualServices?: number;
  /**
   * 0 (default): no Gateway, so the default gateway serves every VirtualService on one listener (one
   * RouteConfiguration). Otherwise one Gateway per VirtualService, each its own port, listener and
   * RouteConfiguration.
   */
  gatewayPerVirtualService?: boolean;
}

const NS = 'default';

export function upstreamName(i: number): string {
  return `up-${String(i).padStart(6, '0')}`;
}

export function vsName(v: number): string {
  return `vs-${String(v).padStart(3, '0')}`;
}

function ipOf(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 0}`;
}

function upstream(i: number): Resource {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Upstream',
    metadata: { name: upstreamName(i), namespace: NS },
    spec: { static: { hosts: [{ address: ipOf(i), port: 8000 + (i % 1000) }] } },
  } as unknown as Resource;
}

/** Route number `k` (global), to upstream k; `variant` changes the route (for incremental runs). */
export function route(k: number, n: number, variant = 0): Record<string, unknown> {
  const matcher: Record<string, unknown> = { prefix: `/svc-${k}/` };
  if (k % 10 === 3) matcher.headers = [{ name: 'x-canary', value: 'true' }];
  const dest = (i: number) => ({ upstream: { name: upstreamName(i), namespace: NS } });
  const r: Record<string, unknown> = { matchers: [matcher] };
  if (k % 7 === 5) {
    r.routeAction = {
      multi: {
        destinations: [
          { weight: 90, destination: dest(k) },
          { weight: 10, destination: dest((k + 1) % n) },
        ],
      },
    };
  } else {
    r.routeAction = { single: dest(k) };
  }
  const options: Record<string, unknown> = {};
  if (k % 5 === 2) options.timeout = '3s';
  if (variant !== 0) options.timeout = `${1 + variant}s`;
  if (Object.keys(options).length > 0) r.options = options;
  return r;
}

export function virtualService(
  v: number,
  opts: GenOptions,
  variants: ReadonlyMap<number, number> = new Map(),
): Resource {
  const count = opts.virtualServices ?? 10;
  const per = Math.ceil(opts.n / count);
  const routes: Record<string, unknown>[] = [];
  for (let k = v * per; k < Math.min(opts.n, (v + 1) * per); k++)
    routes.push(route(k, opts.n, variants.get(k) ?? 0));
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'VirtualService',
    metadata: { name: vsName(v), namespace: NS },
    spec: { virtualHost: { domains: [`${vsName(v)}.example.com`], routes } },
  } as unknown as Resource;
}

function gateway(v: number): Resource {
  return {
    apiVersion: 'sluice.dev/v1',
    kind: 'Gateway',
    metadata: { name: `gw-${String(v).padStart(3, '0')}`, namespace: NS },
    spec: { bindAddress: '::', bindPort: 10000 + v, virtualServices: [{ name: vsName(v), namespace: NS }] },
  } as unknown as Resource;
}

export function generateContents(opts: GenOptions): StoreContents {
  const resources: StoredResource[] = [];
  for (let i = 0; i < opts.n; i++) resources.push({ resource: upstream(i), location: {} });
  const count = opts.virtualServices ?? 10;
  for (let v = 0; v < count; v++) {
    resources.push({ resource: virtualService(v, opts), location: {} });
    if (opts.gatewayPerVirtualService) resources.push({ resource: gateway(v), location: {} });
  }
  return { resources, errors: [] };
}

/**
 * The same contents with route `k` changed (its timeout set from `variant`): only the VirtualService
 * holding it is a new object, every other resource is shared.
 */
export function withChangedRoute(
  contents: StoreContents,
  opts: GenOptions,
  k: number,
  variant: number,
): StoreContents {
  const count = opts.virtualServices ?? 10;
  const per = Math.ceil(opts.n / count);
  const v = Math.floor(k / per);
  const name = vsName(v);
  const resources = contents.resources.map((stored) =>
    stored.resource.kind === 'VirtualService' && stored.resource.metadata.name === name
      ? { resource: virtualService(v, opts, new Map([[k, variant]])), location: {} }
      : stored,
  );
  return { resources, errors: [] };
}

import type { ResourceKey } from '../api/resource';
import type { ApiSnapshot } from '../api/snapshot';
import type { DestinationSpec, MatcherSpec, RouteOptionsSpec, Upstream } from '../api/types';
import type { TranslationMemo } from './memo';
import type { Reports } from './reports';

/** A message in proto3 JSON form (lowerCamel fields, `@type` on every Any). */
export type Json = Record<string, unknown>;

export interface TranslationContext {
  snapshot: ApiSnapshot;
  reports: Reports;
  /** Remembers results across translations (incremental translation); absent for one-off translations. */
  memo?: TranslationMemo;
}

export interface FunctionDescription {
  /** What routes name: e.g. `hello-world:1`. */
  name: string;
  /** What it resolves to: an ARN, a method and path, ... */
  target: string;
  /** A version, alias, ... */
  qualifier?: string;
  /** Written by hand in the Upstream, or found by discovery. */
  source: 'spec' | 'discovered';
}

export interface UpstreamClusters {
  clusters: Json[];
  loadAssignments: Json[];
}

export interface DestinationContext extends TranslationContext {
  upstream: Upstream;
  destination: DestinationSpec;
  /** The route (or weighted destination) being built, for error messages: `spec.virtualHost.routes[0]`. */
  source: string;
  /** The resource that holds the route. */
  owner: ResourceKey;
  /** Proxyless gRPC clients accept less than Envoy. */
  proxyless: boolean;
  /** The route's options (a plugin may read its own, e.g. `lambda`). */
  options: RouteOptionsSpec;
  /** The route's matchers (a function may rewrite the path from their variables). */
  matchers: readonly MatcherSpec[];
}

/** One function of an upstream as a route of its own (`routeAction.functions`). */
export interface FunctionRoute {
  function: string;
  /** The path template under the route's prefix, e.g. `/pets/{petId}`. */
  pathTemplate: string;
  method?: string;
  /** The path is the whole path, not under the prefix (gRPC: /package.Service/Method). */
  absolute?: boolean;
}

/** Where a destination sends traffic, and what the route or weighted cluster must carry for it. */
export interface DestinationTarget {
  cluster: string;
  /** HTTP filter name -> per-route config (proto3 JSON with `@type`). */
  typedPerFilterConfig?: Record<string, Json>;
  requestHeadersToAdd?: Json[];
  /** The Host header the destination needs: on the route, or on its weighted cluster in a split. */
  hostRewriteLiteral?: string;
  /**
   * On a route to the destination alone, `auto_host_rewrite` (the host of the cluster's endpoint) in
   * place of `hostRewriteLiteral`, which its weighted cluster still carries in a split (Envoy has no
   * per-cluster auto rewrite).
   */
  autoHostRewrite?: boolean;
  /**
   * The path rewrite (`prefixRewrite`, `regexRewrite` or `pathRewritePolicy`) the destination needs.
   * Envoy applies it to the whole route: every destination of a split must need the same.
   */
  pathRewrite?: Json;
}

export interface RouteContext extends TranslationContext {
  options: RouteOptionsSpec;
  owner: ResourceKey;
  source: string;
  proxyless: boolean;
}

/**
 * One plugin: an upstream type, a function kind, a route option or an HTTP filter. Plugins are listed
 * once in src/translator/plugins/index.ts; the core calls each hook it implements.
 */
export interface TranslatorPlugin {
  readonly name: string;
  /** Envoy .proto files (relative to data-plane-api) that hold the plugin's typed configs. */
  readonly protoFiles?: readonly string[];
  /**
   * Route options (dotted paths, e.g. `grpc.json`) only this plugin's destinations honour: a route that
   * sets one is rejected for a destination the plugin does not resolve, rather than silently ignored.
   */
  readonly destinationOptions?: readonly string[];
  /** The Upstream spec keys this plugin owns (e.g. `static`). */
  readonly upstreamTypes?: readonly string[];
  /** Clusters and endpoints of an upstream of an owned type. Problems go to `ctx.reports`. */
  upstreamClusters?(upstream: Upstream, ctx: TranslationContext): UpstreamClusters;
  /**
   * What else than the Upstream and its discovered functions `upstreamClusters` reads from the snapshot
   * (a Service's endpoints): its clusters are translated again when this changes identity.
   */
  upstreamInputs?(upstream: Upstream, ctx: TranslationContext): unknown;
  /** The functions an upstream of an owned type offers, or undefined when it offers none. */
  functionNames?(upstream: Upstream, ctx: TranslationContext): string[] | undefined;
  /** The same functions described for people (`sluice get upstream NAME`). */
  describeFunctions?(upstream: Upstream, ctx: TranslationContext): FunctionDescription[];
  /**
   * Whether this function plugin (REST, gRPC, ...) serves functions on `upstream`, whose type another
   * plugin owns. Its `destination` then resolves the upstream's functions.
   */
  offersFunctions?(upstream: Upstream, ctx: TranslationContext): boolean;
  /**
   * The path a route to function `name` must match whatever its matchers say (gRPC: the method's path),
   * or undefined when the function does not decide the path.
   */
  functionPath?(
    upstream: Upstream,
    name: string,
    ctx: TranslationContext,
  ): { exact: string } | { prefix: string } | undefined;
  /** Every function of the upstream as a route, for `routeAction.functions`. */
  functionRoutes?(upstream: Upstream, ctx: TranslationContext): FunctionRoute[];
  /**
   * Resolves a destination on an upstream of an owned type. Returns an error message when the
   * destination cannot be served (unknown function, missing secret, ...).
   */
  destination?(ctx: DestinationContext): DestinationTarget | { error: string };
  /**
   * Applies the route options this plugin owns, returning per-filter configs to set on the route (or
   * virtual host). Returning an error rejects the route.
   */
  routeOptions?(
    ctx: RouteContext,
  ): { typedPerFilterConfig?: Record<string, Json>; error?: string } | undefined;
  /**
   * The HCM HTTP filter this plugin contributes, included only on listeners where some route or
   * destination uses the filter (named by `filterName`). Filters run in plugin-list order, before the router.
   */
  readonly httpFilter?: {
    filterName: string;
    typedConfig: Json;
    /** Proxyless gRPC clients know the filter; otherwise it and its per-route configs are marked optional. */
    proxylessSupported: boolean;
    /** Present in the HCM but off unless a route enables it (filters whose HCM config is only a placeholder). */
    disabledByDefault?: boolean;
  };
}

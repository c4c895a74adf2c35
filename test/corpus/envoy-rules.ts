import { isIP } from 'net';
import { RE2 } from 're2-wasm';
import type { Json } from '../../src/translator/plugin';
import type { XdsResource, XdsSnapshot } from '../../src/xds/resources';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { strictXdsProblems, xdsResourcesOf } from '../helpers/xds-strict';

/** Envoy's default RouteConfiguration.max_direct_response_body_size_bytes. */
const ENVOY_MAX_DIRECT_RESPONSE_BODY = 4096;
const UINT32_MAX = 4294967295;

/** The value at `path` in a JSON value, or undefined. */
function at(json: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>(
    (value, key) => (value && typeof value === 'object' ? (value as Json)[key] : undefined),
    json,
  );
}

function re2Problem(pattern: string): string | undefined {
  try {
    new RE2(pattern, 'u');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Every `safeRegex.regex` in a resource, wherever it sits (route, header, query or CORS matchers). */
function regexesIn(json: unknown, out: string[] = []): string[] {
  if (Array.isArray(json)) json.forEach((item) => regexesIn(item, out));
  else if (json && typeof json === 'object') {
    for (const [key, value] of Object.entries(json)) {
      const regex = key === 'safeRegex' ? at(value, 'regex') : undefined;
      if (typeof regex === 'string') out.push(regex);
      else regexesIn(value, out);
    }
  }
  return out;
}

function routeConfigurationProblems(config: Json): string[] {
  const problems: string[] = [];
  const domains = new Set<string>();
  for (const virtualHost of (config.virtualHosts ?? []) as Json[]) {
    for (const domain of (virtualHost.domains ?? []) as string[]) {
      // Envoy compares domains in lower case and NACKs the whole RouteConfiguration on a repeat.
      if (domains.has(domain.toLowerCase())) problems.push(`domain ${JSON.stringify(domain)} appears twice`);
      domains.add(domain.toLowerCase());
    }
    for (const route of (virtualHost.routes ?? []) as Json[]) {
      const body = at(route, 'directResponse', 'body', 'inlineString');
      if (typeof body === 'string' && Buffer.byteLength(body) > ENVOY_MAX_DIRECT_RESPONSE_BODY)
        problems.push(`a direct response body of ${Buffer.byteLength(body)} bytes`);
      const clusters = at(route, 'route', 'weightedClusters', 'clusters') as Json[] | undefined;
      const total = (clusters ?? []).reduce((sum, cluster) => sum + Number(cluster.weight ?? 0), 0);
      if (clusters && (total === 0 || total > UINT32_MAX))
        problems.push(`weighted clusters that add up to ${total}`);
    }
  }
  return problems;
}

/**
 * What Envoy would still refuse in a resource that passes its protoc-gen-validate rules: the checks it
 * makes while building the configuration (every regex compiled by RE2 itself, domains unique in a
 * RouteConfiguration, the direct response body limit, weighted cluster totals, listener IP addresses).
 */
export function envoyRuntimeProblems(resource: XdsResource): string[] {
  const problems = regexesIn(resource.json).flatMap((pattern) => {
    const problem = re2Problem(pattern);
    return problem ? [`RE2 refuses ${JSON.stringify(pattern)}: ${problem}`] : [];
  });
  if (resource.typeUrl === TYPE_URLS.route) problems.push(...routeConfigurationProblems(resource.json));
  const address = at(resource.json, 'address', 'socketAddress', 'address');
  if (resource.typeUrl === TYPE_URLS.listener && typeof address === 'string' && isIP(address) === 0)
    problems.push(`listener address ${JSON.stringify(address)} is not an IP address`);
  return problems;
}

/** Everything Envoy would NACK in the snapshots, one line per problem naming the resource. */
export function xdsProblems(snapshots: ReadonlyMap<string, XdsSnapshot>): string[] {
  return xdsResourcesOf(snapshots).flatMap((resource) =>
    [...strictXdsProblems(resource), ...envoyRuntimeProblems(resource)].map(
      (problem) => `${resource.typeUrl} ${resource.name}: ${problem}`,
    ),
  );
}

/**
 * Reasons saying that a generated resource broke Envoy's rules: the translator let bad input through,
 * and everything else in that xDS resource (other VirtualServices' routes, for one) went down with it.
 */
export function invalidForEnvoyReasons(reasons: readonly string[]): string[] {
  return reasons.filter((reason) => reason.includes('is invalid for Envoy'));
}

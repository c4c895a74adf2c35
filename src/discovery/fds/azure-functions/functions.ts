import type { FunctionEnvelope, Site } from '@azure/arm-appservice';
import type { AzureAuthLevel, DiscoveredAzureFunction } from '../../../api/azure';

const AUTH_LEVELS: readonly AzureAuthLevel[] = ['anonymous', 'function', 'admin'];
const HTTP_TRIGGER = 'httptrigger';
/** The route prefix of host.json when the app does not change it. */
const DEFAULT_ROUTE_PREFIX = 'api';

interface Binding {
  type?: string;
  direction?: string;
  authLevel?: string;
  route?: string;
}

/** Function apps, not web apps; Logic Apps (Standard) are function apps whose functions are workflows. */
export function isFunctionApp(site: Site): boolean {
  const kinds = (site.kind ?? '').toLowerCase().split(',');
  return kinds.includes('functionapp') && !kinds.includes('workflowapp');
}

export function resourceGroupOf(site: Site): string {
  return site.resourceGroup ?? /\/resourceGroups\/([^/]+)\//i.exec(site.id ?? '')?.[1] ?? '';
}

export function hostNameOf(site: Site): string {
  return site.defaultHostName ?? `${site.name}.azurewebsites.net`;
}

/** The path of an invoke URL template, left as written (`{id:int}` is a route parameter, not a URL escape). */
function pathOfTemplate(template: string): string {
  return template.replace(/^[a-z]+:\/\/[^/]+/i, '') || '/';
}

/**
 * One function of `site` as discovery records it, without keys. The function's name is the last segment
 * of the envelope's `APP/FUNCTION` name; its trigger, auth level and route come from the bindings of its
 * function.json; its path from `invoke_url_template`, which shows a routePrefix that host.json changed.
 */
export function discoveredFunction(site: Site, envelope: FunctionEnvelope): DiscoveredAzureFunction {
  const functionName = (envelope.name ?? '').split('/').pop() as string;
  const bindings = ((envelope.config as { bindings?: Binding[] } | undefined)?.bindings ?? []).filter(
    (binding) => binding && typeof binding === 'object',
  );
  const http = bindings.find((binding) => binding.type?.toLowerCase() === HTTP_TRIGGER);
  const base = {
    functionAppName: site.name as string,
    functionName,
    resourceGroup: resourceGroupOf(site),
    hostName: hostNameOf(site),
    ...(envelope.isDisabled ? { disabled: true } : {}),
  };
  if (!http) {
    const trigger = bindings.find((binding) => binding.direction === 'in' && binding.type)?.type;
    return { ...base, trigger: trigger ?? 'unknown' };
  }
  const level = http.authLevel?.toLowerCase() as AzureAuthLevel | undefined;
  const route = (http.route ?? functionName).replace(/^\/+/, '');
  return {
    ...base,
    trigger: 'httpTrigger',
    // An unknown level is treated as needing a key: asking for one is safer than sending none.
    authLevel: level && AUTH_LEVELS.includes(level) ? level : 'function',
    route,
    path: envelope.invokeUrlTemplate
      ? pathOfTemplate(envelope.invokeUrlTemplate)
      : `/${DEFAULT_ROUTE_PREFIX}/${route}`,
  };
}

/** The key to use from a set of named keys: `default`, else the first by name. */
export function chooseKey(keys: Record<string, unknown> | undefined): string | undefined {
  const named = Object.entries(keys ?? {}).filter(
    (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== '',
  );
  const chosen =
    named.find(([name]) => name === 'default') ?? named.sort(([a], [b]) => a.localeCompare(b))[0];
  return chosen?.[1];
}

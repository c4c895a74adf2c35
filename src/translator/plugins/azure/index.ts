import { functionKeyFromSecret, FUNCTION_KEY_FIELD } from '../../../api/azure';
import { keyOf } from '../../../api/resource';
import { nameKey } from '../../../api/snapshot';
import type { AzureUpstreamSpec, Upstream } from '../../../api/types';
import { clusterName, dnsCluster } from '../../envoy/clusters';
import type {
  DestinationContext,
  DestinationTarget,
  FunctionDescription,
  TranslationContext,
  TranslatorPlugin,
  UpstreamClusters,
} from '../../plugin';
import { listNames } from '../list-names';
import { azureFunctions, isHttpFunction, type KnownAzureFunction } from './functions';
import { functionPathRewrite } from './rewrite';

/** The header Azure Functions read a function, host or master key from. */
export const FUNCTION_KEY_HEADER = 'x-functions-key';
const HTTPS_PORT = 443;

/** One cluster per app host: App Service routes by Host and SNI, so each app is its own destination. */
function hostCluster(upstream: Upstream, hostName: string): string {
  return `${clusterName(keyOf(upstream))}_${hostName}`;
}

function where(upstream: Upstream): string {
  return `upstream ${upstream.metadata.namespace}/${upstream.metadata.name}`;
}

function httpFunctions(upstream: Upstream, ctx: TranslationContext): KnownAzureFunction[] {
  return [...azureFunctions(upstream, ctx.snapshot).functions.values()].filter(isHttpFunction);
}

/** What is wrong with the upstream's functions as a whole: unusable hand-written ones, apps with nothing to route. */
function functionWarnings(upstream: Upstream, ctx: TranslationContext): string[] {
  const spec = upstream.spec?.azure as AzureUpstreamSpec;
  const { problems, discovered } = azureFunctions(upstream, ctx.snapshot);
  const entryError = ctx.snapshot.discovered.get(
    nameKey(upstream.metadata.namespace, upstream.metadata.name),
  )?.error;
  if (!discovered || entryError) return problems;
  const warnings = [...problems];
  if (discovered.length === 0) {
    warnings.push(
      spec.functionAppName
        ? `function app ${spec.functionAppName} has no functions: deploy functions to it, or name the app that has them in spec.azure.functionAppName`
        : `no function app in subscription ${spec.subscriptionId}${spec.resourceGroup ? ` (resource group ${spec.resourceGroup})` : ''} has functions`,
    );
  }
  const apps = new Set(discovered.map((fn) => fn.functionAppName));
  for (const app of apps) {
    const ofApp = discovered.filter((fn) => fn.functionAppName === app);
    if (ofApp.some((fn) => fn.trigger === 'httpTrigger')) continue;
    warnings.push(
      `function app ${app} has no HTTP-triggered functions (${ofApp.map((fn) => `${fn.functionName}: ${fn.trigger}`).join(', ')}); only HTTP functions can be routed`,
    );
  }
  return warnings;
}

function azureClusters(upstream: Upstream, ctx: TranslationContext): UpstreamClusters {
  const spec = upstream.spec?.azure as AzureUpstreamSpec;
  for (const warning of functionWarnings(upstream, ctx)) ctx.reports.warn(keyOf(upstream), warning);
  const hosts = [...new Set(httpFunctions(upstream, ctx).map((fn) => fn.hostName))].sort();
  const clusters = hosts.map((hostName) =>
    dnsCluster(
      {
        name: hostCluster(upstream, hostName),
        connectTimeout: upstream.spec?.connectTimeout,
        tls: { sni: hostName, caFile: spec.caFile },
      },
      [{ address: hostName, port: HTTPS_PORT }],
    ),
  );
  return { clusters, loadAssignments: [] };
}

/**
 * The key the function's calls carry: none for anonymous functions; its keySecretRef; else the key
 * discovery read (the function's own key, else a host key; the master key for admin level).
 */
function keyFor(fn: KnownAzureFunction, ctx: DestinationContext): { key?: string } | { error: string } {
  if (fn.authLevel === 'anonymous') return {};
  if (fn.keySecretRef) {
    return functionKeyFromSecret(
      ctx.snapshot,
      fn.keySecretRef,
      ctx.upstream.metadata.namespace,
      fn.keySecretField as string,
    );
  }
  const secrets = fn.discovered?.secrets;
  const key = fn.authLevel === 'admin' ? secrets?.masterKey : (secrets?.functionKey ?? secrets?.hostKey);
  if (key) return { key };
  const needed =
    fn.authLevel === 'admin' ? 'the master key (authLevel admin)' : 'a function key (authLevel function)';
  const why = fn.discovered?.keyError
    ? `discovery could not read it: ${fn.discovered.keyError}`
    : fn.discovered
      ? 'discovery found none'
      : 'discovery has not found the function';
  const writeItAt =
    fn.source === 'spec'
      ? 'on the function in spec.azure.functions'
      : `in spec.azure.functions ({functionName: ${fn.functionName}, keySecretRef})`;
  return {
    error: `function "${fn.name}" needs ${needed}, and ${why}: set keySecretRef ${writeItAt} (a Secret with data.${FUNCTION_KEY_FIELD}), or give discovery a service principal that may list keys (spec.azure.secretRef)`,
  };
}

function azureDestination(ctx: DestinationContext): DestinationTarget | { error: string } {
  const { upstream } = ctx;
  const table = azureFunctions(upstream, ctx.snapshot).functions;
  const wanted = ctx.destination.function;
  const routable = () => listNames([...table.values()].filter(isHttpFunction).map((fn) => fn.name));
  if (ctx.proxyless)
    return {
      error: `${where(upstream)}: Azure Functions are reached through Envoy, not proxyless gRPC clients`,
    };
  if (!wanted)
    return {
      error: `${where(upstream)} is an Azure Functions upstream: set function (known: ${routable()})`,
    };
  const fn = table.get(wanted);
  if (!fn) return { error: `${where(upstream)} has no Azure function "${wanted}" (known: ${routable()})` };
  if (!isHttpFunction(fn))
    return {
      error: `${where(upstream)}: function "${wanted}" is triggered by ${fn.trigger}, not HTTP: it cannot be routed`,
    };
  if (ctx.options.prefixRewrite !== undefined)
    return {
      error: `options.prefixRewrite: function ${wanted} sets the upstream path itself; remove prefixRewrite`,
    };
  if (ctx.options.hostRewrite !== undefined)
    return {
      error: `options.hostRewrite: function ${wanted} is reached through its app's host name; remove hostRewrite`,
    };
  const rewrite = functionPathRewrite(fn, ctx.matchers);
  if ('error' in rewrite) return { error: `${where(upstream)}: ${rewrite.error}` };
  const found = keyFor(fn, ctx);
  if ('error' in found) return { error: `${where(upstream)}: ${found.error}` };
  return {
    cluster: hostCluster(upstream, fn.hostName),
    hostRewriteLiteral: fn.hostName,
    pathRewrite: rewrite.pathRewrite,
    ...(found.key
      ? {
          requestHeadersToAdd: [
            {
              // Header values are format strings: a literal % is written %%.
              header: { key: FUNCTION_KEY_HEADER, value: found.key.replace(/%/g, '%%') },
              appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
            },
          ],
        }
      : {}),
  };
}

function describe(fn: KnownAzureFunction): FunctionDescription {
  const qualifier = !isHttpFunction(fn)
    ? `${fn.trigger} (not routable)`
    : fn.discovered?.disabled
      ? `${fn.authLevel}, disabled`
      : fn.authLevel;
  return { name: fn.name, target: `https://${fn.hostName}${fn.path}`, qualifier, source: fn.source };
}

/**
 * `azure` upstreams: Azure Functions over HTTPS on stock Envoy. Each app host is a TLS cluster (SNI);
 * a route to a function rewrites the host and the path (`/api/ROUTE`) and, for function and admin
 * levels, adds the `x-functions-key` header. The key travels over xDS; `sluice translate` and the admin
 * /snapshot show it redacted.
 */
export const azurePlugin: TranslatorPlugin = {
  name: 'azure',
  upstreamTypes: ['azure'],
  upstreamClusters: azureClusters,
  functionNames: (upstream, ctx) => httpFunctions(upstream, ctx).map((fn) => fn.name),
  describeFunctions: (upstream, ctx) =>
    [...azureFunctions(upstream, ctx.snapshot).functions.values()].map(describe),
  destination: azureDestination,
};

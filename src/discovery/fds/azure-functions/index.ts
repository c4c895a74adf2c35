import { WebSiteManagementClient, type Site } from '@azure/arm-appservice';
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import {
  AZURE_DISCOVERER,
  azureCredentialsFromSecret,
  type AzureFunctionKeys,
  type DiscoveredAzureFunction,
} from '../../../api/azure';
import { resolveRef } from '../../../api/resource';
import type { ApiSnapshot } from '../../../api/snapshot';
import type { AzureUpstreamSpec, Upstream } from '../../../api/types';
import type { FunctionDiscoverer } from '../discoverer';
import { Sema, withPermit } from '../limit';
import { describeAzureError, type CredentialSource } from './errors';
import { chooseKey, discoveredFunction, isFunctionApp, resourceGroupOf } from './functions';

const DEFAULT_MANAGEMENT_ENDPOINT = 'https://management.azure.com';
const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
/** Apps, and key reads, handled at once against one subscription: bounded, not a flood. */
const CONCURRENCY = 4;
/** The SDK's retry policies honour Retry-After on 429 and back off exponentially on 5xx. */
const MAX_RETRIES = 4;
/** Credentials kept between polls, so that their tokens (about an hour) are reused; at most this many. */
const MAX_CACHED_CREDENTIALS = 64;
/** Fields of an ARM resource envelope: never names of keys. */
const RESOURCE_FIELDS = new Set(['id', 'name', 'type', 'kind', 'location', 'properties']);

export interface AzureFunctionsDiscovererOptions {
  /**
   * PEM certificates to trust for Resource Manager and Entra ID besides Node's own (a private cloud's CA,
   * a test's); NODE_EXTRA_CA_CERTS does the same for a whole process.
   */
  trustedCa?: string;
  /** Per HTTP request to Resource Manager (each attempt). Default 30 s. */
  requestTimeoutMs?: number;
}

/** The SDK waits forever by default: a hung Resource Manager would stall `sluice discover` and this upstream's polls. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function limitRequestTime(client: WebSiteManagementClient, timeoutMs: number): void {
  client.pipeline.addPolicy({
    name: 'sluiceRequestTimeout',
    async sendRequest(request, next) {
      request.timeout = timeoutMs;
      try {
        return await next(request);
      } catch (error) {
        // The SDK reports its own timeout as a bare "operation was aborted"; say what did not answer.
        if ((error as Error).name !== 'AbortError' || request.abortSignal?.aborted) throw error;
        const { host, pathname } = new URL(request.url);
        throw new Error(`no answer from ${host} within ${timeoutMs} ms (${request.method} ${pathname})`);
      }
    },
  });
}

interface Session {
  client: WebSiteManagementClient;
  /** The error with ARM's own message where the SDK lost it. */
  withArmMessage: (error: unknown) => unknown;
  source: CredentialSource;
  signal?: AbortSignal;
  permits: Sema;
}

function originOf(value: string | undefined, fallback: string, field: string): string {
  if (!value) return fallback;
  try {
    return new URL(value).origin;
  } catch {
    throw new Error(`${field}: ${value} is not a URL (write e.g. https://management.usgovcloudapi.net)`);
  }
}

/**
 * Keeps the message of each ARM error response, by request: the SDK's pagers replace it with
 * "Pagination failed with unexpected statusCode N", which would not say what to fix.
 */
function keepErrorMessages(client: WebSiteManagementClient): (error: unknown) => unknown {
  const messages = new WeakMap<object, string>();
  client.pipeline.addPolicy({
    name: 'sluiceKeepArmErrorMessages',
    async sendRequest(request, next) {
      const response = await next(request);
      if (response.status >= 400 && response.bodyAsText) {
        try {
          const message = (JSON.parse(response.bodyAsText) as { error?: { message?: unknown } }).error
            ?.message;
          if (typeof message === 'string') messages.set(request, message);
        } catch {
          // Not an ARM error body: the SDK's own message stands.
        }
      }
      return response;
    },
  });
  return (error) => {
    const request = (error as { request?: object }).request;
    const message = request && messages.get(request);
    return message
      ? Object.assign(new Error(message), {
          code: (error as { code?: string }).code,
          statusCode: statusOf(error),
        })
      : error;
  };
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

async function collect<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of pages) items.push(item);
  return items;
}

/** The function apps the upstream covers: the one it names, or every one of its resource group or subscription. */
async function functionApps(session: Session, spec: AzureUpstreamSpec): Promise<Site[]> {
  const { client, signal } = session;
  const wanted = spec.functionAppName;
  const sites =
    wanted && spec.resourceGroup
      ? [await client.webApps.get(spec.resourceGroup, wanted, { abortSignal: signal })]
      : await collect(
          spec.resourceGroup
            ? client.webApps.listByResourceGroup(spec.resourceGroup, { abortSignal: signal })
            : client.webApps.list({ abortSignal: signal }),
        );
  if (!wanted) return sites.filter(isFunctionApp);
  const site = sites.find((candidate) => candidate.name?.toLowerCase() === wanted.toLowerCase());
  const where = spec.resourceGroup
    ? `resource group ${spec.resourceGroup}`
    : `subscription ${spec.subscriptionId}`;
  if (!site)
    throw new Error(
      `spec.azure.functionAppName: no app named ${wanted} in ${where}; check the name, or set resourceGroup`,
    );
  if (!isFunctionApp(site))
    throw new Error(
      `spec.azure.functionAppName: ${wanted} is not a function app (its kind is ${site.kind ?? 'unknown'})`,
    );
  return [site];
}

/**
 * A function's keys. ARM answers listkeys with the keys at the top level of the body, which the SDK's
 * StringDictionary model expects under `properties` (and so drops): read the raw body as well.
 */
async function functionKeys(session: Session, fn: DiscoveredAzureFunction): Promise<string | undefined> {
  let body: unknown;
  const keys = await session.client.webApps.listFunctionKeys(
    fn.resourceGroup,
    fn.functionAppName,
    fn.functionName,
    {
      abortSignal: session.signal,
      onResponse: (response) => {
        body = (response as { parsedBody?: unknown }).parsedBody;
      },
    },
  );
  const flat = Object.fromEntries(
    Object.entries((body ?? {}) as Record<string, unknown>).filter(([name]) => !RESOURCE_FIELDS.has(name)),
  );
  return chooseKey(keys.properties ?? flat);
}

/**
 * The keys each keyed HTTP function needs: its own function key (function level), else a host function
 * key; the master key (admin level). No permission to read keys (403) is recorded on the functions,
 * whose routes then say so, rather than failing the whole discovery.
 */
async function addKeys(session: Session, site: Site, functions: DiscoveredAzureFunction[]): Promise<void> {
  const keyed = functions.filter((fn) => fn.authLevel === 'function' || fn.authLevel === 'admin');
  if (keyed.length === 0) return;
  const found = new Map<DiscoveredAzureFunction, AzureFunctionKeys>();
  try {
    await Promise.all(
      keyed
        .filter((fn) => fn.authLevel === 'function')
        .map((fn) =>
          withPermit(session.permits, async () => {
            const key = await functionKeys(session, fn);
            if (key) found.set(fn, { functionKey: key });
          }),
        ),
    );
    if (keyed.some((fn) => !found.has(fn))) {
      const host = await session.client.webApps.listHostKeys(resourceGroupOf(site), site.name as string, {
        abortSignal: session.signal,
      });
      const hostKey = chooseKey(host.functionKeys);
      for (const fn of keyed.filter((candidate) => !found.has(candidate))) {
        const keys = fn.authLevel === 'admin' ? { masterKey: host.masterKey } : { hostKey };
        if (Object.values(keys).some(Boolean)) found.set(fn, keys);
      }
    }
  } catch (error) {
    if (statusOf(error) !== 403) throw error;
    const reason = describeAzureError(session.withArmMessage(error), session.source);
    for (const fn of keyed.filter((candidate) => !found.has(candidate))) fn.keyError = reason;
  }
  for (const [fn, keys] of found) fn.secrets = keys;
}

async function appFunctions(session: Session, site: Site): Promise<DiscoveredAzureFunction[]> {
  const envelopes = await collect(
    session.client.webApps.listFunctions(resourceGroupOf(site), site.name as string, {
      abortSignal: session.signal,
    }),
  );
  const functions = envelopes.map((envelope) => discoveredFunction(site, envelope));
  await addKeys(session, site, functions);
  return functions;
}

function compareFunctions(a: DiscoveredAzureFunction, b: DiscoveredAzureFunction): number {
  return a.functionAppName.localeCompare(b.functionAppName) || a.functionName.localeCompare(b.functionName);
}

/**
 * Azure Functions: the function apps of a subscription (of one resource group, or the one app named),
 * each app's functions (`listFunctions`: trigger, auth level and route from function.json) and the keys
 * calls need (`listFunctionKeys`, `listHostKeys`). Credentials: the upstream's azure Secret (a service
 * principal), else the SDK's default chain (environment, workload identity, managed identity, Azure CLI).
 * `trustedCa` is for a private cloud's (or a test's) certificate authority.
 */
export function createAzureFunctionsDiscoverer(
  options: AzureFunctionsDiscovererOptions = {},
): FunctionDiscoverer {
  const tls = options.trustedCa ? { tlsOptions: { ca: options.trustedCa } } : {};
  const credentials = new Map<string, TokenCredential>();

  /** The credential for the upstream (kept between polls), and where it came from for messages. */
  function credentialOf(
    upstream: Upstream,
    spec: AzureUpstreamSpec,
    snapshot: ApiSnapshot,
  ): { credential: TokenCredential; source: CredentialSource; cacheKey: string } {
    const authorityHost = originOf(spec.authorityHost, DEFAULT_AUTHORITY_HOST, 'spec.azure.authorityHost');
    // A host that was set explicitly is trusted as written: MSAL would otherwise validate it against the public cloud.
    const authority = spec.authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {};
    if (!spec.secretRef) {
      const cacheKey = JSON.stringify([authorityHost]);
      const source = { authorityHost };
      return {
        credential: cached(cacheKey, source, () => new DefaultAzureCredential({ ...authority, ...tls })),
        source,
        cacheKey,
      };
    }
    const found = azureCredentialsFromSecret(snapshot, spec.secretRef, upstream.metadata.namespace);
    if ('error' in found) throw new Error(found.error);
    const { tenantId, clientId, clientSecret } = found.credentials;
    const { namespace, name } = resolveRef(spec.secretRef, upstream.metadata.namespace);
    const source = { authorityHost, secret: `${namespace}/${name}`, tenantId };
    const cacheKey = JSON.stringify([authorityHost, tenantId, clientId, clientSecret]);
    const credential = cached(
      cacheKey,
      source,
      () => new ClientSecretCredential(tenantId, clientId, clientSecret, { ...authority, ...tls }),
    );
    return { credential, source, cacheKey };
  }

  function cached(
    cacheKey: string,
    source: CredentialSource,
    create: () => TokenCredential,
  ): TokenCredential {
    const known = credentials.get(cacheKey);
    if (known) return known;
    let credential: TokenCredential;
    try {
      credential = create();
    } catch (error) {
      throw new Error(describeAzureError(error, source));
    }
    if (credentials.size >= MAX_CACHED_CREDENTIALS)
      credentials.delete(credentials.keys().next().value as string);
    credentials.set(cacheKey, credential);
    return credential;
  }

  return {
    name: AZURE_DISCOVERER,
    upstreamTypes: ['azure'],
    pollIntervalKey: 'azure',
    cloud: true,
    defaultPollIntervalMs: 60_000,
    async discover(upstream, ctx) {
      const spec = upstream.spec?.azure as AzureUpstreamSpec;
      const endpoint = originOf(
        spec.managementEndpoint,
        DEFAULT_MANAGEMENT_ENDPOINT,
        'spec.azure.managementEndpoint',
      );
      const { credential, source, cacheKey } = credentialOf(upstream, spec, ctx.snapshot);
      const client = new WebSiteManagementClient(credential, spec.subscriptionId, {
        endpoint,
        // The token's audience is the Resource Manager being called (the SDK assumes the public cloud's).
        credentials: { scopes: [`${endpoint}/.default`] },
        retryOptions: { maxRetries: MAX_RETRIES },
        userAgentOptions: { userAgentPrefix: 'sluice' },
        ...tls,
      });
      limitRequestTime(client, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
      const withArmMessage = keepErrorMessages(client);
      const session: Session = {
        client,
        withArmMessage,
        source,
        signal: ctx.signal,
        permits: new Sema(CONCURRENCY),
      };
      try {
        const apps = await functionApps(session, spec);
        const appPermits = new Sema(CONCURRENCY);
        const perApp = await Promise.all(
          apps.map((site) => withPermit(appPermits, () => appFunctions(session, site))),
        );
        const functions = perApp.flat().sort(compareFunctions);
        ctx.logger.debug(
          { upstream: upstream.metadata.name, apps: apps.length, functions: functions.length },
          'azure functions discovered',
        );
        return { functions: functions as unknown as Array<Record<string, unknown>> };
      } catch (error) {
        // A refused token may be a revoked one the credential still caches: start afresh next time.
        if (statusOf(error) === 401) credentials.delete(cacheKey);
        throw new Error(describeAzureError(withArmMessage(error), source));
      }
    },
  };
}

export const azureFunctionsDiscoverer = createAzureFunctionsDiscoverer();

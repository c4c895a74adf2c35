import { status } from '@grpc/grpc-js';
import { protos, v1, v2 } from '@google-cloud/functions';
import { gcpKeyFromSecret } from '../../../api/gcp';
import type { GcpFunctionSpec, GcpUpstreamSpec, Upstream } from '../../../api/types';
import { GCP_DISCOVERER } from '../../../translator/plugins/gcp/functions';
import type { DiscoveryContext, FunctionDiscoverer } from '../discoverer';
import { Sema, withPermit } from '../limit';
import { serviceAccountClient } from './credentials';

type ClientOptions = NonNullable<ConstructorParameters<typeof v2.FunctionServiceClient>[0]>;
type V2Function = protos.google.cloud.functions.v2.IFunction;
type V1Function = protos.google.cloud.functions.v1.ICloudFunction;

/** Concurrent IAM policy reads against one project: bounded, not a flood. */
const IAM_CONCURRENCY = 4;
const INVOKER_ROLE = 'roles/cloudfunctions.invoker';
/** The async iterators fetch page after page themselves; `true` would only make the SDK warn. */
const PAGED = { autoPaginate: false };
const FUNCTION_NAME = /^projects\/[^/]+\/locations\/([^/]+)\/functions\/([^/]+)$/;

/** host[:port] or a URL -> the SDK's apiEndpoint, port and protocol. */
function endpointOptions(endpoint: string): ClientOptions {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname !== '/') {
    throw new Error(
      `spec.gcp.apiEndpoint ${JSON.stringify(endpoint)}: give host[:port] or an http(s) URL without a path`,
    );
  }
  const protocol = url.protocol.slice(0, -1);
  return { apiEndpoint: url.hostname, port: Number(url.port) || (protocol === 'https' ? 443 : 80), protocol };
}

/**
 * The SDK's REST transport (`fallback`) everywhere: the same HTTP/1.1 + JSON path in production and
 * against the test servers, and one that passes HTTP proxies. Credentials: the secret's service
 * account, else Application Default Credentials (the SDK's own lookup).
 */
function clientOptions(upstream: Upstream, spec: GcpUpstreamSpec, ctx: DiscoveryContext): ClientOptions {
  const options: ClientOptions = { fallback: true };
  if (spec.secretRef) {
    const found = gcpKeyFromSecret(ctx.snapshot, spec.secretRef, upstream.metadata.namespace);
    if ('error' in found) throw new Error(found.error);
    options.authClient = serviceAccountClient(found.key);
  }
  return spec.apiEndpoint ? { ...options, ...endpointOptions(spec.apiEndpoint) } : options;
}

function nameParts(name: string | null | undefined): { region: string; name: string } | undefined {
  const match = FUNCTION_NAME.exec(name ?? '');
  return match ? { region: match[1], name: match[2] } : undefined;
}

/** A v2 function (1st or 2nd gen); 2nd gen is called at its Cloud Run URI. */
function fromV2(fn: V2Function): GcpFunctionSpec | undefined {
  const parts = nameParts(fn.name);
  if (!parts) return undefined;
  const found: GcpFunctionSpec = {
    ...parts,
    state: String(fn.state ?? 'STATE_UNSPECIFIED'),
    environment: String(fn.environment ?? 'ENVIRONMENT_UNSPECIFIED'),
  };
  if (fn.eventTrigger) found.eventType = fn.eventTrigger.eventType || 'unknown';
  else {
    const url = fn.serviceConfig?.uri || fn.url;
    if (url) found.url = url;
  }
  return found;
}

/** What the v1 API says of a 1st gen function: its HTTPS trigger or event, and its status. */
function fromV1(fn: V1Function, found: GcpFunctionSpec): GcpFunctionSpec {
  const updated: GcpFunctionSpec = {
    name: found.name,
    region: found.region,
    state: String(fn.status ?? found.state),
    environment: found.environment,
  };
  if (fn.httpsTrigger?.url) updated.url = fn.httpsTrigger.url;
  else if (fn.eventTrigger) updated.eventType = fn.eventTrigger.eventType || 'unknown';
  return updated;
}

/**
 * Whether a 1st gen function's IAM policy lets allUsers invoke it. A policy Sluice may not read counts
 * as no: Envoy then sends an identity token, which a public function accepts too.
 */
async function allowsAllUsers(client: v1.CloudFunctionsServiceClient, resource: string): Promise<boolean> {
  try {
    const [policy] = await client.getIamPolicy({ resource });
    return (policy.bindings ?? []).some(
      (binding) => binding.role === INVOKER_ROLE && (binding.members ?? []).includes('allUsers'),
    );
  } catch {
    return false;
  }
}

/**
 * 1st gen functions through the v1 API, which still serves them natively: HTTPS trigger URL, status,
 * and whether the IAM policy makes them public (then Envoy sends no identity token).
 */
async function firstGeneration(
  options: ClientOptions,
  parent: string,
  found: Map<string, GcpFunctionSpec>,
  signal?: AbortSignal,
): Promise<void> {
  const client = new v1.CloudFunctionsServiceClient(options);
  try {
    for await (const fn of client.listFunctionsAsync({ parent }, PAGED)) {
      signal?.throwIfAborted();
      const known = fn.name ? found.get(fn.name) : undefined;
      if (known) found.set(fn.name as string, fromV1(fn, known));
    }
    const permits = new Sema(IAM_CONCURRENCY);
    const http = [...found].filter(([, fn]) => fn.environment === 'GEN_1' && fn.url);
    await Promise.all(
      http.map(([resource, fn]) =>
        withPermit(permits, async () => {
          if (await allowsAllUsers(client, resource)) fn.allowUnauthenticated = true;
        }),
      ),
    );
  } finally {
    await client.close();
  }
}

/**
 * Google's status and message. The REST transport passes an error answer through as a GaxiosError whose
 * message is Google's error JSON; timeouts and transport failures carry a gRPC code or a plain message.
 */
function describeError(error: unknown): string {
  const { code, message = String(error) } = error as { code?: number; message?: string };
  try {
    const body = JSON.parse(message) as { error?: { status?: string; message?: string } };
    if (body.error?.message)
      return `${body.error.status ? `${body.error.status}: ` : ''}${body.error.message}`;
  } catch {
    // Not Google's error JSON: described below.
  }
  const name = typeof code === 'number' ? status[code] : undefined;
  return `${name ? `${name}: ` : ''}${message}`;
}

/**
 * Google Cloud Functions of a project, in one region or all (`-`): 2nd gen through the v2 API, 1st gen
 * through v1 as well. HTTP functions are routable by name; event-triggered ones are listed with their
 * event type and refused by routes.
 */
export const gcpFunctionsDiscoverer: FunctionDiscoverer = {
  name: GCP_DISCOVERER,
  upstreamTypes: ['gcp'],
  pollIntervalKey: 'gcp',
  cloud: true,
  defaultPollIntervalMs: 60_000,
  async discover(upstream, ctx) {
    const spec = upstream.spec?.gcp as GcpUpstreamSpec;
    const options = clientOptions(upstream, spec, ctx);
    const parent = `projects/${spec.project}/locations/${spec.region || '-'}`;
    const client = new v2.FunctionServiceClient(options);
    try {
      const found = new Map<string, GcpFunctionSpec>();
      for await (const fn of client.listFunctionsAsync({ parent }, PAGED)) {
        ctx.signal?.throwIfAborted();
        const parsed = fromV2(fn);
        if (parsed) found.set(fn.name as string, parsed);
      }
      if ([...found.values()].some((fn) => fn.environment === 'GEN_1'))
        await firstGeneration(options, parent, found, ctx.signal);
      const functions = [...found.values()].sort(
        (a, b) => a.name.localeCompare(b.name) || (a.region ?? '').localeCompare(b.region ?? ''),
      );
      return { functions: functions as unknown as Array<Record<string, unknown>> };
    } catch (error) {
      throw new Error(describeError(error));
    } finally {
      await client.close();
    }
  },
};

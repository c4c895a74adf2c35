import { Sema, withPermit } from '../limit';
import {
  LambdaClient,
  paginateListAliases,
  paginateListFunctions,
  paginateListVersionsByFunction,
  type FunctionConfiguration,
  type LambdaClientConfig,
} from '@aws-sdk/client-lambda';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { awsCredentialsFromSecret, type AwsCredentials } from '../../../api/aws';
import type { AwsUpstreamSpec, LambdaFunctionSpec, Upstream } from '../../../api/types';
import type { DiscoveryContext, FunctionDiscoverer } from '../discoverer';

/** Concurrent per-function calls (versions and aliases) against one account: bounded, not a flood. */
const PER_FUNCTION_CONCURRENCY = 4;
/** The SDK's standard retry strategy backs off exponentially on throttling (429) and 5xx. */
const MAX_ATTEMPTS = 6;
/** The SDK waits forever by default: a hung endpoint would stall `sluice discover` and this upstream's polls. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface AwsLambdaDiscoveryOptions {
  /** Per HTTP request (each attempt), connection included. */
  requestTimeoutMs?: number;
}

type HttpOptions = Pick<LambdaClientConfig, 'maxAttempts' | 'requestHandler'>;

function httpOptionsOf(requestTimeoutMs: number): HttpOptions {
  return {
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: requestTimeoutMs,
      requestTimeout: requestTimeoutMs,
      throwOnRequestTimeout: true,
    },
  };
}

/** Static credentials from the secret, an STS role on top of them (or of the default chain), or undefined: the SDK's default chain. */
function credentialsFor(
  upstream: Upstream,
  spec: AwsUpstreamSpec,
  ctx: DiscoveryContext,
  http: HttpOptions,
): LambdaClientConfig['credentials'] {
  let base: AwsCredentials | undefined;
  if (spec.secretRef) {
    const found = awsCredentialsFromSecret(ctx.snapshot, spec.secretRef, upstream.metadata.namespace);
    if ('error' in found) throw new Error(found.error);
    base = found.credentials;
  }
  if (!spec.roleArn) return base;
  return fromTemporaryCredentials({
    params: {
      RoleArn: spec.roleArn,
      RoleSessionName: 'sluice-discovery',
      ...(spec.externalId ? { ExternalId: spec.externalId } : {}),
    },
    ...(base ? { masterCredentials: base } : {}),
    clientConfig: {
      region: spec.region,
      ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
      ...http,
    },
  });
}

async function functionsOf(
  client: LambdaClient,
  fn: FunctionConfiguration,
  signal?: AbortSignal,
): Promise<LambdaFunctionSpec[]> {
  const name = fn.FunctionName as string;
  const arn = (fn.FunctionArn as string).replace(/:\$LATEST$/, '');
  const found: LambdaFunctionSpec[] = [{ logicalName: name, functionName: arn }];
  for await (const page of paginateListVersionsByFunction(
    { client },
    { FunctionName: arn },
    { abortSignal: signal },
  )) {
    for (const version of page.Versions ?? []) {
      if (version.Version && version.Version !== '$LATEST') {
        found.push({
          logicalName: `${name}:${version.Version}`,
          functionName: arn,
          qualifier: version.Version,
        });
      }
    }
  }
  for await (const page of paginateListAliases({ client }, { FunctionName: arn }, { abortSignal: signal })) {
    for (const alias of page.Aliases ?? []) {
      if (alias.Name)
        found.push({ logicalName: `${name}:${alias.Name}`, functionName: arn, qualifier: alias.Name });
    }
  }
  return found;
}

function describeError(error: unknown): string {
  const aws = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = aws.$metadata?.httpStatusCode ? ` (HTTP ${aws.$metadata.httpStatusCode})` : '';
  return `${aws.name && aws.name !== 'Error' ? `${aws.name}: ` : ''}${aws.message ?? String(error)}${status}`;
}

/**
 * AWS Lambda: every function, as `NAME` ($LATEST), `NAME:VERSION` for each published version and
 * `NAME:ALIAS` for each alias, with full ARNs. Credentials: the upstream's secret, or the SDK's default
 * chain (environment, shared profile, web identity / IRSA, container and instance metadata); `roleArn`
 * is assumed through STS on top of either.
 */
export function createAwsLambdaDiscoverer(options: AwsLambdaDiscoveryOptions = {}): FunctionDiscoverer {
  const http = httpOptionsOf(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return {
    name: 'aws-lambda',
    upstreamTypes: ['aws'],
    pollIntervalKey: 'aws',
    cloud: true,
    defaultPollIntervalMs: 60_000,
    async discover(upstream, ctx) {
      const spec = upstream.spec?.aws as AwsUpstreamSpec;
      const client = new LambdaClient({
        region: spec.region,
        ...http,
        ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
        credentials: credentialsFor(upstream, spec, ctx, http),
      });
      try {
        const functions: FunctionConfiguration[] = [];
        for await (const page of paginateListFunctions({ client }, {}, { abortSignal: ctx.signal })) {
          functions.push(...(page.Functions ?? []).filter((fn) => fn.FunctionName && fn.FunctionArn));
        }
        const permits = new Sema(PER_FUNCTION_CONCURRENCY);
        const perFunction = await Promise.all(
          functions.map((fn) => withPermit(permits, () => functionsOf(client, fn, ctx.signal))),
        );
        const sorted = perFunction
          .flat()
          .sort((a, b) => (a.logicalName as string).localeCompare(b.logicalName as string));
        return { functions: sorted as unknown as Array<Record<string, unknown>> };
      } catch (error) {
        throw new Error(describeError(error));
      } finally {
        client.destroy();
      }
    },
  };
}

export const awsLambdaDiscoverer = createAwsLambdaDiscoverer();

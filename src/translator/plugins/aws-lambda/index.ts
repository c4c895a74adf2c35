import { awsCredentialsFromSecret, awsPartition, formatLambdaArn, parseLambdaArn } from '../../../api/aws';
import type { AwsUpstreamSpec, Upstream } from '../../../api/types';
import { dnsCluster, upstreamClusterName } from '../../envoy/clusters';
import type {
  DestinationContext,
  DestinationTarget,
  Json,
  TranslatorPlugin,
  UpstreamClusters,
} from '../../plugin';
import { listNames } from '../list-names';
import { accountIdOf, lambdaFunctions } from './functions';

const FILTER_NAME = 'envoy.filters.http.aws_lambda';
const CONFIG_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.PerRouteConfig';
/** The HCM-level config needs a well-formed ARN; the filter is disabled there and enabled per route. */
const PLACEHOLDER_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:sluice-disabled-placeholder';

interface LambdaEndpoint {
  host: string;
  port: number;
  tls: boolean;
}

/** lambda.REGION.amazonaws.com:443, or the upstream's `endpoint` override (e.g. http://localhost:4566). */
export function lambdaEndpoint(spec: AwsUpstreamSpec): LambdaEndpoint {
  if (spec.endpoint) {
    const url = new URL(spec.endpoint);
    const tls = url.protocol === 'https:';
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || (tls ? 443 : 80), tls };
  }
  const suffix = awsPartition(spec.region) === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
  return { host: `lambda.${spec.region}.${suffix}`, port: 443, tls: true };
}

function hostHeader(endpoint: LambdaEndpoint): string {
  const standard = endpoint.tls ? 443 : 80;
  return endpoint.port === standard ? endpoint.host : `${endpoint.host}:${endpoint.port}`;
}

function awsClusters(upstream: Upstream): UpstreamClusters {
  const spec = upstream.spec?.aws as AwsUpstreamSpec;
  const endpoint = lambdaEndpoint(spec);
  const cluster = dnsCluster(
    {
      name: upstreamClusterName(upstream),
      connectTimeout: upstream.spec?.connectTimeout,
      tls: endpoint.tls ? { sni: endpoint.host, caFile: spec.caFile } : undefined,
      // Without this marker the HCM-level aws_lambda filter silently skips the request.
      metadata: { filterMetadata: { 'com.amazonaws.lambda': { egress_gateway: true } } },
    },
    [{ address: endpoint.host, port: endpoint.port }],
  );
  return { clusters: [cluster], loadAssignments: [] };
}

function lambdaDestination(ctx: DestinationContext): DestinationTarget | { error: string } {
  const { upstream } = ctx;
  const spec = upstream.spec?.aws as AwsUpstreamSpec;
  const where = `upstream ${upstream.metadata.namespace}/${upstream.metadata.name}`;
  const functions = lambdaFunctions(upstream, ctx.snapshot);
  const wanted = ctx.destination.function;
  if (!wanted)
    return { error: `${where} is an AWS Lambda upstream: set function to NAME, NAME:VERSION or NAME:ALIAS` };
  const fn = functions.get(wanted);
  if (!fn)
    return {
      error: `${where} has no Lambda function "${wanted}" (known: ${listNames([...functions.keys()])})`,
    };
  const parsed = parseLambdaArn(fn.functionName);
  if (fn.functionName.startsWith('arn:') && !parsed)
    return { error: `${where}: function "${wanted}": ${fn.functionName} is not a Lambda function ARN` };
  if (parsed && parsed.region !== spec.region) {
    return {
      error: `${where}: function "${wanted}" is in region ${parsed.region}, but the upstream is in ${spec.region}`,
    };
  }
  const accountId = parsed?.accountId ?? accountIdOf(upstream, functions.values());
  if (!accountId) {
    return {
      error: `${where}: cannot complete the ARN of "${wanted}": set spec.aws.accountId, or use a full ARN as functionName`,
    };
  }
  const arn = formatLambdaArn({
    partition: parsed?.partition ?? awsPartition(spec.region),
    region: spec.region,
    accountId,
    name: parsed?.name ?? fn.functionName,
    qualifier: fn.qualifier || parsed?.qualifier,
  });
  const invokeConfig: Json = {
    arn,
    payloadPassthrough: ctx.options.lambda?.payloadPassthrough ?? false,
    invocationMode: ctx.options.lambda?.invocationMode ?? spec.invocationMode ?? 'SYNCHRONOUS',
    hostRewrite: hostHeader(lambdaEndpoint(spec)),
  };
  if (spec.secretRef) {
    const found = awsCredentialsFromSecret(ctx.snapshot, spec.secretRef, upstream.metadata.namespace);
    if ('error' in found) return { error: `${where}: ${found.error}` };
    invokeConfig.credentials = found.credentials;
  }
  return {
    cluster: upstreamClusterName(upstream),
    typedPerFilterConfig: { [FILTER_NAME]: { '@type': PER_ROUTE_TYPE, invokeConfig } },
  };
}

/**
 * `aws` upstreams: Envoy's own aws_lambda filter (stock Envoy, SigV4 signing in the proxy). The filter
 * sits in the HCM, disabled, and each Lambda route enables it with its function's ARN.
 */
export const awsLambdaPlugin: TranslatorPlugin = {
  name: 'aws-lambda',
  protoFiles: ['envoy/extensions/filters/http/aws_lambda/v3/aws_lambda.proto'],
  upstreamTypes: ['aws'],
  destinationOptions: ['lambda'],
  upstreamClusters: awsClusters,
  functionNames: (upstream, ctx) => [...lambdaFunctions(upstream, ctx.snapshot).keys()],
  describeFunctions: (upstream, ctx) =>
    [...lambdaFunctions(upstream, ctx.snapshot)].map(([name, fn]) => ({
      name,
      target: fn.functionName,
      qualifier: fn.qualifier || parseLambdaArn(fn.functionName)?.qualifier || '$LATEST',
      source: fn.source,
    })),
  destination: lambdaDestination,
  httpFilter: {
    filterName: FILTER_NAME,
    typedConfig: { '@type': CONFIG_TYPE, arn: PLACEHOLDER_ARN },
    proxylessSupported: false,
    disabledByDefault: true,
  },
};

import { upstreamClusterName } from '../../envoy/clusters';
import type { DestinationContext, DestinationTarget, Json, TranslatorPlugin } from '../../plugin';
import { listNames } from '../list-names';
import { functionNamesOf, grpcFunctions, grpcPathOf, hasGrpcFunctions, type GrpcFunctions } from './services';

const TRANSCODER = 'envoy.filters.http.grpc_json_transcoder';
const TRANSCODER_TYPE =
  'type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder';

/** Per-route gRPC-JSON transcoding of the upstream's services, from its descriptor set. */
function transcoder(
  ctx: DestinationContext,
  functions: GrpcFunctions,
  where: string,
): Json | { error: string } {
  const wanted = ctx.options.grpc?.json?.services;
  const services = wanted?.length ? wanted : [...functions.services.keys()];
  if (!functions.descriptors)
    return {
      error: `options.grpc.json: ${where} has no descriptors yet (discovery fills them, or set serviceSpec.grpc.descriptors)`,
    };
  if ('error' in functions.described)
    return { error: `options.grpc.json: ${where}: ${functions.described.error}` };
  const described = functions.described;
  if (described.problem) {
    // Envoy would refuse the whole route configuration; refuse the route here, saying why.
    return {
      error:
        `options.grpc.json: ${where}'s descriptor set cannot be built: ${described.problem} (servers that ` +
        'describe each package as one file, as @grpc/reflection does, cannot describe packages that use ' +
        "each other's types; set serviceSpec.grpc.descriptors from protoc --include_imports instead)",
    };
  }
  const missing = services.filter((service) => !described.services.has(service));
  if (missing.length)
    return {
      error: `options.grpc.json.services: ${where}'s descriptor set has no service ${missing.join(', ')}`,
    };
  if (services.length === 0) return { error: `options.grpc.json: ${where} has no services to transcode` };
  return {
    '@type': TRANSCODER_TYPE,
    protoDescriptorBin: functions.descriptors,
    services,
    // Methods without google.api.http annotations are served at POST /package.Service/Method.
    autoMapping: true,
    convertGrpcStatus: true,
    printOptions: { alwaysPrintPrimitiveFields: true },
  };
}

function grpcDestination(ctx: DestinationContext): DestinationTarget | { error: string } {
  const { upstream } = ctx;
  const functions = grpcFunctions(upstream, ctx.snapshot);
  const where = `upstream ${upstream.metadata.namespace}/${upstream.metadata.name}`;
  const wanted = ctx.destination.function;
  if (wanted !== undefined && !grpcPathOf(functions, wanted)) {
    return {
      error: `${where} has no gRPC function "${wanted}" (known: ${listNames(functionNamesOf(functions))})`,
    };
  }
  const target: DestinationTarget = { cluster: upstreamClusterName(upstream) };
  if (!ctx.options.grpc?.json) return target;
  const config = transcoder(ctx, functions, where);
  if ('error' in config) return { error: config.error as string };
  return { ...target, typedPerFilterConfig: { [TRANSCODER]: config } };
}

/**
 * gRPC functions on HTTP/2 service upstreams (static, kube), written in serviceSpec.grpc or found by
 * server reflection: `package.Service/Method` (or `package.Service`) routes on the gRPC path, one route
 * per method for routeAction.functions, and gRPC-JSON transcoding as a route option.
 */
export const grpcPlugin: TranslatorPlugin = {
  name: 'grpc',
  protoFiles: ['envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder.proto'],
  destinationOptions: ['grpc.json'],
  offersFunctions: (upstream, ctx) => hasGrpcFunctions(upstream, ctx.snapshot),
  functionNames: (upstream, ctx) => functionNamesOf(grpcFunctions(upstream, ctx.snapshot)),
  describeFunctions: (upstream, ctx) =>
    [...grpcFunctions(upstream, ctx.snapshot).services.values()].flatMap((service) =>
      (service.methods ?? []).map((method) => ({
        name: `${service.name}/${method.name}`,
        target: `${method.streaming ?? 'unary'} (${method.inputType ?? '?'}) returns (${method.outputType ?? '?'})`,
        source: service.source,
      })),
    ),
  functionPath: (upstream, name, ctx) => grpcPathOf(grpcFunctions(upstream, ctx.snapshot), name),
  functionRoutes: (upstream, ctx) =>
    [...grpcFunctions(upstream, ctx.snapshot).services.values()].flatMap((service) =>
      (service.methods ?? []).map((method) => ({
        function: `${service.name}/${method.name}`,
        pathTemplate: `/${service.name}/${method.name}`,
        absolute: true,
      })),
    ),
  destination: grpcDestination,
  httpFilter: {
    filterName: TRANSCODER,
    // A placeholder that transcodes nothing; routes that transcode carry their own configuration.
    typedConfig: { '@type': TRANSCODER_TYPE, protoDescriptorBin: '' },
    proxylessSupported: false,
    disabledByDefault: true,
  },
};

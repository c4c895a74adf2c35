import { decodeDescriptorSet, descriptorSetProblem, qualified } from '../../../api/grpc-descriptors';
import { discoveredFor, type ApiSnapshot } from '../../../api/snapshot';
import type { GrpcServiceSpec, Upstream } from '../../../api/types';
import { serviceSpecOf } from '../service-spec';

/** The discoverer whose results are gRPC services. */
export const GRPC_DISCOVERER = 'grpc-reflection';

export interface GrpcFunctions {
  services: Map<string, GrpcServiceSpec & { source: 'spec' | 'discovered' }>;
  /** Base64 FileDescriptorSet: the hand-written one, else the discovered one. */
  descriptors?: string;
  /** The services the descriptor set defines and why Envoy could not build it, or why it cannot be read. */
  described: { services: Set<string>; problem?: string } | { error: string };
}

function discoveredOf(upstream: Upstream, snapshot: ApiSnapshot) {
  const discovered = discoveredFor(snapshot, upstream);
  return discovered?.discoverer === GRPC_DISCOVERER ? discovered : undefined;
}

/** Whether the upstream offers gRPC functions: written in serviceSpec.grpc, or found by reflection. */
export function hasGrpcFunctions(upstream: Upstream, snapshot: ApiSnapshot): boolean {
  return serviceSpecOf(upstream)?.grpc !== undefined || discoveredOf(upstream, snapshot) !== undefined;
}

/** The services a base64 FileDescriptorSet defines, and why Envoy's descriptor pool would refuse it. */
function describedServices(descriptors: string | undefined): GrpcFunctions['described'] {
  if (!descriptors) return { services: new Set() };
  try {
    const files = decodeDescriptorSet(Buffer.from(descriptors, 'base64'));
    const services = files.flatMap(({ decoded }) =>
      (decoded.service ?? []).map((service) => qualified(decoded.package, service.name)),
    );
    return { services: new Set(services), problem: descriptorSetProblem(files) };
  } catch (error) {
    return { error: `the descriptor set cannot be read: ${(error as Error).message}` };
  }
}

const tables = new WeakMap<Upstream, { discovered: unknown; functions: GrpcFunctions }>();

/** Hand-written services first; a discovered service never replaces one a user wrote. */
export function grpcFunctions(upstream: Upstream, snapshot: ApiSnapshot): GrpcFunctions {
  const discovered = discoveredOf(upstream, snapshot);
  const cached = tables.get(upstream);
  if (cached && cached.discovered === discovered) return cached.functions;
  const written = serviceSpecOf(upstream)?.grpc;
  const services: GrpcFunctions['services'] = new Map();
  for (const service of written?.services ?? []) {
    if (!services.has(service.name)) services.set(service.name, { ...service, source: 'spec' });
  }
  for (const service of (discovered?.functions ?? []) as unknown as GrpcServiceSpec[]) {
    if (!services.has(service.name)) services.set(service.name, { ...service, source: 'discovered' });
  }
  const descriptors = written?.descriptors || discovered?.descriptorSet;
  const functions = { services, descriptors, described: describedServices(descriptors) };
  tables.set(upstream, { discovered, functions });
  return functions;
}

/** `package.Service/Method` and `package.Service` (all its methods): what routes name. */
export function functionNamesOf(functions: GrpcFunctions): string[] {
  return [...functions.services.values()].flatMap((service) => [
    service.name,
    ...(service.methods ?? []).map((method) => `${service.name}/${method.name}`),
  ]);
}

/** The gRPC path a function name stands for: exact for a method, a prefix for a whole service. */
export function grpcPathOf(
  functions: GrpcFunctions,
  name: string,
): { exact: string } | { prefix: string } | undefined {
  const [serviceName, methodName, ...more] = name.split('/');
  const service = functions.services.get(serviceName);
  if (!service || more.length > 0) return undefined;
  if (methodName === undefined) return { prefix: `/${service.name}/` };
  return service.methods?.some((method) => method.name === methodName)
    ? { exact: `/${service.name}/${methodName}` }
    : undefined;
}

import { definedTypes, qualified, type DescriptorFile } from '../../../api/grpc-descriptors';
import type { GrpcMethodSpec, GrpcServiceSpec } from '../../../api/types';

type StreamingKind = NonNullable<GrpcMethodSpec['streaming']>;

function streamingKind(client?: boolean, server?: boolean): StreamingKind {
  if (client && server) return 'bidi-streaming';
  if (client) return 'client-streaming';
  return server ? 'server-streaming' : 'unary';
}

/** The named services with their methods; every input and output type must be in the set. */
export function describeServices(
  files: readonly DescriptorFile[],
  serviceNames: readonly string[],
): GrpcServiceSpec[] {
  const messages = definedTypes(files);
  const services = new Map<string, GrpcServiceSpec>();
  for (const file of files) {
    for (const service of file.decoded.service ?? []) {
      const name = qualified(file.decoded.package, service.name);
      const methods = (service.method ?? []).map((method) => {
        const inputType = method.inputType.replace(/^\./, '');
        const outputType = method.outputType.replace(/^\./, '');
        for (const type of [inputType, outputType]) {
          if (!messages.has(type))
            throw new Error(`broken descriptor: ${name}/${method.name} uses ${type}, which no file defines`);
        }
        return {
          name: method.name,
          streaming: streamingKind(method.clientStreaming, method.serverStreaming),
          inputType,
          outputType,
        };
      });
      services.set(name, { name, methods });
    }
  }
  return serviceNames.map((name) => {
    const service = services.get(name);
    if (!service) throw new Error(`broken descriptor: no file defines the service ${name}`);
    return service;
  });
}

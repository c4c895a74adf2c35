import { Writer } from 'protobufjs';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';

import type { GrpcMethodSpec, GrpcServiceSpec } from '../../../api/types';

type StreamingKind = NonNullable<GrpcMethodSpec['streaming']>;

interface DecodedFile {
  name: string;
  package?: string;
  dependency?: string[];
  messageType?: Array<{ name: string; nestedType?: DecodedFile['messageType'] }>;
  service?: Array<{
    name: string;
    method?: Array<{
      name: string;
      inputType: string;
      outputType: string;
      clientStreaming?: boolean;
      serverStreaming?: boolean;
    }>;
  }>;
}

export interface DescriptorFile {
  /** The serialized FileDescriptorProto exactly as the server sent it (options such as google.api.http kept). */
  raw: Buffer;
  decoded: DecodedFile;
}

export function decodeFile(raw: Buffer): DescriptorFile {
  const decoded = FileDescriptorProto.toObject(FileDescriptorProto.decode(raw), {
    arrays: true,
  }) as DecodedFile;
  if (!decoded.name) throw new Error('a file descriptor without a name');
  return { raw, decoded };
}

function streamingKind(client?: boolean, server?: boolean): StreamingKind {
  if (client && server) return 'bidi-streaming';
  if (client) return 'client-streaming';
  return server ? 'server-streaming' : 'unary';
}

function qualified(prefix: string | undefined, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

function messageNames(file: DecodedFile): Set<string> {
  const names = new Set<string>();
  const visit = (prefix: string | undefined, messages: DecodedFile['messageType']) => {
    for (const message of messages ?? []) {
      const name = qualified(prefix, message.name);
      names.add(name);
      visit(name, message.nestedType);
    }
  };
  visit(file.package, file.messageType);
  return names;
}

/** Dependencies before the files that import them: the order Envoy's descriptor pool builds them in. */
export function dependencyOrder(files: ReadonlyMap<string, DescriptorFile>): DescriptorFile[] {
  const ordered: DescriptorFile[] = [];
  const placed = new Set<string>();
  const place = (name: string, chain: string[]) => {
    if (placed.has(name)) return;
    const file = files.get(name);
    if (!file)
      throw new Error(
        `broken descriptor: ${chain.at(-1) ?? name} imports ${name}, which the server did not send`,
      );
    if (chain.includes(name))
      throw new Error(`broken descriptor: import cycle ${[...chain, name].join(' -> ')}`);
    for (const dependency of file.decoded.dependency ?? []) place(dependency, [...chain, name]);
    placed.add(name);
    ordered.push(file);
  };
  for (const name of [...files.keys()].sort()) place(name, []);
  return ordered;
}

/** FileDescriptorSet bytes built from the files' own bytes (re-encoding would drop unknown options). */
export function descriptorSetBytes(files: readonly DescriptorFile[]): Buffer {
  const writer = Writer.create();
  for (const file of files) writer.uint32(10).bytes(file.raw);
  return Buffer.from(writer.finish());
}

/** The named services with their methods; every input and output type must be in the set. */
export function describeServices(
  files: readonly DescriptorFile[],
  serviceNames: readonly string[],
): GrpcServiceSpec[] {
  const messages = new Set(files.flatMap((file) => [...messageNames(file.decoded)]));
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

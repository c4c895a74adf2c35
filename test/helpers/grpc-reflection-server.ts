import * as fs from 'fs';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import * as protobuf from 'protobufjs';
import {
  DescriptorProto,
  EnumDescriptorProto,
  FieldDescriptorProto,
  ServiceDescriptorProto,
} from 'protobufjs/ext/descriptor';
import type { ReflectionVersion } from '../../src/discovery/fds/grpc-reflection/reflection-client';

/**
 * gRPC backends with server reflection for discovery tests: real @grpc/grpc-js servers with the real
 * @grpc/reflection service, and a hand-made reflection server answering from descriptors built like
 * protoc's (one per .proto file, with its imports and custom options) out of the fixtures under
 * test/discovery/fixtures/grpc/. @grpc/reflection cannot stand in for the latter: it serves one file per
 * package, without imports or custom options.
 */

const GRPC_FIXTURES = path.join(__dirname, '..', 'discovery', 'fixtures', 'grpc');
const GOOGLEAPIS = path.join(
  path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')),
  'deps',
  'googleapis',
);
/** protobufjs ships google/protobuf/descriptor.proto, which google/api/annotations.proto imports. */
const PROTOBUFJS = path.dirname(require.resolve('protobufjs/package.json'));
const INCLUDE_DIRS = [GRPC_FIXTURES, GOOGLEAPIS, PROTOBUFJS];

export const CATALOG_PROTO = 'catalog/v1/catalog.proto';
export const ORDERS_PROTO = 'orders/v1/orders.proto';
export const SHIPPING_PROTO = 'shipping/v1/shipping.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';

function findProto(name: string): string | undefined {
  return INCLUDE_DIRS.map((dir) => path.join(dir, name)).find((candidate) => fs.existsSync(candidate));
}

function resolveProto(name: string): string {
  const found = findProto(name);
  if (!found) throw new Error(`no ${name} under ${INCLUDE_DIRS.join(', ')}`);
  return found;
}

function loadRoot(files: readonly string[], options: protobuf.IParseOptions): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : resolveProto(target));
  root.loadSync([...files], options);
  root.resolveAll();
  return root;
}

let descriptorTypes: protobuf.Root | undefined;

/** descriptor.proto's messages extended with google.api.http, so that option is encoded and decoded. */
function fileDescriptorProtoType(): protobuf.Type {
  descriptorTypes ??= loadRoot(['google/api/annotations.proto'], {});
  return descriptorTypes.lookupType('google.protobuf.FileDescriptorProto');
}

/** A FileDescriptorProto as an object (camelCase fields, options keyed as `.google.api.http`). */
export type DescriptorObject = Record<string, unknown> & {
  name: string;
  package?: string;
  service?: Array<{ name: string; method?: Array<Record<string, unknown> & { name: string }> }>;
};

export function decodeDescriptor(bytes: Uint8Array): DescriptorObject {
  const type = fileDescriptorProtoType();
  return type.toObject(type.decode(bytes), { arrays: true }) as DescriptorObject;
}

export function encodeDescriptor(descriptor: DescriptorObject): Buffer {
  const type = fileDescriptorProtoType();
  return Buffer.from(type.encode(type.fromObject(descriptor)).finish());
}

interface SourceFile {
  imports: string[];
  package?: string;
  syntax?: 'proto3';
  /** Fully qualified names of what the file declares at its top level. */
  declarations: string[];
}

function readSourceFile(name: string): SourceFile {
  const found = findProto(name);
  let root: protobuf.Root;
  let file: Omit<SourceFile, 'declarations'>;
  if (found) {
    const source = fs.readFileSync(found, 'utf8');
    const parsed = protobuf.parse(source, new protobuf.Root(), { keepCase: true });
    root = parsed.root;
    const syntax = /^\s*syntax\s*=\s*"proto3"/m.test(source) ? 'proto3' : undefined;
    file = { imports: parsed.imports ?? [], package: parsed.package, syntax };
  } else {
    // protobufjs has the other well-known types (timestamp, struct, ...) as bundled JSON, not files.
    root = protobuf.Root.fromJSON(protobuf.common.get(name) as protobuf.INamespace);
    file = { imports: [], package: 'google.protobuf', syntax: 'proto3' };
  }
  const scope = file.package ? root.lookup(file.package) : root;
  const declarations = (scope as protobuf.Namespace).nestedArray
    .filter((object) => object.constructor !== protobuf.Namespace)
    .map((object) => object.fullName.slice(1));
  return { ...file, declarations };
}

type Described = protobuf.ReflectionObject & { toDescriptor(syntax?: string): protobuf.Message };

/** Method options as written, custom ones (`(google.api.http)`) keyed by their extension's full name. */
function methodOptions(method: protobuf.Method): Record<string, unknown> | undefined {
  const entries = (method.parsedOptions ?? []).flatMap((option: Record<string, unknown>) =>
    Object.entries(option).map(([key, value]) => [key.replace(/^\((.*)\)$/, '.$1'), value]),
  );
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

type ServiceObject = NonNullable<DescriptorObject['service']>[number];

function describeFile(root: protobuf.Root, name: string, file: SourceFile): DescriptorObject {
  const messageType: unknown[] = [];
  const enumType: unknown[] = [];
  const extension: unknown[] = [];
  const service: ServiceObject[] = [];
  const asObject = (object: protobuf.ReflectionObject, type: protobuf.Type) =>
    type.toObject((object as Described).toDescriptor(file.syntax), { arrays: true });
  for (const fullName of file.declarations) {
    const object = root.lookup(fullName);
    if (object instanceof protobuf.Type) {
      messageType.push(asObject(object, DescriptorProto));
    } else if (object instanceof protobuf.Enum) {
      enumType.push(asObject(object, EnumDescriptorProto));
    } else if (object instanceof protobuf.Service) {
      const described = asObject(object, ServiceDescriptorProto) as ServiceObject;
      for (const method of described.method ?? [])
        method.options = methodOptions(object.methods[method.name]);
      service.push(described);
    } else if (object instanceof protobuf.Field) {
      extension.push(asObject(object, FieldDescriptorProto));
    }
  }
  const { package: packageName, imports: dependency, syntax } = file;
  return { name, package: packageName, dependency, syntax, messageType, enumType, service, extension };
}

/**
 * Serialized FileDescriptorProtos as protoc makes them for `files` and everything they import, by file
 * name: each lists its imports and keeps its options, google.api.http included.
 */
export function compileProtos(files: readonly string[]): Map<string, Buffer> {
  const root = loadRoot(files, { keepCase: true });
  const compiled = new Map<string, Buffer>();
  const compile = (name: string) => {
    if (compiled.has(name)) return;
    const file = readSourceFile(name);
    compiled.set(name, encodeDescriptor(describeFile(root, name, file)));
    for (const imported of file.imports) compile(imported);
  };
  for (const file of files) compile(file);
  return compiled;
}

export interface RunningServer {
  port: number;
  stop(): void;
}

async function serve(server: grpc.Server, port: number): Promise<RunningServer> {
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { port: boundPort, stop: () => server.forceShutdown() };
}

export interface GrpcBackendOptions {
  /** Fixture files whose services the backend offers. */
  protos: readonly string[];
  /** The reflection services it registers (@grpc/reflection's): both by default. */
  reflection?: readonly ReflectionVersion[];
  /** Default: any free port. */
  port?: number;
}

function isServiceDefinition(value: protoLoader.AnyDefinition): value is protoLoader.ServiceDefinition {
  return Object.values(value).every((method) => typeof method?.path === 'string');
}

/**
 * A @grpc/grpc-js server offering every service of `protos` (whose methods answer UNIMPLEMENTED: only
 * their descriptions matter) and @grpc/reflection's ServerReflection.
 */
export async function startGrpcBackend({
  protos,
  reflection = ['v1', 'v1alpha'],
  port = 0,
}: GrpcBackendOptions): Promise<RunningServer> {
  const definition = protoLoader.loadSync([...protos], { includeDirs: [GRPC_FIXTURES, GOOGLEAPIS] });
  const server = new grpc.Server();
  for (const service of Object.values(definition).filter(isServiceDefinition)) server.addService(service, {});
  // addToServer registers v1 and v1alpha: offering only some versions means passing on only those.
  new ReflectionService(definition).addToServer({
    addService: (service, implementation) => {
      const version = /^\/grpc\.reflection\.(\w+)\./.exec(Object.values(service)[0].path)?.[1];
      if (reflection.includes(version as ReflectionVersion)) server.addService(service, implementation);
    },
  });
  return serve(server, port);
}

const REFLECTION_PROTOS = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);

function reflectionDefinition(version: ReflectionVersion): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [REFLECTION_PROTOS],
    keepCase: true,
    oneofs: true,
  });
  return definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
}

type ReflectionRequestKind = 'list_services' | 'file_containing_symbol' | 'file_by_filename';

export interface ReflectionRequest {
  version: ReflectionVersion;
  kind: ReflectionRequestKind;
  value: string;
}

export interface DescriptorReflectionServer extends RunningServer {
  /** Every request it took, in order. */
  requests: ReflectionRequest[];
}

export interface DescriptorReflectionOptions {
  /** Default: v1 and v1alpha. */
  versions?: readonly ReflectionVersion[];
  /** Take requests and never answer them. */
  silent?: boolean;
}

/**
 * A reflection server (the real protocol, over grpc-js) answering from serialized file descriptors by
 * file name. Like grpc-go and grpc-java, it lists its own reflection services beside the services the
 * files define. It sends only the file asked for, leaving imports to file_by_filename, and answers
 * unknown symbols and files with a NOT_FOUND error response.
 */
export async function startDescriptorReflectionServer(
  files: ReadonlyMap<string, Buffer>,
  { versions = ['v1', 'v1alpha'], silent = false }: DescriptorReflectionOptions = {},
): Promise<DescriptorReflectionServer> {
  const fileOfService = new Map<string, string>();
  for (const [name, bytes] of files) {
    const file = decodeDescriptor(bytes);
    for (const service of file.service ?? []) {
      fileOfService.set(file.package ? `${file.package}.${service.name}` : service.name, name);
    }
  }
  const listed = [
    ...fileOfService.keys(),
    ...versions.map((version) => `grpc.reflection.${version}.ServerReflection`),
  ];
  const answer = (kind: ReflectionRequestKind, value: string) => {
    if (kind === 'list_services')
      return { list_services_response: { service: listed.map((name) => ({ name })) } };
    const bytes = files.get((kind === 'file_by_filename' ? value : fileOfService.get(value)) ?? '');
    if (!bytes) {
      return { error_response: { error_code: grpc.status.NOT_FOUND, error_message: `${value} not found` } };
    }
    return { file_descriptor_response: { file_descriptor_proto: [bytes] } };
  };
  const requests: ReflectionRequest[] = [];
  const server = new grpc.Server();
  for (const version of versions) {
    server.addService(reflectionDefinition(version), {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<Record<string, string>, unknown>) => {
        call.on('data', (request: Record<string, string>) => {
          const kind = request.message_request as ReflectionRequestKind;
          requests.push({ version, kind, value: request[kind] });
          if (!silent) call.write(answer(kind, request[kind]));
        });
        call.on('end', () => call.end());
      },
    });
  }
  return { ...(await serve(server, 0)), requests };
}

import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { loadSync, parse } from 'protobufjs';
import { FileDescriptorSet } from 'protobufjs/ext/descriptor';

/**
 * Real gRPC backends for integration tests: `sluice.test.Echo` (test/integration/fixtures/echo.proto),
 * whose replies name the backend that answered and the method that ran. Like real services, they
 * describe themselves through gRPC server reflection.
 */

export const ECHO_PROTO = path.join(__dirname, '..', 'integration', 'fixtures', 'echo.proto');
export const ECHO_SERVICE = 'sluice.test.Echo';

export interface WhoReply {
  backend: string;
  method: string;
  canary: string;
}

export type EchoMethod = 'Who' | 'Other';

type EchoClientConstructor = grpc.ServiceClientConstructor;

let echoDefinition: protoLoader.PackageDefinition | undefined;
let echoConstructor: EchoClientConstructor | undefined;

function echoPackageDefinition(): protoLoader.PackageDefinition {
  echoDefinition ??= protoLoader.loadSync(ECHO_PROTO, { keepCase: true, defaults: true });
  return echoDefinition;
}

/** The generated client constructor (its `service` is the service definition). Loaded once. */
export function echoService(): EchoClientConstructor {
  if (!echoConstructor) {
    const loaded = grpc.loadPackageDefinition(echoPackageDefinition()) as unknown as {
      sluice: { test: { Echo: EchoClientConstructor } };
    };
    echoConstructor = loaded.sluice.test.Echo;
  }
  return echoConstructor;
}

export interface EchoBackend {
  name: string;
  port: number;
  /** Calls answered so far, by method. */
  calls: Record<EchoMethod, number>;
  shutdown(): Promise<void>;
}

/** Starts an Echo server on 127.0.0.1:0 that answers as `name`. */
export async function startEchoBackend(name: string): Promise<EchoBackend> {
  const server = new grpc.Server();
  const calls: Record<EchoMethod, number> = { Who: 0, Other: 0 };
  const handler =
    (method: EchoMethod): grpc.handleUnaryCall<unknown, WhoReply> =>
    (call, callback) => {
      calls[method] += 1;
      const canary = call.metadata.get('x-canary').map(String).join(',');
      callback(null, { backend: name, method, canary });
    };
  server.addService(echoService().service, { Who: handler('Who'), Other: handler('Other') });
  new ReflectionService(echoPackageDefinition()).addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) =>
      error ? reject(error) : resolve(boundPort),
    ),
  );
  return {
    name,
    port,
    calls,
    shutdown: () =>
      new Promise<void>((resolve) => {
        // Give in-flight calls a moment, then cut whatever is left.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/**
 * echo.proto, and any further .proto sources, as a base64 FileDescriptorSet: what
 * `protoc --include_imports --descriptor_set_out` writes and `serviceSpec.grpc.descriptors` holds.
 */
export function echoDescriptorSet(...moreProtoSources: string[]): string {
  const root = loadSync(ECHO_PROTO);
  for (const source of moreProtoSources) parse(source, root);
  root.resolveAll();
  // protobufjs adds toDescriptor to Root when protobufjs/ext/descriptor is loaded; its typings omit it.
  const described = (
    root as unknown as { toDescriptor(syntax: string): Record<string, unknown> }
  ).toDescriptor('proto3');
  return Buffer.from(FileDescriptorSet.encode(described).finish()).toString('base64');
}

/** Fully qualified names of the services a base64 FileDescriptorSet defines. */
export function servicesDefinedBy(descriptors: string): string[] {
  const set = FileDescriptorSet.toObject(FileDescriptorSet.decode(Buffer.from(descriptors, 'base64')), {
    arrays: true,
  }) as { file: Array<{ package?: string; service?: Array<{ name: string }> }> };
  return set.file.flatMap((file) => (file.service ?? []).map((service) => `${file.package}.${service.name}`));
}

/** A per-channel xDS bootstrap (`grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config`) for Sluice. */
export function xdsBootstrap(xdsPort: number, role: string, nodeId = 'sluice-integration-test'): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }] }],
    node: { id: nodeId, locality: {}, metadata: { role } },
  });
}

export const XDS_BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

/** A client of `target` (e.g. `xds:///my.domain` or `127.0.0.1:PORT`). */
export function echoClient(target: string, options: grpc.ChannelOptions = {}): grpc.Client {
  const Echo = echoService();
  return new Echo(target, grpc.credentials.createInsecure(), options);
}

export interface CallOptions {
  metadata?: Record<string, string>;
  /** Deadline in ms from now. Default 5000. */
  timeoutMs?: number;
  /** Wait for the channel to be ready instead of failing fast while it connects. */
  waitForReady?: boolean;
}

type UnaryFn = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, reply?: WhoReply) => void,
) => grpc.ClientUnaryCall;

/** One unary call; rejects with the gRPC error on failure. */
export function callEcho(
  client: grpc.Client,
  method: EchoMethod,
  options: CallOptions = {},
): Promise<WhoReply> {
  const metadata = new grpc.Metadata({ waitForReady: options.waitForReady ?? false });
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const fn = (client as unknown as Record<EchoMethod, UnaryFn>)[method].bind(client);
  return new Promise<WhoReply>((resolve, reject) => {
    fn({ note: 'hi' }, metadata, { deadline }, (error, reply) =>
      error ? reject(error) : resolve(reply as WhoReply),
    );
  });
}

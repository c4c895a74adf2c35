/**
 * The gRPC server the gRPC benchmark discovers: SERVICES services, each in its own package and .proto
 * file (generated at run time into a temp dir), all importing one shared file and
 * google/protobuf/timestamp.proto, served by @grpc/grpc-js on 127.0.0.1 with @grpc/reflection.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

const SERVICES = 200;
const COMMON_FILE = 'bench/common/v1/common.proto';

interface MethodShape {
  name: string;
  input: string;
  output: string;
  clientStreams: boolean;
  serverStreams: boolean;
}

/** Service i has the first 4 + (i % 3): every streaming kind, and 0 to 2 more unary methods. */
const METHODS: readonly MethodShape[] = [
  { name: 'Get', input: 'GetRequest', output: 'Item', clientStreams: false, serverStreams: false },
  { name: 'List', input: 'ListRequest', output: 'Item', clientStreams: false, serverStreams: true },
  { name: 'Upload', input: 'Item', output: 'UploadSummary', clientStreams: true, serverStreams: false },
  { name: 'Watch', input: 'GetRequest', output: 'Event', clientStreams: true, serverStreams: true },
  { name: 'Update', input: 'Item', output: 'Item', clientStreams: false, serverStreams: false },
  {
    name: 'Delete',
    input: 'GetRequest',
    output: 'bench.common.v1.Empty',
    clientStreams: false,
    serverStreams: false,
  },
];

const serviceNumber = (i: number): string => String(i).padStart(3, '0');

/** Fully qualified name of service `i`, e.g. `bench.svc007.v1.Svc007`. */
const serviceName = (i: number): string => `bench.svc${serviceNumber(i)}.v1.Svc${serviceNumber(i)}`;

/** A unary method of the first service, as a route names it (`package.Service/Method`). */
export const UNARY_METHOD = `${serviceName(0)}/Get`;

const methodsOf = (i: number) => METHODS.slice(0, 4 + (i % 3));

const COMMON_PROTO = `syntax = "proto3";
package bench.common.v1;
import "google/protobuf/timestamp.proto";
message Empty {}
message Page { int32 size = 1; string token = 2; }
message RequestMeta { string request_id = 1; google.protobuf.Timestamp deadline = 2; map<string, string> baggage = 3; }
enum Severity { SEVERITY_UNSPECIFIED = 0; SEVERITY_INFO = 1; SEVERITY_WARNING = 2; SEVERITY_ERROR = 3; }
`;

function serviceProto(i: number): string {
  const n = serviceNumber(i);
  const rpc = (m: MethodShape) =>
    `  rpc ${m.name}(${m.clientStreams ? 'stream ' : ''}${m.input}) returns (${m.serverStreams ? 'stream ' : ''}${m.output});`;
  return `syntax = "proto3";
package bench.svc${n}.v1;
import "${COMMON_FILE}";
import "google/protobuf/timestamp.proto";
message Item {
  string id = 1;
  string name = 2;
  google.protobuf.Timestamp updated_at = 3;
  map<string, string> labels = 4;
  repeated string tags = 5;
  message Owner { string team = 1; string email = 2; }
  Owner owner = 6;
}
message GetRequest { bench.common.v1.RequestMeta meta = 1; string id = 2; }
message ListRequest { bench.common.v1.RequestMeta meta = 1; bench.common.v1.Page page = 2; string filter = 3; }
message UploadSummary { int32 count = 1; google.protobuf.Timestamp finished_at = 2; }
message Event { Item item = 1; bench.common.v1.Severity severity = 2; oneof change { bool created = 3; bool deleted = 4; } }
service Svc${n} {
${methodsOf(i).map(rpc).join('\n')}
}
`;
}

/** Every method answers at once: an empty reply, or the end of its stream. */
function handlersOf(service: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
  const reply = (_call: unknown, callback: grpc.sendUnaryData<object>) => callback(null, {});
  const drain = (call: grpc.ServerReadableStream<object, object>, callback: grpc.sendUnaryData<object>) =>
    call.on('data', () => undefined).on('end', () => callback(null, {}));
  const endAtOnce = (call: grpc.ServerWritableStream<object, object>) => call.end();
  const drainThenEnd = (call: grpc.ServerDuplexStream<object, object>) =>
    call.on('data', () => undefined).on('end', () => call.end());
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => {
      if (method.requestStream) return [name, method.responseStream ? drainThenEnd : drain];
      return [name, method.responseStream ? endAtOnce : reply];
    }),
  );
}

export interface BackendFigures {
  services: number;
  methods: number;
  /** The generated .proto files (the services' and the shared one) and their total size. */
  protoFiles: number;
  protoBytes: number;
  /** Writing the files and `protoLoader.loadSync`. */
  generateMs: number;
  /** `new ReflectionService(packageDefinition)` (@grpc/reflection indexes every file). */
  reflectionSetupMs: number;
}

export interface Backend {
  port: number;
  figures: BackendFigures;
  /** Closes every connection at once: nothing is in flight that needs draining. */
  shutdown(): void;
}

export async function startBackend(): Promise<Backend> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-grpc-'));
  const files = Array.from(
    { length: SERVICES },
    (_, i) => `bench/svc${serviceNumber(i)}/v1/svc${serviceNumber(i)}.proto`,
  );
  let protoBytes = 0;
  let definition: protoLoader.PackageDefinition;
  try {
    for (const [file, text] of [
      [COMMON_FILE, COMMON_PROTO],
      ...files.map((file, i) => [file, serviceProto(i)]),
    ]) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
      protoBytes += Buffer.byteLength(text);
    }
    definition = protoLoader.loadSync(files, { includeDirs: [dir] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const generateMs = performance.now() - started;
  const server = new grpc.Server();
  const reflectionStarted = performance.now();
  new ReflectionService(definition).addToServer(server);
  const reflectionSetupMs = performance.now() - reflectionStarted;
  let methods = 0;
  for (let i = 0; i < SERVICES; i++) {
    const service = definition[serviceName(i)] as grpc.ServiceDefinition;
    server.addService(service, handlersOf(service));
    methods += Object.keys(service).length;
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    port,
    figures: {
      services: SERVICES,
      methods,
      protoFiles: files.length + 1,
      protoBytes,
      generateMs,
      reflectionSetupMs,
    },
    shutdown: () => server.forceShutdown(),
  };
}

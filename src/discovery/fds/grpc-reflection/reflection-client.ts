import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** The reflection protos as @grpc/reflection ships them (v1, and v1alpha for older servers). */
const PROTO_ROOT = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);

export type ReflectionVersion = 'v1' | 'v1alpha';

/** What one reflection conversation may cost: a hostile server could send descriptors without end. */
export interface ReflectionLimits {
  /** The largest response (grpc.max_receive_message_length); a larger one fails the call. */
  messageBytes: number;
  /** Every descriptor of the conversation together (a server may keep naming imports to fetch). */
  totalBytes: number;
}

export const DEFAULT_REFLECTION_LIMITS: ReflectionLimits = {
  // grpc-js' own default, stated: one file's descriptor is rarely more than 100 KB.
  messageBytes: 4 * 1024 * 1024,
  // Room for the largest APIs many times over; what stops a server that keeps sending.
  totalBytes: 32 * 1024 * 1024,
};

interface ReflectionResponse {
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  list_services_response?: { service: Array<{ name: string }> };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionRequest =
  { list_services: string } | { file_containing_symbol: string } | { file_by_filename: string };

type ReflectionStream = grpc.ClientDuplexStream<ReflectionRequest, ReflectionResponse>;
type ReflectionClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => grpc.Client & { ServerReflectionInfo(options: grpc.CallOptions): ReflectionStream };

/** The server's error_response: it took the request and has no answer to it (an unknown file, say). */
export class ReflectionErrorResponse extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`reflection error ${code}: ${message}`);
  }
}

const constructors = new Map<ReflectionVersion, ReflectionClientConstructor>();

function clientConstructor(version: ReflectionVersion): ReflectionClientConstructor {
  let constructor = constructors.get(version);
  if (!constructor) {
    const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, {
      includeDirs: [PROTO_ROOT],
      keepCase: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: Record<ReflectionVersion, { ServerReflection: ReflectionClientConstructor }> };
    };
    constructor = loaded.grpc.reflection[version].ServerReflection;
    constructors.set(version, constructor);
  }
  return constructor;
}

/**
 * One ServerReflectionInfo stream: a server answers requests in the order they were sent, so each
 * request waits for the next response.
 */
export class ReflectionSession {
  private readonly client: grpc.Client;
  private readonly stream: ReflectionStream;
  private readonly waiting: Array<{
    resolve: (response: ReflectionResponse) => void;
    reject: (error: Error) => void;
  }> = [];
  private failure: Error | undefined;
  private readonly limits: ReflectionLimits;
  private descriptorBytes = 0;

  constructor(
    version: ReflectionVersion,
    address: string,
    credentials: grpc.ChannelCredentials,
    options: { deadline: Date; channelOptions?: grpc.ChannelOptions; limits?: ReflectionLimits },
  ) {
    const Client = clientConstructor(version);
    this.limits = options.limits ?? DEFAULT_REFLECTION_LIMITS;
    const client = new Client(address, credentials, {
      ...options.channelOptions,
      'grpc.max_receive_message_length': this.limits.messageBytes,
    });
    this.client = client;
    this.stream = client.ServerReflectionInfo({ deadline: options.deadline });
    this.stream.on('data', (response: ReflectionResponse) => this.waiting.shift()?.resolve(response));
    this.stream.on('error', (error: Error) => this.fail(error));
    this.stream.on('end', () => this.fail(new Error('the server closed the reflection stream')));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
  }

  private ask(request: ReflectionRequest): Promise<ReflectionResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write(request);
    }).then((response) => {
      const typed = response as ReflectionResponse;
      if (typed.error_response)
        throw new ReflectionErrorResponse(
          typed.error_response.error_code,
          typed.error_response.error_message,
        );
      return typed;
    });
  }

  async listServices(): Promise<string[]> {
    const response = await this.ask({ list_services: '' });
    return (response.list_services_response?.service ?? []).map((service) => service.name);
  }

  async fileContainingSymbol(symbol: string): Promise<Buffer[]> {
    return this.counted(await this.ask({ file_containing_symbol: symbol }));
  }

  async fileByFilename(name: string): Promise<Buffer[]> {
    return this.counted(await this.ask({ file_by_filename: name }));
  }

  private counted(response: ReflectionResponse): Buffer[] {
    const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
    this.descriptorBytes += files.reduce((sum, file) => sum + file.length, 0);
    if (this.descriptorBytes > this.limits.totalBytes) {
      throw new Error(
        `the server's descriptors are larger than ${this.limits.totalBytes} bytes, the most one discovery reads`,
      );
    }
    return files;
  }

  close(): void {
    this.stream.end();
    this.stream.cancel();
    this.client.close();
  }
}

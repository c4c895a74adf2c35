/**
 * A raw ADS client for tests: Envoy's ads.proto through @grpc/proto-loader and @grpc/grpc-js, with
 * the resources in responses decoded by the Envoy protobufjs types. It sends exactly what a test
 * tells it to (nothing automatic), and queues every response so tests can assert on each one.
 */
import * as http2 from 'http2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ENVOY_PROTO_INCLUDE_DIRS, envoyType } from '../../src/xds/envoy-protos';
import { messageNameOf } from '../../src/xds/type-urls';

/**
 * google.protobuf.Any as proto-loader hands it over: even with keepCase false its field stays
 * `type_url` (protobufjs builds Any from its bundled descriptor, not from a parsed .proto).
 */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

export interface SotwResponse {
  versionInfo: string;
  resources: AnyMessage[];
  typeUrl: string;
  nonce: string;
  controlPlane?: { identifier: string } | null;
}

export interface DeltaResponse {
  systemVersionInfo: string;
  resources: Array<{ name: string; version: string; resource: AnyMessage | null }>;
  typeUrl: string;
  removedResources: string[];
  nonce: string;
}

export interface NodeMessage {
  id: string;
  cluster?: string;
  metadata?: { fields: Record<string, { stringValue: string }> };
}

export interface SotwRequest {
  node?: NodeMessage;
  typeUrl: string;
  versionInfo?: string;
  resourceNames?: string[];
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

export interface DeltaRequest {
  node?: NodeMessage;
  typeUrl: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { code: number; message: string };
}

type AdsClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => grpc.Client & {
  StreamAggregatedResources(): grpc.ClientDuplexStream<SotwRequest, SotwResponse>;
  DeltaAggregatedResources(): grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;
};

let clientConstructor: AdsClientConstructor | undefined;

function adsClientConstructor(): AdsClientConstructor {
  if (!clientConstructor) {
    const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
      includeDirs: [...ENVOY_PROTO_INCLUDE_DIRS],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: AdsClientConstructor } } } };
    };
    clientConstructor = loaded.envoy.service.discovery.v3.AggregatedDiscoveryService;
  }
  return clientConstructor;
}

/** An Envoy-style node; `role` goes into metadata the way Envoy sends it (a Struct). */
export function nodeWithRole(id: string, role?: string): NodeMessage {
  const node: NodeMessage = { id, cluster: 'test' };
  if (role !== undefined) node.metadata = { fields: { role: { stringValue: role } } };
  return node;
}

class ResponseQueue<T> {
  private readonly items: T[] = [];
  private waiter: ((item: T) => void) | undefined;
  private ended: Error | undefined;
  private endWaiter: ((err: Error) => void) | undefined;

  push(item: T): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.endWaiter = undefined;
      waiter(item);
    } else {
      this.items.push(item);
    }
  }

  end(err: Error): void {
    this.ended = err;
    if (this.endWaiter) {
      const endWaiter = this.endWaiter;
      this.waiter = undefined;
      this.endWaiter = undefined;
      endWaiter(err);
    }
  }

  get pending(): number {
    return this.items.length;
  }

  peek(): readonly T[] {
    return this.items;
  }

  next(timeoutMs: number): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.endWaiter = undefined;
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (value) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.endWaiter = (err) => {
        clearTimeout(timer);
        reject(err);
      };
    });
  }
}

abstract class RawAdsClient<Req, Res> {
  protected readonly client: InstanceType<AdsClientConstructor>;
  protected readonly stream: grpc.ClientDuplexStream<Req, Res>;
  private readonly queue = new ResponseQueue<Res>();
  /** Every response received, in order. */
  readonly received: Res[] = [];
  /** The status the stream ended with, once it has. */
  status: grpc.StatusObject | undefined;
  private closed = false;

  constructor(
    port: number,
    open: (client: InstanceType<AdsClientConstructor>) => grpc.ClientDuplexStream<Req, Res>,
    options: AdsClientOptions = {},
  ) {
    const Client = adsClientConstructor();
    // By default every client shares one connection (grpc-js' global subchannel pool).
    const channelOptions: grpc.ChannelOptions = options.ownConnection
      ? { 'grpc.use_local_subchannel_pool': 1 }
      : {};
    this.client = new Client(`127.0.0.1:${port}`, options.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      ...channelOptions,
    });
    this.stream = open(this.client);
    this.stream.on('data', (response: Res) => {
      this.received.push(response);
      this.queue.push(response);
    });
    this.stream.on('status', (status: grpc.StatusObject) => {
      this.status = status;
    });
    this.stream.on('error', (err: Error) => this.queue.end(err));
    this.stream.on('end', () => this.queue.end(new Error('stream ended')));
  }

  send(request: Req): void {
    this.stream.write(request);
  }

  /** The next response (already received or arriving within `timeoutMs`). */
  next(timeoutMs = 3000): Promise<Res> {
    return this.queue.next(timeoutMs);
  }

  /** Fails if any response arrives within `ms`. */
  async expectNothing(ms = 300): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.queue.pending > 0) {
      const first = JSON.stringify(this.queue.peek()[0], (_k, v: unknown) =>
        v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? '<bytes>' : v,
      );
      throw new Error(`expected no response, got ${this.queue.pending}, first: ${first}`);
    }
  }

  /**
   * Stops reading responses (as a stuck proxy would): once grpc-js' and HTTP/2's buffers are full,
   * flow control stops the server from sending more on this stream.
   */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.cancel();
    this.client.close();
  }
}

export interface AdsClientOptions {
  /** A connection of its own instead of the one shared by every client of the process. */
  ownConnection?: boolean;
  /** TLS credentials (default: plaintext). */
  credentials?: grpc.ChannelCredentials;
}

export class SotwClient extends RawAdsClient<SotwRequest, SotwResponse> {
  constructor(port: number, options?: AdsClientOptions) {
    super(port, (client) => client.StreamAggregatedResources(), options);
  }

  /** Sends an ACK of `response` with the given (complete) resource names. */
  ack(response: SotwResponse, resourceNames: string[]): void {
    this.send({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames,
    });
  }
}

export class DeltaClient extends RawAdsClient<DeltaRequest, DeltaResponse> {
  constructor(port: number, options?: AdsClientOptions) {
    super(port, (client) => client.DeltaAggregatedResources(), options);
  }

  ack(response: DeltaResponse): void {
    this.send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }
}

/**
 * A SotW ADS client on a raw HTTP/2 connection of its own, for tests about flow control: while
 * paused it reads nothing at all from the socket, so once the HTTP/2 windows (64 KiB) are full the
 * server cannot send it anything more (a grpc-js client keeps reading until 16 messages are
 * buffered). Responses are decoded with the Envoy protobufjs types into the shape of `SotwResponse`.
 */
export class RawHttp2SotwClient {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private pendingBytes = Buffer.alloc(0);
  private readonly queue = new ResponseQueue<SotwResponse>();
  /** Every response received, in order. */
  readonly received: SotwResponse[] = [];

  constructor(port: number) {
    this.session = http2.connect(`http://127.0.0.1:${port}`);
    this.session.on('error', () => undefined);
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (err: Error) => this.queue.end(err));
    this.stream.on('end', () => this.queue.end(new Error('stream ended')));
  }

  private onData(chunk: Buffer): void {
    this.pendingBytes = Buffer.concat([this.pendingBytes, chunk]);
    while (this.pendingBytes.length >= 5) {
      const length = this.pendingBytes.readUInt32BE(1);
      if (this.pendingBytes.length < 5 + length) break;
      const body = this.pendingBytes.subarray(5, 5 + length);
      this.pendingBytes = this.pendingBytes.subarray(5 + length);
      const type = envoyType('envoy.service.discovery.v3.DiscoveryResponse');
      const decoded = type.toObject(type.decode(body), { longs: String, defaults: true }) as Record<
        string,
        unknown
      >;
      const resources = (decoded.resources as Array<Record<string, unknown>>).map((any) => ({
        type_url: String(any.type_url ?? any.typeUrl),
        value: Buffer.from(any.value as Uint8Array),
      }));
      const response: SotwResponse = {
        versionInfo: String(decoded.versionInfo),
        typeUrl: String(decoded.typeUrl),
        nonce: String(decoded.nonce),
        resources,
      };
      this.received.push(response);
      this.queue.push(response);
    }
  }

  send(request: SotwRequest): void {
    const type = envoyType('envoy.service.discovery.v3.DiscoveryRequest');
    const body = type.encode(type.fromObject(request)).finish();
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    this.stream.write(frame);
  }

  next(timeoutMs = 3000): Promise<SotwResponse> {
    return this.queue.next(timeoutMs);
  }

  /** Stops reading from the connection. */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    this.stream.close();
    this.session.destroy();
  }
}

/** The name of a decoded Envoy resource (ClusterLoadAssignment names itself by cluster_name). */
function nameOf(message: Record<string, unknown>): string {
  const name = message.name ?? message.clusterName;
  if (typeof name !== 'string') throw new Error('resource without a name');
  return name;
}

/** Decodes an Any with the Envoy type its type URL names. */
export function decodeAny(any: AnyMessage): Record<string, unknown> {
  const type = envoyType(messageNameOf(any.type_url));
  return type.toObject(type.decode(any.value), { longs: String, enums: String }) as Record<string, unknown>;
}

/** name -> decoded message of every resource in a SotW response. */
export function sotwResources(response: SotwResponse): Map<string, Record<string, unknown>> {
  const result = new Map<string, Record<string, unknown>>();
  for (const any of response.resources) {
    if (any.type_url !== response.typeUrl) {
      throw new Error(`resource type ${any.type_url} in a ${response.typeUrl} response`);
    }
    const message = decodeAny(any);
    result.set(nameOf(message), message);
  }
  return result;
}

/** name -> {version, decoded message} of every resource in a delta response. */
export function deltaResources(
  response: DeltaResponse,
): Map<string, { version: string; message: Record<string, unknown> }> {
  const result = new Map<string, { version: string; message: Record<string, unknown> }>();
  for (const resource of response.resources) {
    if (!resource.resource) throw new Error(`delta resource ${resource.name} without a body`);
    const message = decodeAny(resource.resource);
    if (nameOf(message) !== resource.name)
      throw new Error(`delta resource ${resource.name} holds ${nameOf(message)}`);
    result.set(resource.name, { version: resource.version, message });
  }
  return result;
}

/**
 * Many raw ADS clients in one process (forked by push.ts, so the server's event loop is not shared
 * with the clients' decoding): @grpc/grpc-js + @grpc/proto-loader over Envoy's ads.proto, a few
 * channels each carrying many streams. Every stream subscribes to RDS, ACKs each response and records
 * when (process.hrtime, CLOCK_MONOTONIC, comparable across processes) the armed change reached it.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ENVOY_PROTO_INCLUDE_DIRS } from '../src/xds/envoy-protos';

export interface OpenCommand {
  cmd: 'open';
  address: string;
  sotw: number;
  delta: number;
  streamsPerChannel: number;
  typeUrl: string;
  names: string[];
  role: string;
  timeoutMs: number;
}

export type ClientCommand = OpenCommand | { cmd: 'arm'; seq: number; timeoutMs: number } | { cmd: 'close' };

export type ClientEvent =
  | {
      ev: 'ready';
      ok: boolean;
      streams: number;
      got: number;
      elapsedMs: number;
      sotwBytes: number;
      deltaResources: number[];
      error?: string;
    }
  | { ev: 'armed'; seq: number }
  | {
      ev: 'arrivals';
      seq: number;
      /** hrtime (ns, as strings) of the change's arrival per stream; '' if it never came. */
      arrivals: string[];
      modes: Array<'sotw' | 'delta'>;
      /** Delta streams: resources and removed names in the response that carried the change. */
      deltaResources: number[];
      deltaRemoved: number[];
      deltaNames: string[][];
      sotwResources: number[];
      sotwBytes: number;
      deltaBytes: number;
    }
  | { ev: 'closed'; errors: number };

interface AnyMessage {
  type_url: string;
  value: Buffer;
}

interface SotwResponse {
  versionInfo: string;
  resources: AnyMessage[];
  typeUrl: string;
  nonce: string;
}

interface DeltaResponse {
  resources: Array<{ name: string; version: string; resource: AnyMessage | null }>;
  typeUrl: string;
  removedResources: string[];
  nonce: string;
}

type AnyResponse = SotwResponse | DeltaResponse;
type Duplex = grpc.ClientDuplexStream<Record<string, unknown>, AnyResponse>;
type AdsClient = grpc.Client & {
  StreamAggregatedResources(): Duplex;
  DeltaAggregatedResources(): Duplex;
};

interface StreamState {
  index: number;
  mode: 'sotw' | 'delta';
  call: Duplex;
  initial: boolean;
  ackedVersion: string;
  armed: boolean;
  arrival: bigint | undefined;
  resources: number;
  removed: number;
  names: string[];
  /** Delta: names of the resources in the response that carried the armed change. */
  changedNames: string[];
  bytes: number;
}

function send(event: ClientEvent): void {
  process.send?.(event);
}

function clientConstructor(): new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => AdsClient {
  const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
    includeDirs: [...ENVOY_PROTO_INCLUDE_DIRS],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    envoy: {
      service: { discovery: { v3: { AggregatedDiscoveryService: new (...args: never[]) => AdsClient } } };
    };
  };
  return loaded.envoy.service.discovery.v3.AggregatedDiscoveryService as unknown as new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ) => AdsClient;
}

const clients: AdsClient[] = [];
const streams: StreamState[] = [];
let streamErrors = 0;
let readyPending: (() => void) | undefined;
let armSeq = 0;
let arrivalsPending: (() => void) | undefined;

function valueBytes(resources: ReadonlyArray<{ value?: Buffer } | null | undefined>): number {
  let total = 0;
  for (const r of resources) total += r?.value?.length ?? 0;
  return total;
}

function onResponse(state: StreamState, message: AnyResponse): void {
  const now = process.hrtime.bigint();
  if (state.mode === 'sotw') {
    const response = message as SotwResponse;
    const changed = response.versionInfo !== state.ackedVersion;
    state.call.write({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames: state.names,
    });
    state.ackedVersion = response.versionInfo;
    state.resources = response.resources.length;
    state.bytes = valueBytes(response.resources);
    if (state.armed && changed && state.arrival === undefined) state.arrival = now;
  } else {
    const response = message as DeltaResponse;
    state.call.write({ typeUrl: response.typeUrl, responseNonce: response.nonce });
    state.resources = response.resources.length;
    state.removed = response.removedResources.length;
    state.bytes = valueBytes(response.resources.map((r) => r.resource));
    if (state.armed && state.arrival === undefined) {
      state.arrival = now;
      state.changedNames = response.resources.map((r) => r.name);
    }
  }
  if (!state.initial) {
    state.initial = true;
    if (readyPending && streams.every((s) => s.initial)) readyPending();
  }
  if (arrivalsPending && state.armed && streams.every((s) => s.arrival !== undefined)) arrivalsPending();
}

function open(command: OpenCommand): void {
  const Ctor = clientConstructor();
  const total = command.sotw + command.delta;
  const channels = Math.max(1, Math.ceil(total / command.streamsPerChannel));
  for (let c = 0; c < channels; c++) {
    clients.push(
      new Ctor(command.address, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': -1,
        'grpc.channel_id': c,
      } as grpc.ChannelOptions),
    );
  }
  const started = Date.now();
  const node = {
    id: '',
    cluster: 'bench',
    metadata: { fields: { role: { stringValue: command.role } } },
  };
  for (let i = 0; i < total; i++) {
    // The first `delta` streams land on different channels (streams go round-robin over channels).
    const mode: 'sotw' | 'delta' = i < command.delta ? 'delta' : 'sotw';
    const client = clients[i % channels];
    const call = mode === 'sotw' ? client.StreamAggregatedResources() : client.DeltaAggregatedResources();
    const state: StreamState = {
      index: i,
      mode,
      call,
      initial: false,
      ackedVersion: '',
      armed: false,
      arrival: undefined,
      resources: 0,
      removed: 0,
      names: [...command.names],
      changedNames: [],
      bytes: 0,
    };
    streams.push(state);
    call.on('data', (response: AnyResponse) => onResponse(state, response));
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) streamErrors++;
    });
    call.on('end', () => undefined);
    const nodeWithId = { ...node, id: `bench-${i}` };
    if (mode === 'sotw')
      call.write({ node: nodeWithId, typeUrl: command.typeUrl, resourceNames: command.names });
    else call.write({ node: nodeWithId, typeUrl: command.typeUrl, resourceNamesSubscribe: command.names });
  }
  const finish = (ok: boolean, error?: string) => {
    readyPending = undefined;
    clearTimeout(timer);
    send({
      ev: 'ready',
      ok,
      streams: streams.length,
      got: streams.filter((s) => s.initial).length,
      elapsedMs: Date.now() - started,
      sotwBytes: streams.find((s) => s.mode === 'sotw')?.bytes ?? 0,
      deltaResources: streams.filter((s) => s.mode === 'delta').map((s) => s.resources),
      error,
    });
  };
  const timer = setTimeout(
    () => finish(false, `timed out after ${command.timeoutMs} ms (${streamErrors} stream errors)`),
    command.timeoutMs,
  );
  readyPending = () => finish(true);
}

function arm(seq: number, timeoutMs: number): void {
  armSeq = seq;
  for (const s of streams) {
    s.armed = true;
    s.arrival = undefined;
  }
  const finish = () => {
    arrivalsPending = undefined;
    clearTimeout(timer);
    for (const s of streams) s.armed = false;
    const delta = streams.filter((s) => s.mode === 'delta');
    const sotw = streams.filter((s) => s.mode === 'sotw');
    send({
      ev: 'arrivals',
      seq: armSeq,
      arrivals: streams.map((s) => (s.arrival === undefined ? '' : s.arrival.toString())),
      modes: streams.map((s) => s.mode),
      deltaResources: delta.map((s) => s.resources),
      deltaRemoved: delta.map((s) => s.removed),
      deltaNames: delta.slice(0, 3).map((s) => s.changedNames),
      sotwResources: sotw.slice(0, 3).map((s) => s.resources),
      sotwBytes: sotw[0]?.bytes ?? 0,
      deltaBytes: delta[0]?.bytes ?? 0,
    });
  };
  const timer = setTimeout(finish, timeoutMs);
  arrivalsPending = finish;
  send({ ev: 'armed', seq });
}

function close(): void {
  for (const s of streams) s.call.cancel();
  for (const c of clients) c.close();
  send({ ev: 'closed', errors: streamErrors });
  setTimeout(() => process.exit(0), 50);
}

if (require.main === module) {
  process.on('message', (command: ClientCommand) => {
    if (command.cmd === 'open') open(command);
    else if (command.cmd === 'arm') arm(command.seq, command.timeoutMs);
    else close();
  });
  process.on('disconnect', () => process.exit(0));
}

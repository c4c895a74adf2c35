/**
 * Many proxyless gRPC clients in one process (forked by grpc-push.ts), each one ADS stream on its own
 * connection, as one @grpc/grpc-js-xds process has (its XdsClient is a per-process singleton: every
 * channel of a process shares one stream). Each stream does what that client does: state-of-the-world
 * LDS for the api_listener of the domain it dials, then RDS for the listener's RouteConfiguration, CDS for
 * the route's clusters and EDS for theirs, ACKing every response. Raw @grpc/grpc-js with Sluice's own
 * Envoy protos; responses are timestamped (process.hrtime, CLOCK_MONOTONIC, comparable across
 * processes) before they are decoded. One real @grpc/grpc-js-xds channel can be added as a check.
 *
 * The parent drives it with one command at a time, each answered by one reply.
 */
import * as grpc from '@grpc/grpc-js';
import { register as registerXdsResolver } from '@grpc/grpc-js-xds';
import { envoyType } from '../src/xds/envoy-protos';
import { decodeToJson } from '../src/xds/proto-json';
import { messageNameOf, TYPE_URLS } from '../src/xds/type-urls';

export type ClientsCommand =
  | { cmd: 'open'; address: string; domain: string; role: string; streams: number; timeoutMs: number }
  | { cmd: 'check'; address: string; target: string; role: string; methodPath: string; timeoutMs: number }
  | { cmd: 'arm' }
  | { cmd: 'collect'; timeoutMs: number }
  | { cmd: 'close' };

export type ClientsReply =
  | { ev: 'opened'; ok: boolean; synced: number; elapsedMs: number; error?: string }
  | { ev: 'checked'; ok: boolean; elapsedMs: number; error?: string }
  | { ev: 'armed' }
  | {
      ev: 'arrivals';
      /** hrtime (ns, as a string) at which each stream got a new RouteConfiguration; '' if it did not. */
      arrivals: string[];
      /** Per stream, bytes of every response since `arm` (message bytes as received). */
      bytes: number[];
      /** Responses since `arm` over all streams, by type (short name). */
      responses: Record<string, number>;
      /** CPU this process used from `arm` until every stream had the change (or the timeout). */
      cpuMs: number;
    }
  | { ev: 'closed'; streamErrors: number };

/** Node id of the real @grpc/grpc-js-xds channel, so the server's ACK events can tell it apart. */
export const CHECK_NODE_ID = 'grpc-js-xds-check';

const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
/** Each type's resources name the next type's: Listener -> RouteConfiguration -> Cluster -> endpoints. */
const FOLLOWS: ReadonlyMap<string, string> = new Map([
  [TYPE_URLS.listener, TYPE_URLS.route],
  [TYPE_URLS.route, TYPE_URLS.cluster],
  [TYPE_URLS.cluster, TYPE_URLS.endpoint],
]);
const shortName = (typeUrl: string) => typeUrl.split('.').pop() as string;

interface RawResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Array<{ value: Uint8Array }>;
}

type AdsCall = grpc.ClientDuplexStream<Record<string, unknown>, Buffer>;
type AdsClient = grpc.Client & { StreamAggregatedResources(): AdsCall };

function adsClientConstructor(): new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options: object,
) => AdsClient {
  const request = envoyType('envoy.service.discovery.v3.DiscoveryRequest');
  return grpc.makeGenericClientConstructor(
    {
      StreamAggregatedResources: {
        path: ADS_METHOD,
        requestStream: true,
        responseStream: true,
        requestSerialize: (message: Record<string, unknown>) =>
          Buffer.from(request.encode(request.fromObject(message)).finish()),
        requestDeserialize: (bytes: Buffer) => bytes,
        // Kept raw: timestamped and measured before decoding.
        responseSerialize: (bytes: Buffer) => bytes,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    },
    'AggregatedDiscoveryService',
  ) as unknown as new (address: string, credentials: grpc.ChannelCredentials, options: object) => AdsClient;
}

type Json = Record<string, unknown>;

const responseType = envoyType('envoy.service.discovery.v3.DiscoveryResponse');
const clients: grpc.Client[] = [];
const streams: ProxylessStream[] = [];
/** Between `arm` and the reply to `collect`: responses are counted. */
let armed = false;
let cpuAtArm = process.cpuUsage();
const responsesSinceArm: Record<string, number> = {};
let streamErrors = 0;
/** Resolves the command in progress when its condition holds. */
let waiting: (() => void) | undefined;

/** The next type's names a resource refers to, as a proxyless client reads them. */
function referencesOf(typeUrl: string, json: Json): string[] {
  if (typeUrl === TYPE_URLS.listener) {
    const hcm = (json.apiListener as { apiListener?: { rds?: { routeConfigName?: string } } } | undefined)
      ?.apiListener;
    return hcm?.rds?.routeConfigName ? [hcm.rds.routeConfigName] : [];
  }
  if (typeUrl === TYPE_URLS.route) {
    type Action = { cluster?: string; weightedClusters?: { clusters?: Array<{ name: string }> } };
    const hosts = (json.virtualHosts ?? []) as Array<{ routes?: Array<{ route?: Action }> }>;
    return hosts.flatMap((host) =>
      (host.routes ?? []).flatMap(({ route }) => [
        ...(route?.cluster ? [route.cluster] : []),
        ...(route?.weightedClusters?.clusters ?? []).map((cluster) => cluster.name),
      ]),
    );
  }
  if (typeUrl === TYPE_URLS.cluster) {
    const eds = json.edsClusterConfig as { serviceName?: string } | undefined;
    return [eds?.serviceName || (json.name as string)];
  }
  return [];
}

/**
 * Every stream receives the same bytes for the same version of a type (same subscriptions), so each
 * version is decoded once for all of them: the clients' decoding would otherwise dominate this process.
 */
const decodedVersions = new Map<string, string[]>();

function referencesOfResponse(response: RawResponse): string[] {
  const key = `${response.typeUrl}\u0000${response.versionInfo}`;
  let names = decodedVersions.get(key);
  if (!names) {
    const messageName = messageNameOf(response.typeUrl);
    names = [
      ...new Set(
        response.resources.flatMap((any) =>
          referencesOf(response.typeUrl, decodeToJson(messageName, any.value)),
        ),
      ),
    ].sort();
    decodedVersions.set(key, names);
  }
  return names;
}

interface Subscription {
  names: string[];
  versionInfo: string;
  nonce: string;
}

class ProxylessStream {
  private readonly subscriptions = new Map<string, Subscription>();
  synced = false;
  /** The RouteConfiguration version the stream held at `arm`. */
  armedRouteVersion = '';
  arrival: bigint | undefined;
  bytesSinceArm = 0;

  constructor(
    private readonly call: AdsCall,
    node: Json,
    domain: string,
  ) {
    call.on('data', (bytes: Buffer) => this.onResponse(process.hrtime.bigint(), bytes));
    call.on('error', (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) streamErrors++;
    });
    this.subscribe(TYPE_URLS.listener, [domain], node);
  }

  get routeVersion(): string {
    return this.subscriptions.get(TYPE_URLS.route)?.versionInfo ?? '';
  }

  private subscribe(typeUrl: string, names: string[], node?: Json): void {
    const subscription = this.subscriptions.get(typeUrl) ?? { names: [], versionInfo: '', nonce: '' };
    subscription.names = names;
    this.subscriptions.set(typeUrl, subscription);
    this.call.write({
      ...(node ? { node } : {}),
      typeUrl,
      resourceNames: names,
      versionInfo: subscription.versionInfo,
      responseNonce: subscription.nonce,
    });
  }

  private onResponse(at: bigint, bytes: Buffer): void {
    const response = responseType.decode(bytes) as unknown as RawResponse;
    if (armed) {
      this.bytesSinceArm += bytes.length;
      const type = shortName(response.typeUrl);
      responsesSinceArm[type] = (responsesSinceArm[type] ?? 0) + 1;
    }
    const subscription = this.subscriptions.get(response.typeUrl);
    if (!subscription) return;
    subscription.versionInfo = response.versionInfo;
    subscription.nonce = response.nonce;
    this.subscribe(response.typeUrl, subscription.names);
    const next = FOLLOWS.get(response.typeUrl);
    if (next) {
      const names = referencesOfResponse(response);
      if (names.join('\n') !== this.subscriptions.get(next)?.names.join('\n')) this.subscribe(next, names);
    }
    if (response.typeUrl === TYPE_URLS.endpoint) this.synced = true;
    const changedRoute =
      response.typeUrl === TYPE_URLS.route && response.versionInfo !== this.armedRouteVersion;
    if (armed && changedRoute && this.arrival === undefined) this.arrival = at;
    waiting?.();
  }

  cancel(): void {
    this.call.cancel();
  }
}

function reply(message: ClientsReply): void {
  process.send?.(message);
}

/** Runs `finish` once: when `done()` holds after some stream event, or after `timeoutMs`. */
function until(done: () => boolean, timeoutMs: number, finish: (timedOut: boolean) => void): void {
  const timer = setTimeout(() => settle(true), timeoutMs);
  const settle = (timedOut: boolean) => {
    clearTimeout(timer);
    waiting = undefined;
    finish(timedOut);
  };
  waiting = () => done() && settle(false);
  waiting();
}

function open(command: Extract<ClientsCommand, { cmd: 'open' }>): void {
  const Client = adsClientConstructor();
  const started = Date.now();
  for (let i = 0; i < command.streams; i++) {
    // A local subchannel pool and a distinct option per channel: one connection per client, as separate processes have.
    const client = new Client(command.address, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.channel_id': i,
    });
    clients.push(client);
    const node = {
      id: `proxyless-${i}`,
      cluster: 'bench',
      metadata: { fields: { role: { stringValue: command.role } } },
      userAgentName: 'sluice-bench-proxyless',
      clientFeatures: ['envoy.lb.does_not_support_overprovisioning'],
    };
    streams.push(new ProxylessStream(client.StreamAggregatedResources(), node, command.domain));
  }
  const synced = () => streams.filter((stream) => stream.synced).length;
  until(
    () => synced() === streams.length,
    command.timeoutMs,
    (timedOut) =>
      reply({
        ev: 'opened',
        ok: !timedOut,
        synced: synced(),
        elapsedMs: Date.now() - started,
        error: timedOut
          ? `${synced()}/${streams.length} streams synced; ${streamErrors} stream errors`
          : undefined,
      }),
  );
}

/** One real @grpc/grpc-js-xds channel (its own bootstrap, so its own XdsClient) calling a method. */
function check(command: Extract<ClientsCommand, { cmd: 'check' }>): void {
  registerXdsResolver();
  const bootstrap = JSON.stringify({
    xds_servers: [{ server_uri: command.address, channel_creds: [{ type: 'insecure' }] }],
    node: { id: CHECK_NODE_ID, locality: {}, metadata: { role: command.role } },
  });
  const client = new grpc.Client(command.target, grpc.credentials.createInsecure(), {
    'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap,
  });
  clients.push(client);
  const started = Date.now();
  client.makeUnaryRequest(
    command.methodPath,
    () => Buffer.alloc(0),
    (bytes: Buffer) => bytes,
    {},
    new grpc.Metadata({ waitForReady: true }),
    { deadline: Date.now() + command.timeoutMs },
    (error) => reply({ ev: 'checked', ok: !error, elapsedMs: Date.now() - started, error: error?.message }),
  );
}

function arm(): void {
  for (const key of Object.keys(responsesSinceArm)) delete responsesSinceArm[key];
  armed = true;
  cpuAtArm = process.cpuUsage();
  for (const stream of streams) {
    stream.armedRouteVersion = stream.routeVersion;
    stream.arrival = undefined;
    stream.bytesSinceArm = 0;
  }
  reply({ ev: 'armed' });
}

function collect(timeoutMs: number): void {
  until(
    () => streams.every((stream) => stream.arrival !== undefined),
    timeoutMs,
    () => {
      const { user, system } = process.cpuUsage(cpuAtArm);
      reply({
        ev: 'arrivals',
        arrivals: streams.map((stream) => stream.arrival?.toString() ?? ''),
        bytes: streams.map((stream) => stream.bytesSinceArm),
        responses: { ...responsesSinceArm },
        cpuMs: (user + system) / 1000,
      });
      armed = false;
    },
  );
}

function close(): void {
  for (const stream of streams) stream.cancel();
  for (const client of clients) client.close();
  reply({ ev: 'closed', streamErrors });
  setTimeout(() => process.exit(0), 50);
}

if (require.main === module) {
  process.on('message', (command: ClientsCommand) => {
    if (command.cmd === 'open') open(command);
    else if (command.cmd === 'check') check(command);
    else if (command.cmd === 'arm') arm();
    else if (command.cmd === 'collect') collect(command.timeoutMs);
    else close();
  });
  process.on('disconnect', () => process.exit(0));
}

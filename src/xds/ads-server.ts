import { createHash } from 'crypto';
import { EventEmitter } from 'events';
import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../logger';
import { envoyRoot } from './envoy-protos';
import type { XdsResource, XdsSnapshot } from './resources';
import {
  proxyKeyOf,
  type NodeLike,
  type SnapshotCache,
  type SnapshotChange,
  type TypeChanges,
} from './snapshot-cache';
import { PUSH_ORDER, TYPE_URLS, type TypeUrl } from './type-urls';
import { isLoopbackAddress, roleBindingProblem, type XdsTls } from './xds-tls';

export type XdsMode = 'sotw' | 'delta';

/** A response the client accepted. */
export interface XdsAckEvent {
  readonly proxyKey: string;
  readonly nodeId: string;
  readonly mode: XdsMode;
  readonly typeUrl: string;
  readonly nonce: string;
  /** SotW: the version the client now runs. Delta: '' (delta versions are per resource). */
  readonly versionInfo: string;
  /** The resources carried by the acknowledged response. */
  readonly resourceNames: readonly string[];
}

/** A response the client rejected (it keeps its previous config). */
export interface XdsNackEvent extends XdsAckEvent {
  /** SotW: the version the client still runs (its last accepted one, as it reports it). */
  readonly versionInfo: string;
  /** SotW: the version_info of the rejected response. */
  readonly rejectedVersion: string | undefined;
  /** The resources carried by the rejected response (empty when the nonce is unknown). */
  readonly resourceNames: readonly string[];
  readonly errorDetail: { readonly code: number; readonly message: string };
}

export interface AdsServerOptions {
  cache: SnapshotCache;
  metrics: Metrics;
  logger: Logger;
  /** How long `stop()` lets streams close before forcing the server down (default 1000 ms). */
  shutdownGraceMs?: number;
  /** Sent as `control_plane.identifier` on every response (default `sluice`). */
  controlPlaneId?: string;
  /** TLS or mTLS (`loadXdsTls`), with optional role binding; plaintext when absent. */
  tls?: XdsTls;
  serverOptions?: grpc.ServerOptions;
  /**
   * Bytes of responses written but not yet sent out that the server allows before it holds further
   * streams back (default 64 MiB): bounds memory when many streams need large responses at once
   * (e.g. every proxy reconnecting). Streams that stall stop counting (see `stalledWriteMs`).
   */
  writeBudgetBytes?: number;
  /**
   * A stream whose writes have been out this long (default 1000 ms) is stalled (its proxy does not
   * read): its bytes stop counting against the write budget, so stuck proxies cannot hold up others.
   */
  stalledWriteMs?: number;
  /**
   * Applied to a NACK's message before it is logged or handed to listeners: a proxy may quote the config
   * it refused, credentials included (Envoy's validation errors do). Default: the message as it came.
   */
  redact?: (text: string) => string;
}

/** What the admin endpoint can show about one open stream. */
export interface AdsStreamInfo {
  readonly proxyKey: string | undefined;
  readonly nodeId: string;
  readonly peer: string;
  readonly mode: XdsMode;
  readonly types: ReadonlyArray<{
    readonly typeUrl: string;
    readonly wildcard: boolean;
    readonly resourceNames: readonly string[];
    /** SotW: version_info of the latest response sent. */
    readonly sentVersion?: string;
    /** SotW: the latest version the client acknowledged. */
    readonly ackedVersion?: string;
    /** Delta: name -> version the client is believed to hold. */
    readonly resourceVersions?: Readonly<Record<string, string>>;
    readonly lastNack?: { readonly nonce: string; readonly message: string };
  }>;
}

// ---------------------------------------------------------------------------------------------
// Wire format. Requests are decoded with protobufjs. A response is serialized once into a
// `SharedMessage` (envelope + pre-encoded `resources` entries) and the same Buffer is written to
// every stream that gets identical content: the nonce is part of the shared bytes, and a stream
// only ever takes a message whose nonce is newer than the last one it was sent (see
// `AdsServer.message`), so nonces stay unique per stream. Protobuf concatenation is a merge and
// repeated fields append, so `encode(envelope) ++ entry(r1) ++ entry(r2)` is exactly the encoding
// of the response holding r1 and r2.
// ---------------------------------------------------------------------------------------------

/** One serialized response, possibly shared by many streams. */
interface SharedMessage {
  /** Position of the nonce in the server's nonce sequence (monotonic). */
  readonly seq: number;
  readonly nonce: string;
  readonly bytes: Buffer;
}

interface StatusMessage {
  code?: number;
  message?: string;
}

/** envoy.service.discovery.v3.DiscoveryRequest as protobufjs decodes it. */
interface SotwRequestMessage {
  versionInfo?: string;
  node?: NodeLike | null;
  resourceNames?: string[];
  typeUrl?: string;
  responseNonce?: string;
  errorDetail?: StatusMessage | null;
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest as protobufjs decodes it. */
interface DeltaRequestMessage {
  node?: NodeLike | null;
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string> | null;
  responseNonce?: string;
  errorDetail?: StatusMessage | null;
}

interface AdsProtos {
  servicePath: string;
  /** Builds a google.protobuf.Any (its field names come from protobufjs' bundled descriptor: `type_url`). */
  any(typeUrl: string, value: Uint8Array): Record<string, unknown>;
  discoveryRequest: protobuf.Type;
  discoveryResponse: protobuf.Type;
  deltaRequest: protobuf.Type;
  deltaResponse: protobuf.Type;
}

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
let protos: AdsProtos | undefined;

function adsProtos(): AdsProtos {
  if (!protos) {
    const service = envoyRoot().lookupService(ADS_SERVICE);
    const sotw = service.methods.StreamAggregatedResources;
    const delta = service.methods.DeltaAggregatedResources;
    sotw.resolve();
    delta.resolve();
    if (!sotw.resolvedRequestType || !sotw.resolvedResponseType) {
      throw new Error(`${ADS_SERVICE}.StreamAggregatedResources did not resolve`);
    }
    if (!delta.resolvedRequestType || !delta.resolvedResponseType) {
      throw new Error(`${ADS_SERVICE}.DeltaAggregatedResources did not resolve`);
    }
    const anyType = envoyRoot().lookupType('google.protobuf.Any');
    const typeUrlField = anyType.fieldsById[1]?.name;
    const valueField = anyType.fieldsById[2]?.name;
    if (!typeUrlField || !valueField) throw new Error('google.protobuf.Any has no type_url/value fields');
    protos = {
      servicePath: `/${service.fullName.replace(/^\./, '')}`,
      any: (typeUrl, value) => ({ [typeUrlField]: typeUrl, [valueField]: value }),
      discoveryRequest: sotw.resolvedRequestType,
      discoveryResponse: sotw.resolvedResponseType,
      deltaRequest: delta.resolvedRequestType,
      deltaResponse: delta.resolvedResponseType,
    };
  }
  return protos;
}

/** Responses are serialized before they are written: grpc-js gets the shared bytes as they are. */
function passThrough(bytes: Buffer): Buffer {
  return bytes;
}

function serviceDefinition(): grpc.ServiceDefinition {
  const p = adsProtos();
  const encoder = (type: protobuf.Type) => (message: object) => Buffer.from(type.encode(message).finish());
  return {
    StreamAggregatedResources: {
      path: `${p.servicePath}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: encoder(p.discoveryRequest),
      requestDeserialize: (bytes: Buffer) => p.discoveryRequest.decode(bytes) as SotwRequestMessage,
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
    DeltaAggregatedResources: {
      path: `${p.servicePath}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: encoder(p.deltaRequest),
      requestDeserialize: (bytes: Buffer) => p.deltaRequest.decode(bytes) as DeltaRequestMessage,
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
  };
}

function encodeMessage(
  type: protobuf.Type,
  envelope: Record<string, unknown>,
  parts: readonly Uint8Array[],
): Buffer {
  const head = type.encode(envelope).finish();
  if (parts.length === 0) return Buffer.from(head.buffer, head.byteOffset, head.length);
  return Buffer.concat([head, ...parts]);
}

/** `resources` entry (DiscoveryResponse field 2, an Any) of one resource, built once per version. */
const sotwEntries = new WeakMap<XdsResource, Uint8Array>();
/** `resources` entry (DeltaDiscoveryResponse field 2, a Resource) of one resource version. */
const deltaEntries = new WeakMap<XdsResource, Uint8Array>();

function sotwEntry(resource: XdsResource): Uint8Array {
  let entry = sotwEntries.get(resource);
  if (!entry) {
    const p = adsProtos();
    entry = p.discoveryResponse.encode({ resources: [p.any(resource.typeUrl, resource.bytes)] }).finish();
    sotwEntries.set(resource, entry);
  }
  return entry;
}

function deltaEntry(resource: XdsResource): Uint8Array {
  let entry = deltaEntries.get(resource);
  if (!entry) {
    const p = adsProtos();
    const wrapped = {
      name: resource.name,
      version: resource.version,
      resource: p.any(resource.typeUrl, resource.bytes),
    };
    entry = p.deltaResponse.encode({ resources: [wrapped] }).finish();
    deltaEntries.set(resource, entry);
  }
  return entry;
}

/** Identifies a list of resource versions (the content of a partial or delta response). */
function contentKey(resources: readonly XdsResource[]): string {
  let key = '';
  for (const resource of resources) key += `${resource.name}\u0000${resource.version}\n`;
  return key;
}

// ---------------------------------------------------------------------------------------------
// SotW versions. version_info identifies the complete state a stream should hold for a type (every
// subscribed resource that exists, with its version), even when the response carries only the
// resources that changed (RDS, EDS). It is an additive set hash: 128 bits in four 32-bit lanes,
// the lane-wise sum (mod 2^32) of sha256(name, version) over the set. It does not depend on order,
// is the same for the same set however it was reached, and is updated in O(1) when one resource
// changes, so a one-resource change costs O(1) per stream however many names the stream holds.
// ---------------------------------------------------------------------------------------------

type Lanes = Uint32Array;

const resourceHashes = new WeakMap<XdsResource, Lanes>();

function resourceHash(resource: XdsResource): Lanes {
  let lanes = resourceHashes.get(resource);
  if (!lanes) {
    const digest = createHash('sha256').update(`${resource.name}\u0000${resource.version}`).digest();
    lanes = new Uint32Array([
      digest.readUInt32BE(0),
      digest.readUInt32BE(4),
      digest.readUInt32BE(8),
      digest.readUInt32BE(12),
    ]);
    resourceHashes.set(resource, lanes);
  }
  return lanes;
}

function addLanes(into: Lanes, lanes: Lanes): void {
  for (let i = 0; i < 4; i++) into[i] = (into[i] + lanes[i]) >>> 0;
}

function subtractLanes(into: Lanes, lanes: Lanes): void {
  for (let i = 0; i < 4; i++) into[i] = (into[i] - lanes[i]) >>> 0;
}

function lanesVersion(lanes: Lanes): string {
  let out = '';
  for (let i = 0; i < 4; i++) out += lanes[i].toString(16).padStart(8, '0');
  return out;
}

/** version_info of a SotW response holding exactly `resources` (any order). */
export function sotwVersionOf(resources: Iterable<XdsResource>): string {
  const lanes = new Uint32Array(4);
  for (const resource of resources) addLanes(lanes, resourceHash(resource));
  return lanesVersion(lanes);
}

/**
 * The complete SotW response body for one subscription against one per-type map: shared by every
 * stream with the same subscription, computed once per (map, subscription).
 */
interface SotwBody {
  readonly id: number;
  readonly version: string;
  readonly lanes: Lanes;
  readonly names: readonly string[];
  readonly bytes: Buffer;
}

const sotwBodies = new WeakMap<ReadonlyMap<string, XdsResource>, Map<string, SotwBody>>();
const WILDCARD_SIGNATURE = '*';
let bodyIds = 0;

function byName(a: XdsResource, b: XdsResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function sotwBody(
  typeMap: ReadonlyMap<string, XdsResource>,
  signature: string,
  sortedNames: readonly string[],
): SotwBody {
  let bodies = sotwBodies.get(typeMap);
  if (!bodies) {
    bodies = new Map();
    sotwBodies.set(typeMap, bodies);
  }
  let body = bodies.get(signature);
  if (!body) {
    let resources: XdsResource[];
    if (signature === WILDCARD_SIGNATURE) {
      resources = [...typeMap.values()].sort(byName);
    } else {
      resources = [];
      for (const name of sortedNames) {
        const resource = typeMap.get(name);
        if (resource) resources.push(resource);
      }
    }
    const lanes = new Uint32Array(4);
    for (const resource of resources) addLanes(lanes, resourceHash(resource));
    body = {
      id: ++bodyIds,
      version: lanesVersion(lanes),
      lanes,
      names: resources.map((r) => r.name),
      bytes: Buffer.concat(resources.map(sotwEntry)),
    };
    bodies.set(signature, body);
  }
  return body;
}

const unions = new WeakMap<
  ReadonlyMap<string, XdsResource>,
  WeakMap<ReadonlyMap<string, XdsResource>, ReadonlyMap<string, XdsResource>>
>();

/**
 * `current` plus the resources of `held` that `current` no longer has: what a client keeps while
 * the removal of clusters and endpoints waits for the listeners and routes that used them. Memoized
 * per (held, current), so streams that were in the same state share it (and its bodies).
 */
function unionOf(
  held: ReadonlyMap<string, XdsResource>,
  current: ReadonlyMap<string, XdsResource>,
): ReadonlyMap<string, XdsResource> {
  let byCurrent = unions.get(held);
  if (!byCurrent) {
    byCurrent = new WeakMap();
    unions.set(held, byCurrent);
  }
  let union = byCurrent.get(current);
  if (!union) {
    const merged = new Map(current);
    for (const [name, resource] of held) if (!merged.has(name)) merged.set(name, resource);
    union = merged;
    byCurrent.set(current, union);
  }
  return union;
}

// ---------------------------------------------------------------------------------------------
// Pushes. A snapshot change is queued on every stream of its proxy key (O(1) per stream); streams
// fold the queued changes into per-type "dirty" names and flush them in batches, yielding to the
// event loop between batches. A stream writes only when all its earlier writes have left (their
// write callbacks ran): while it is backed up, changes keep folding into the dirty names and the
// stream later sends only the newest state. One flush sends, in make-before-break order (CDS, EDS,
// LDS, RDS, then deferred removals), everything that changed since the previous flush. Server-wide,
// the bytes written and not yet out are bounded (`writeBudgetBytes`): past it, streams wait their
// turn, except that streams stalled on a proxy that does not read stop counting.
// ---------------------------------------------------------------------------------------------

const EMPTY_TYPE: ReadonlyMap<string, XdsResource> = new Map();
const EMPTY_NAMES: ReadonlySet<string> = new Set();

/** LDS and CDS: SotW responses carry the complete set, and an empty first request is a wildcard. */
const COMPLETE_SET_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.listener, TYPE_URLS.cluster]);

/** Types whose removals wait until the listeners and routes that used them have been updated. */
const DEFERRED_REMOVAL_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.cluster, TYPE_URLS.endpoint]);

/** A snapshot change as queued on streams. */
interface QueuedChange {
  readonly change: SnapshotChange;
  /**
   * The change touches other types than clusters and endpoints: clusters and endpoints it removes
   * stay until the listeners and routes that stopped using them have been sent.
   */
  readonly deferRemovals: boolean;
}

function queuedChange(change: SnapshotChange): QueuedChange {
  let deferRemovals = false;
  for (const type of change.changes.keys()) if (!DEFERRED_REMOVAL_TYPES.has(type)) deferRemovals = true;
  return { change, deferRemovals };
}

function typeOrder(types: Iterable<string>): string[] {
  const present = new Set(types);
  const ordered: string[] = PUSH_ORDER.filter((type) => present.has(type));
  for (const type of present) if (!ordered.includes(type)) ordered.push(type);
  return ordered;
}

/** Adds to `into` the names of `changes` that `covers` accepts, iterating the smaller side. */
function addCovered(
  into: Set<string>,
  changes: TypeChanges,
  wildcard: boolean,
  names: ReadonlySet<string>,
): void {
  const total = changes.added.size + changes.changed.size + changes.removed.size;
  if (wildcard || total <= names.size) {
    for (const set of [changes.added, changes.changed, changes.removed]) {
      for (const name of set) if (wildcard || names.has(name)) into.add(name);
    }
  } else {
    for (const name of names) {
      if (changes.added.has(name) || changes.changed.has(name) || changes.removed.has(name)) into.add(name);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

interface StreamHost {
  readonly cache: SnapshotCache;
  readonly log: Logger;
  readonly controlPlane: { readonly identifier: string };
  /**
   * The serialized response under `key`, shared with every other stream sending the same content,
   * with a nonce newer than `afterSeq` (built by `encode` with a fresh nonce when needed).
   */
  message(key: string, afterSeq: number, encode: (nonce: string) => Buffer): SharedMessage;
  /** Flush `stream` in a coming batch. */
  schedule(stream: AdsStream): void;
  /**
   * Whether the server-wide budget of bytes in flight allows `stream` to write now; if not, the
   * stream is flushed again once enough has left.
   */
  mayWrite(stream: AdsStream): boolean;
  /** `bytes` just written by `stream` count against the budget until `released`. */
  wrote(stream: AdsStream, bytes: number): void;
  /** `bytes` of `stream` no longer count (written out, stream closed, or stream stalled). */
  released(stream: AdsStream, bytes: number): void;
  /** Why the stream of `call` may not be keyed by `role` (it is then refused); undefined if it may. */
  refusal(role: string, call: AnyCall): string | undefined;
  register(stream: AdsStream): void;
  unregister(stream: AdsStream): void;
  countPush(typeUrl: string, mode: XdsMode): void;
  ack(event: XdsAckEvent): void;
  nack(event: XdsNackEvent): void;
}

function statusOf(detail: StatusMessage | null | undefined): { code: number; message: string } | undefined {
  if (detail === null || detail === undefined) return undefined;
  return { code: detail.code ?? 0, message: detail.message ?? '' };
}

type AnyCall = grpc.ServerDuplexStream<SotwRequestMessage | DeltaRequestMessage, Buffer>;

abstract class AdsStream {
  proxyKey: string | undefined;
  nodeId = '';
  closed = false;
  readonly peer: string;
  /** Snapshot changes not folded into the subscriptions yet. */
  private queued: QueuedChange[] = [];
  /** Writes whose callback has not run yet: while any is out, nothing more is written. */
  private inflight = 0;
  /** Bytes of those writes that count against the server's budget. */
  countedBytes = 0;
  /** When the oldest write still out was made (performance.now()). */
  writingSince = 0;
  /** Some folded change asked for clusters/endpoints removals to wait (cleared by a flush). */
  protected deferRemovals = false;

  constructor(
    protected readonly host: StreamHost,
    private readonly call: AnyCall,
    readonly mode: XdsMode,
  ) {
    this.peer = safePeer(call);
    call.on('data', (message: SotwRequestMessage | DeltaRequestMessage) => this.onData(message));
    call.on('end', () => {
      // The client half-closed: finish with OK.
      this.cleanup();
      call.end();
    });
    call.on('cancelled', () => this.cleanup());
    call.on('error', (err: Error) => {
      host.log.debug({ err: err.message, peer: this.peer }, 'ADS stream error');
      this.cleanup();
    });
    call.on('close', () => this.cleanup());
  }

  private onData(message: SotwRequestMessage | DeltaRequestMessage): void {
    if (this.closed) return;
    try {
      if (this.proxyKey === undefined) {
        // node is only guaranteed on the first request: the stream is keyed by it once.
        const role = proxyKeyOf(message.node);
        const refusal = this.host.refusal(role, this.call);
        if (refusal !== undefined) {
          this.host.log.warn(
            { role, node: message.node?.id ?? '', peer: this.peer, refusal },
            'ADS stream refused',
          );
          this.close(grpc.status.PERMISSION_DENIED, refusal);
          return;
        }
        this.proxyKey = role;
        this.nodeId = message.node?.id ?? '';
        this.host.register(this);
      }
      this.handle(message);
    } catch (err) {
      this.fail(err, 'ADS request handling failed; closing the stream');
    }
  }

  private fail(err: unknown, what: string): void {
    this.host.log.error({ err, proxy: this.proxyKey, node: this.nodeId }, what);
    this.close(grpc.status.INTERNAL, 'internal error');
  }

  protected snapshot(): XdsSnapshot | undefined {
    return this.proxyKey === undefined ? undefined : this.host.cache.getSnapshot(this.proxyKey);
  }

  protected typeMap(typeUrl: string): ReadonlyMap<string, XdsResource> {
    return this.snapshot()?.get(typeUrl as TypeUrl) ?? EMPTY_TYPE;
  }

  protected write(typeUrl: string, message: SharedMessage): void {
    if (this.closed) return;
    if (this.inflight === 0) this.writingSince = performance.now();
    this.inflight++;
    const bytes = message.bytes.length;
    this.countedBytes += bytes;
    this.host.wrote(this, bytes);
    this.call.write(message.bytes, () => {
      this.inflight--;
      // Callbacks run in order; a stalled stream's bytes may already have been released.
      const release = Math.min(bytes, this.countedBytes);
      this.countedBytes -= release;
      if (release > 0) this.host.released(this, release);
      // Drained: whatever arrived meanwhile goes out now, as one up-to-date flush.
      if (this.inflight === 0 && !this.closed && this.hasWork()) this.host.schedule(this);
    });
    this.host.countPush(typeUrl, this.mode);
  }

  /** Has writes out (their callbacks have not run yet). */
  get writing(): boolean {
    return this.inflight > 0;
  }

  /** Queues a snapshot change of this stream's proxy key (applied by the next flush). */
  enqueue(change: QueuedChange): void {
    if (this.closed) return;
    this.queued.push(change);
    this.host.schedule(this);
  }

  /**
   * Folds queued changes into the subscriptions and, unless earlier writes are still on their way
   * out, sends everything that is due. Called by the server's batches, on requests and on drain.
   */
  flush(): void {
    if (this.closed) return;
    try {
      if (this.queued.length > 0) {
        const queued = this.queued;
        this.queued = [];
        for (const { change, deferRemovals } of queued) {
          if (!change.previous) {
            // The key's first snapshot: every sub-stream is brought up to date.
            this.resyncAll();
          } else {
            for (const [type, changes] of change.changes) this.changed(type, changes);
            if (deferRemovals) this.deferRemovals = true;
          }
        }
      }
      if (this.inflight > 0) return;
      // Before the proxy's first snapshot there is nothing true to say (an empty LDS/CDS answer would
      // delete a reconnecting Envoy's config): wait for it.
      if (!this.snapshot()) return;
      if (!this.due() || !this.host.mayWrite(this)) return;
      this.send();
      this.deferRemovals = false;
    } catch (err) {
      this.fail(err, 'ADS push failed; closing the stream');
    }
  }

  protected hasWork(): boolean {
    return this.queued.length > 0 || this.due();
  }

  /** Ends the stream with a status (the client reconnects). */
  close(code: grpc.status, details: string): void {
    if (this.closed) return;
    this.cleanup();
    const err: Partial<grpc.StatusObject> = { code, details };
    this.call.emit('error', err);
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = [];
    const counted = this.countedBytes;
    this.countedBytes = 0;
    if (counted > 0) this.host.released(this, counted);
    this.host.unregister(this);
  }

  protected abstract handle(message: SotwRequestMessage | DeltaRequestMessage): void;
  /** Marks every sub-stream for a complete update. */
  protected abstract resyncAll(): void;
  /** Marks what `changes` (of one type) touches. */
  protected abstract changed(type: string, changes: TypeChanges): void;
  /** Whether some sub-stream has something to send. */
  protected abstract due(): boolean;
  /** Sends what is due, in make-before-break order. */
  protected abstract send(): void;
  abstract info(): AdsStreamInfo;
}

function safePeer(call: AnyCall): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One type URL of a SotW stream. */
class SotwSub {
  wildcard = false;
  everNamed = false;
  names: ReadonlySet<string> = EMPTY_NAMES;
  /** `resource_names` of the last request, as sent: an identical list is recognized in O(n). */
  private requested: readonly string[] | undefined;
  private sorted: readonly string[] | undefined;
  private signatureText: string | undefined;
  lastNonce: string | undefined;
  /** Sequence number of the last nonce sent (nonces a stream receives only increase). */
  lastSeq = 0;
  sentVersion: string | undefined;
  sentNames: readonly string[] = [];
  ackedVersion: string | undefined;
  lastNack: { nonce: string; message: string } | undefined;

  /** The map the client's state was last brought to (undefined: never). */
  basis: ReadonlyMap<string, XdsResource> | undefined;
  /** RDS/EDS: set hash of the covered resources of `basis` (version_info of that state). */
  lanes: Lanes = new Uint32Array(4);
  /** The next response must be computed from the whole subscription (new or changed subscription). */
  full = true;
  /** Names that may differ between `basis` and the current snapshot. */
  readonly dirty = new Set<string>();

  constructor(readonly typeUrl: string) {}

  get completeSet(): boolean {
    return COMPLETE_SET_TYPES.has(this.typeUrl);
  }

  get sortedNames(): readonly string[] {
    if (!this.sorted) this.sorted = [...this.names].sort();
    return this.sorted;
  }

  get signature(): string {
    if (this.signatureText === undefined) this.signatureText = JSON.stringify(this.sortedNames);
    return this.signatureText;
  }

  covers(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** `resource_names` is the complete set each time. Returns whether the subscription changed. */
  update(resourceNames: readonly string[]): boolean {
    // Most requests are ACKs repeating the same list: recognize it without building anything.
    if (this.requested !== undefined && sameList(this.requested, resourceNames)) return false;
    this.requested = resourceNames;
    let star = false;
    const named = new Set<string>();
    for (const name of resourceNames) {
      if (name === '*') star = true;
      else named.add(name);
    }
    if (named.size > 0) this.everNamed = true;
    const wildcard =
      star || (resourceNames.length === 0 && !this.everNamed && COMPLETE_SET_TYPES.has(this.typeUrl));
    let same = wildcard === this.wildcard && named.size === this.names.size;
    if (same) for (const name of named) if (!this.names.has(name)) same = false;
    if (same) return false;
    this.wildcard = wildcard;
    this.names = named;
    this.sorted = undefined;
    this.signatureText = undefined;
    return true;
  }
}

class SotwStream extends AdsStream {
  private readonly subs = new Map<string, SotwSub>();

  protected handle(message: SotwRequestMessage): void {
    const typeUrl = message.typeUrl ?? '';
    if (typeUrl === '') {
      this.host.log.warn(
        { proxy: this.proxyKey, node: this.nodeId },
        'SotW request without type_url ignored',
      );
      return;
    }
    const nonce = message.responseNonce ?? '';
    let sub = this.subs.get(typeUrl);
    if (sub && nonce !== '' && nonce !== sub.lastNonce) {
      // A response to something older than our latest response: the client will answer that one.
      this.host.log.debug({ proxy: this.proxyKey, typeUrl, nonce }, 'stale SotW request ignored');
      return;
    }
    if (!sub) {
      sub = new SotwSub(typeUrl);
      this.subs.set(typeUrl, sub);
    } else if (nonce !== '') {
      const error = statusOf(message.errorDetail);
      if (error) this.nack(sub, nonce, message.versionInfo ?? '', error);
      else this.ack(sub, nonce, message.versionInfo ?? '');
    }
    // An unchanged subscription needs no answer: changes of the snapshot are pushed anyway.
    if (sub.update(message.resourceNames ?? [])) sub.full = true;
    if (sub.full) this.flush();
  }

  private ack(sub: SotwSub, nonce: string, versionInfo: string): void {
    sub.ackedVersion = versionInfo;
    sub.lastNack = undefined;
    this.host.ack({
      proxyKey: this.proxyKey ?? '',
      nodeId: this.nodeId,
      mode: 'sotw',
      typeUrl: sub.typeUrl,
      nonce,
      versionInfo,
      resourceNames: sub.sentNames,
    });
  }

  private nack(
    sub: SotwSub,
    nonce: string,
    versionInfo: string,
    error: { code: number; message: string },
  ): void {
    // The client keeps its last good config; so do we: ackedVersion stays, nothing is re-sent.
    sub.lastNack = { nonce, message: error.message };
    this.host.nack({
      proxyKey: this.proxyKey ?? '',
      nodeId: this.nodeId,
      mode: 'sotw',
      typeUrl: sub.typeUrl,
      nonce,
      versionInfo,
      rejectedVersion: sub.sentVersion,
      resourceNames: sub.sentNames,
      errorDetail: error,
    });
  }

  protected resyncAll(): void {
    for (const sub of this.subs.values()) sub.full = true;
  }

  protected changed(type: string, changes: TypeChanges): void {
    const sub = this.subs.get(type);
    if (sub) addCovered(sub.dirty, changes, sub.wildcard, sub.names);
  }

  protected due(): boolean {
    for (const sub of this.subs.values()) if (sub.full || sub.dirty.size > 0) return true;
    return false;
  }

  protected send(): void {
    const finals: SotwSub[] = [];
    for (const type of typeOrder(this.subs.keys())) {
      const sub = this.subs.get(type);
      if (!sub || (!sub.full && sub.dirty.size === 0)) continue;
      const current = this.typeMap(type);
      const basis = sub.basis;
      if (this.deferRemovals && basis && DEFERRED_REMOVAL_TYPES.has(type)) {
        // Clusters/endpoints the client holds that are gone: keep them until LDS and RDS are sent.
        const held: string[] = [];
        for (const name of sub.dirty) if (!current.has(name) && basis.has(name)) held.push(name);
        if (held.length > 0) {
          this.respond(sub, unionOf(basis, current));
          for (const name of held) sub.dirty.add(name);
          finals.push(sub);
          continue;
        }
      }
      this.respond(sub, current);
    }
    for (const sub of finals) this.respond(sub, this.typeMap(sub.typeUrl));
  }

  /** Brings the client to `target`: sends what differs from what it was sent, if anything does. */
  private respond(sub: SotwSub, target: ReadonlyMap<string, XdsResource>): void {
    if (sub.full || sub.completeSet || !sub.basis) this.respondComplete(sub, target);
    else this.respondChanged(sub, sub.basis, target);
  }

  /** The whole subscribed set (always for LDS/CDS; RDS/EDS when the subscription is new or changed). */
  private respondComplete(sub: SotwSub, target: ReadonlyMap<string, XdsResource>): void {
    const body = sotwBody(target, sub.wildcard ? WILDCARD_SIGNATURE : sub.signature, sub.sortedNames);
    sub.basis = target;
    sub.full = false;
    sub.dirty.clear();
    if (!sub.completeSet) sub.lanes = Uint32Array.from(body.lanes);
    if (sub.sentVersion === undefined) {
      // RDS/EDS names that do not exist (yet): say nothing, send them when they appear.
      if (body.names.length === 0 && !sub.completeSet) return;
    } else if (body.version === sub.sentVersion) {
      return;
    }
    this.emit(sub, body.version, `B${body.id}`, [body.bytes], body.names);
  }

  /**
   * RDS/EDS (and other types that may be sent as subsets): only the dirty names that differ from
   * `basis`, with the version_info of the whole state, updated incrementally.
   */
  private respondChanged(
    sub: SotwSub,
    basis: ReadonlyMap<string, XdsResource>,
    target: ReadonlyMap<string, XdsResource>,
  ): void {
    const resources: XdsResource[] = [];
    for (const name of sub.dirty) {
      if (!sub.covers(name)) continue;
      const before = basis.get(name);
      const after = target.get(name);
      if (before === after || (before && after && before.version === after.version)) continue;
      if (before) subtractLanes(sub.lanes, resourceHash(before));
      if (after) {
        addLanes(sub.lanes, resourceHash(after));
        resources.push(after);
      }
    }
    sub.basis = target;
    sub.dirty.clear();
    const version = lanesVersion(sub.lanes);
    if (version === sub.sentVersion) return;
    // Nothing was ever sent and nothing exists yet: keep waiting.
    if (sub.sentVersion === undefined && resources.length === 0) return;
    resources.sort(byName);
    this.emit(
      sub,
      version,
      `P${contentKey(resources)}`,
      resources.map(sotwEntry),
      resources.map((r) => r.name),
    );
  }

  private emit(
    sub: SotwSub,
    version: string,
    content: string,
    parts: readonly Uint8Array[],
    names: readonly string[],
  ): void {
    const typeUrl = sub.typeUrl;
    const message = this.host.message(
      `S\u0000${typeUrl}\u0000${version}\u0000${content}`,
      sub.lastSeq,
      (nonce) =>
        encodeMessage(
          adsProtos().discoveryResponse,
          { versionInfo: version, typeUrl, nonce, controlPlane: this.host.controlPlane },
          parts,
        ),
    );
    sub.lastSeq = message.seq;
    sub.lastNonce = message.nonce;
    sub.sentVersion = version;
    sub.sentNames = names;
    this.write(typeUrl, message);
  }

  info(): AdsStreamInfo {
    return {
      proxyKey: this.proxyKey,
      nodeId: this.nodeId,
      peer: this.peer,
      mode: this.mode,
      types: [...this.subs.values()].map((sub) => ({
        typeUrl: sub.typeUrl,
        wildcard: sub.wildcard,
        resourceNames: sub.sortedNames,
        sentVersion: sub.sentVersion,
        ackedVersion: sub.ackedVersion,
        lastNack: sub.lastNack,
      })),
    };
  }
}

/** Responses a delta client has not answered yet are remembered (bounded) to name them on ACK/NACK. */
const MAX_OUTSTANDING = 64;

/** One type URL of a delta stream. */
class DeltaSub {
  wildcard = false;
  readonly names = new Set<string>();
  /** What the client holds: name -> version, or null when we told it the name does not exist. */
  readonly known = new Map<string, string | null>();
  readonly outstanding = new Map<string, readonly string[]>();
  lastNack: { nonce: string; message: string } | undefined;
  /** Sequence number of the last nonce sent (nonces a stream receives only increase). */
  lastSeq = 0;
  /** Names to reconcile with the snapshot at the next flush. */
  dirty = new Set<string>();
  /** Reconcile every name (first request, new wildcard, the key's first snapshot). */
  everything = false;
  /** Send a response even if empty (a first wildcard request waits for one). */
  always = false;

  constructor(readonly typeUrl: string) {}

  covers(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  /** The names sent in the response with this nonce; forgets it and every earlier one. */
  take(nonce: string): readonly string[] | undefined {
    const names = this.outstanding.get(nonce);
    if (names === undefined) return undefined;
    for (const key of [...this.outstanding.keys()]) {
      this.outstanding.delete(key);
      if (key === nonce) break;
    }
    return names;
  }

  remember(nonce: string, names: readonly string[]): void {
    this.outstanding.set(nonce, names);
    if (this.outstanding.size > MAX_OUTSTANDING) {
      const oldest = this.outstanding.keys().next().value;
      if (oldest !== undefined) this.outstanding.delete(oldest);
    }
  }
}

class DeltaStream extends AdsStream {
  private readonly subs = new Map<string, DeltaSub>();

  protected handle(message: DeltaRequestMessage): void {
    const typeUrl = message.typeUrl ?? '';
    if (typeUrl === '') {
      this.host.log.warn(
        { proxy: this.proxyKey, node: this.nodeId },
        'delta request without type_url ignored',
      );
      return;
    }
    let sub = this.subs.get(typeUrl);
    const first = sub === undefined;
    if (!sub) {
      sub = new DeltaSub(typeUrl);
      this.subs.set(typeUrl, sub);
    }
    const nonce = message.responseNonce ?? '';
    const error = statusOf(message.errorDetail);
    if (nonce !== '' || error) {
      const names = nonce !== '' ? sub.take(nonce) : undefined;
      if (error) this.nack(sub, nonce, names ?? [], error);
      else if (names) this.ack(sub, nonce, names);
    }

    // Subscriptions apply whatever the nonce.
    const subscribe = message.resourceNamesSubscribe ?? [];
    const unsubscribe = message.resourceNamesUnsubscribe ?? [];
    const candidates = new Set<string>();
    let everything = first;
    for (const name of subscribe) {
      if (name === '*') {
        if (!sub.wildcard) everything = true;
        sub.wildcard = true;
      } else {
        sub.names.add(name);
        candidates.add(name);
      }
    }
    if (first && subscribe.length === 0 && COMPLETE_SET_TYPES.has(typeUrl)) sub.wildcard = true;
    for (const name of unsubscribe) {
      if (name === '*') {
        sub.wildcard = false;
        for (const known of [...sub.known.keys()]) if (!sub.names.has(known)) sub.known.delete(known);
      } else {
        sub.names.delete(name);
        candidates.delete(name);
        sub.dirty.delete(name);
        // The client drops it; if it subscribes again it must get it again.
        if (!sub.wildcard) sub.known.delete(name);
      }
    }
    if (first) {
      const initial = message.initialResourceVersions ?? {};
      for (const name of Object.keys(initial)) {
        if (sub.covers(name)) sub.known.set(name, initial[name]);
      }
    }

    if (everything) sub.everything = true;
    else for (const name of candidates) sub.dirty.add(name);
    if (first && sub.wildcard) sub.always = true;
    if (sub.everything || sub.dirty.size > 0 || sub.always) this.flush();
  }

  private allNames(sub: DeltaSub, typeMap: ReadonlyMap<string, XdsResource>): Set<string> {
    const names = new Set<string>(sub.names);
    if (sub.wildcard) for (const name of typeMap.keys()) names.add(name);
    for (const name of sub.known.keys()) names.add(name);
    return names;
  }

  private ack(sub: DeltaSub, nonce: string, names: readonly string[]): void {
    sub.lastNack = undefined;
    this.host.ack({
      proxyKey: this.proxyKey ?? '',
      nodeId: this.nodeId,
      mode: 'delta',
      typeUrl: sub.typeUrl,
      nonce,
      versionInfo: '',
      resourceNames: names,
    });
  }

  private nack(
    sub: DeltaSub,
    nonce: string,
    names: readonly string[],
    error: { code: number; message: string },
  ): void {
    // `known` keeps the rejected versions: nothing is re-sent until those resources change again.
    sub.lastNack = { nonce, message: error.message };
    this.host.nack({
      proxyKey: this.proxyKey ?? '',
      nodeId: this.nodeId,
      mode: 'delta',
      typeUrl: sub.typeUrl,
      nonce,
      versionInfo: '',
      rejectedVersion: undefined,
      resourceNames: names,
      errorDetail: error,
    });
  }

  protected resyncAll(): void {
    for (const sub of this.subs.values()) {
      sub.everything = true;
      if (sub.wildcard) sub.always = true;
    }
  }

  protected changed(type: string, changes: TypeChanges): void {
    const sub = this.subs.get(type);
    if (sub && !sub.everything) addCovered(sub.dirty, changes, sub.wildcard, sub.names);
  }

  protected due(): boolean {
    for (const sub of this.subs.values()) if (sub.everything || sub.always || sub.dirty.size > 0) return true;
    return false;
  }

  protected send(): void {
    const finals: DeltaSub[] = [];
    for (const type of typeOrder(this.subs.keys())) {
      const sub = this.subs.get(type);
      if (!sub || (!sub.everything && !sub.always && sub.dirty.size === 0)) continue;
      const typeMap = this.typeMap(type);
      const names = sub.everything ? this.allNames(sub, typeMap) : sub.dirty;
      const always = sub.always;
      sub.dirty = new Set();
      sub.everything = false;
      sub.always = false;
      const hold = this.deferRemovals && DEFERRED_REMOVAL_TYPES.has(type);
      const held = this.reconcile(sub, typeMap, names, always, hold);
      if (held.length > 0) {
        for (const name of held) sub.dirty.add(name);
        finals.push(sub);
      }
    }
    for (const sub of finals) {
      const names = sub.dirty;
      sub.dirty = new Set();
      this.reconcile(sub, this.typeMap(sub.typeUrl), names, false, false);
    }
  }

  /**
   * Sends, for the given names, whatever differs between the snapshot and what the client holds:
   * new or changed resources, and `removed_resources` for deleted names and subscribed names that
   * do not exist. `always` sends even an empty response. With `hold`, resources the client holds
   * that are gone are not removed yet: their names are returned, to be removed by a later call.
   */
  private reconcile(
    sub: DeltaSub,
    typeMap: ReadonlyMap<string, XdsResource>,
    names: Iterable<string>,
    always: boolean,
    hold: boolean,
  ): string[] {
    const resources: XdsResource[] = [];
    const removed: string[] = [];
    const held: string[] = [];
    for (const name of names) {
      const explicit = sub.names.has(name);
      if (!explicit && !sub.wildcard) {
        sub.known.delete(name);
        continue;
      }
      const resource = typeMap.get(name);
      const version = sub.known.get(name);
      if (resource) {
        if (version !== resource.version) {
          resources.push(resource);
          sub.known.set(name, resource.version);
        }
      } else if (version === undefined ? explicit : version !== null) {
        if (hold && typeof version === 'string') {
          held.push(name);
          continue;
        }
        removed.push(name);
        if (explicit) sub.known.set(name, null);
        else sub.known.delete(name);
      }
    }
    if (resources.length === 0 && removed.length === 0 && !always) return held;
    resources.sort(byName);
    removed.sort();
    const typeUrl = sub.typeUrl;
    const key = `D\u0000${typeUrl}\u0000${removed.join('\u0000')}\u0000${contentKey(resources)}`;
    const message = this.host.message(key, sub.lastSeq, (nonce) =>
      encodeMessage(
        adsProtos().deltaResponse,
        { typeUrl, removedResources: removed, nonce, controlPlane: this.host.controlPlane },
        resources.map(deltaEntry),
      ),
    );
    sub.lastSeq = message.seq;
    sub.remember(
      message.nonce,
      resources.map((r) => r.name),
    );
    this.write(typeUrl, message);
    return held;
  }

  info(): AdsStreamInfo {
    return {
      proxyKey: this.proxyKey,
      nodeId: this.nodeId,
      peer: this.peer,
      mode: this.mode,
      types: [...this.subs.values()].map((sub) => {
        const versions: Record<string, string> = {};
        for (const [name, version] of sub.known) if (version !== null) versions[name] = version;
        return {
          typeUrl: sub.typeUrl,
          wildcard: sub.wildcard,
          resourceNames: [...sub.names].sort(),
          resourceVersions: versions,
          lastNack: sub.lastNack,
        };
      }),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/** A push batch runs for at most this long before yielding to the event loop. */
const BATCH_BUDGET_MS = 5;
/** Default of `AdsServerOptions.writeBudgetBytes`. */
const DEFAULT_WRITE_BUDGET_BYTES = 64 * 1024 * 1024;
/** Default of `AdsServerOptions.stalledWriteMs`. */
const DEFAULT_STALLED_WRITE_MS = 1000;
/** Shared serialized responses kept (they are also dropped on every snapshot change). */
const MAX_SHARED_MESSAGES = 1024;
const MAX_SHARED_BYTES = 64 * 1024 * 1024;

/**
 * Envoy's Aggregated Discovery Service (state of the world and delta) over the snapshots of a
 * SnapshotCache. Streams are keyed by the node `role` of their first request; a snapshot change is
 * pushed only to the streams of that proxy key whose subscriptions it touches, in CDS, EDS, LDS,
 * RDS order, in batches that yield to the event loop; a stream whose earlier responses have not
 * left yet gets only the newest state once they have.
 */
export class AdsServer {
  private readonly cache: SnapshotCache;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly tls: XdsTls | undefined;
  private readonly serverOptions: grpc.ServerOptions;
  private readonly events = new EventEmitter();
  private readonly streams = new Set<AdsStream>();
  private readonly streamsByKey = new Map<string, Set<AdsStream>>();
  private readonly host: StreamHost;
  private server: grpc.Server | undefined;
  private unsubscribe: (() => void) | undefined;
  private nonces = 0;
  /** Streams waiting for a flush, in order. */
  private readonly flushQueue = new Set<AdsStream>();
  private flushScheduled = false;
  private readonly shared = new Map<string, SharedMessage>();
  private sharedBytes = 0;
  private readonly writeBudget: number;
  private readonly stalledWriteMs: number;
  /** Bytes written and not yet out, of streams that are not stalled. */
  private bytesInFlight = 0;
  /** Streams with bytes counted in `bytesInFlight`. */
  private readonly writers = new Set<AdsStream>();
  /** Streams held back by the budget, in order. */
  private readonly waiting = new Set<AdsStream>();
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(options: AdsServerOptions) {
    this.cache = options.cache;
    this.metrics = options.metrics;
    this.log = options.logger;
    this.graceMs = options.shutdownGraceMs ?? 1000;
    this.tls = options.tls;
    this.serverOptions = options.serverOptions ?? {};
    this.writeBudget = options.writeBudgetBytes ?? DEFAULT_WRITE_BUDGET_BYTES;
    this.stalledWriteMs = options.stalledWriteMs ?? DEFAULT_STALLED_WRITE_MS;
    this.events.setMaxListeners(0);
    const controlPlane = { identifier: options.controlPlaneId ?? 'sluice' };
    const redact = options.redact ?? ((text: string) => text);
    this.host = {
      cache: this.cache,
      log: this.log,
      controlPlane,
      message: (key, afterSeq, encode) => this.message(key, afterSeq, encode),
      schedule: (stream) => this.schedule(stream),
      mayWrite: (stream) => this.mayWrite(stream),
      wrote: (stream, bytes) => this.wrote(stream, bytes),
      released: (stream, bytes) => this.released(stream, bytes),
      refusal: (role, call) => this.refusal(role, call),
      register: (stream) => this.register(stream),
      unregister: (stream) => this.unregister(stream),
      countPush: (typeUrl, mode) => this.metrics.pushes.inc({ type_url: typeUrl, mode }),
      ack: (event) => this.emit('ack', event),
      nack: (event) =>
        this.onNackReceived({
          ...event,
          errorDetail: { ...event.errorDetail, message: redact(event.errorDetail.message) },
        }),
    };
  }

  /** Binds `address` (e.g. `127.0.0.1:0`) and serves; resolves to the bound port. */
  async start(address: string): Promise<number> {
    if (this.server) throw new Error('AdsServer already started');
    const server = new grpc.Server(this.serverOptions);
    server.addService(serviceDefinition(), {
      StreamAggregatedResources: (call: AnyCall) => this.accept(new SotwStream(this.host, call, 'sotw')),
      DeltaAggregatedResources: (call: AnyCall) => this.accept(new DeltaStream(this.host, call, 'delta')),
    });
    const port = await new Promise<number>((resolve, reject) => {
      const credentials = this.tls?.credentials ?? grpc.ServerCredentials.createInsecure();
      server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    this.server = server;
    this.unsubscribe = this.cache.subscribe((change) => this.onSnapshotChange(change));
    const transport = this.tls ? (this.tls.mutual ? 'mtls' : 'tls') : 'plaintext';
    this.log.info({ address, port, transport }, 'ADS server listening');
    this.warnIfExposed(address, port);
    return port;
  }

  /** Any client that reaches the port can ask for any proxy's config, secrets included, unless mTLS. */
  private warnIfExposed(address: string, port: number): void {
    if (this.tls?.mutual || isLoopbackAddress(address)) return;
    this.log.warn(
      { address, port },
      this.tls
        ? "xDS over TLS without client certificates on a non-loopback address: any client that reaches it gets any proxy's config, secrets included; set a client CA (--xds-client-ca)"
        : 'xDS in plaintext on a non-loopback address: config and secrets travel unencrypted and any client that reaches it gets them; use --xds-tls-cert, --xds-tls-key and --xds-client-ca',
    );
  }

  private refusal(role: string, call: AnyCall): string | undefined {
    if (!this.tls?.bindRoleToCertificate) return undefined;
    return roleBindingProblem(role, call.getAuthContext().sslPeerCertificate);
  }

  /** Ends every stream (UNAVAILABLE, so clients reconnect elsewhere) and shuts the server down. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const stream of [...this.streams])
      stream.close(grpc.status.UNAVAILABLE, 'control plane shutting down');
    this.flushQueue.clear();
    this.waiting.clear();
    this.clearStallTimer();
    this.clearShared();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  onAck(listener: (event: XdsAckEvent) => void): () => void {
    this.events.on('ack', listener);
    return () => this.events.off('ack', listener);
  }

  onNack(listener: (event: XdsNackEvent) => void): () => void {
    this.events.on('nack', listener);
    return () => this.events.off('nack', listener);
  }

  /** Open ADS streams (both kinds), keyed or not yet. */
  connectedStreams(): number {
    return this.streams.size;
  }

  streamInfo(): AdsStreamInfo[] {
    return [...this.streams].map((stream) => stream.info());
  }

  private accept(stream: AdsStream): void {
    if (!stream.closed) this.streams.add(stream);
  }

  private register(stream: AdsStream): void {
    const key = stream.proxyKey;
    if (key === undefined) return;
    let set = this.streamsByKey.get(key);
    if (!set) {
      set = new Set();
      this.streamsByKey.set(key, set);
    }
    set.add(stream);
    this.metrics.connectedProxies.inc({ proxy: key });
    this.log.info(
      { proxy: key, node: stream.nodeId, peer: stream.peer, mode: stream.mode },
      'ADS stream opened',
    );
  }

  private unregister(stream: AdsStream): void {
    this.streams.delete(stream);
    this.flushQueue.delete(stream);
    this.waiting.delete(stream);
    const key = stream.proxyKey;
    if (key === undefined) return;
    const set = this.streamsByKey.get(key);
    if (set?.delete(stream)) {
      if (set.size === 0) this.streamsByKey.delete(key);
      this.metrics.connectedProxies.dec({ proxy: key });
      this.log.info(
        { proxy: key, node: stream.nodeId, peer: stream.peer, mode: stream.mode },
        'ADS stream closed',
      );
    }
  }

  /** O(streams of the key): the change is queued on each; the batches do the rest. */
  private onSnapshotChange(change: SnapshotChange): void {
    // Shared responses are per state: the old ones will not be sent again.
    this.clearShared();
    const streams = this.streamsByKey.get(change.key);
    if (!streams || streams.size === 0) return;
    const queued = queuedChange(change);
    for (const stream of streams) stream.enqueue(queued);
  }

  private schedule(stream: AdsStream): void {
    if (stream.closed) return;
    this.flushQueue.add(stream);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.runBatch());
    }
  }

  /** Flushes queued streams for up to BATCH_BUDGET_MS, then yields and continues. */
  private runBatch(): void {
    this.flushScheduled = false;
    const started = performance.now();
    for (const stream of this.flushQueue) {
      this.flushQueue.delete(stream);
      stream.flush();
      if (performance.now() - started >= BATCH_BUDGET_MS) break;
    }
    if (this.flushQueue.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.runBatch());
    }
  }

  /** Something may be written (at least one stream at a time, whatever the budget). */
  private underBudget(fraction = 1): boolean {
    return this.bytesInFlight === 0 || this.bytesInFlight < this.writeBudget * fraction;
  }

  private mayWrite(stream: AdsStream): boolean {
    if (this.underBudget()) {
      this.waiting.delete(stream);
      return true;
    }
    this.waiting.add(stream);
    this.armStallTimer();
    return false;
  }

  private wrote(stream: AdsStream, bytes: number): void {
    this.bytesInFlight += bytes;
    this.writers.add(stream);
  }

  private released(stream: AdsStream, bytes: number): void {
    this.bytesInFlight -= bytes;
    if (stream.countedBytes === 0) this.writers.delete(stream);
    // Some hysteresis, so that held-back streams are let go in groups rather than one by one.
    if (this.waiting.size > 0 && this.underBudget(0.75)) this.releaseWaiting();
  }

  private releaseWaiting(): void {
    for (const stream of this.waiting) this.schedule(stream);
    this.waiting.clear();
  }

  /** While streams are held back, looks for stalled writers (every half `stalledWriteMs`). */
  private armStallTimer(): void {
    if (this.stallTimer) return;
    this.stallTimer = setInterval(() => this.releaseStalled(), this.stalledWriteMs / 2);
    this.stallTimer.unref();
  }

  private clearStallTimer(): void {
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.stallTimer = undefined;
  }

  private releaseStalled(): void {
    if (this.waiting.size === 0) {
      this.clearStallTimer();
      return;
    }
    const now = performance.now();
    for (const stream of this.writers) {
      if (stream.writing && now - stream.writingSince < this.stalledWriteMs) continue;
      this.bytesInFlight -= stream.countedBytes;
      stream.countedBytes = 0;
      this.writers.delete(stream);
    }
    if (this.underBudget()) this.releaseWaiting();
  }

  private message(key: string, afterSeq: number, encode: (nonce: string) => Buffer): SharedMessage {
    let message = this.shared.get(key);
    if (!message || message.seq <= afterSeq) {
      const seq = ++this.nonces;
      const nonce = seq.toString(36);
      message = { seq, nonce, bytes: encode(nonce) };
      if (this.shared.size >= MAX_SHARED_MESSAGES || this.sharedBytes >= MAX_SHARED_BYTES) this.clearShared();
      const old = this.shared.get(key);
      if (old) this.sharedBytes -= old.bytes.length;
      this.shared.set(key, message);
      this.sharedBytes += message.bytes.length;
    }
    return message;
  }

  private clearShared(): void {
    this.shared.clear();
    this.sharedBytes = 0;
  }

  private onNackReceived(event: XdsNackEvent): void {
    this.metrics.nacks.inc({ type_url: event.typeUrl, proxy: event.proxyKey });
    this.log.warn(
      {
        proxy: event.proxyKey,
        node: event.nodeId,
        mode: event.mode,
        typeUrl: event.typeUrl,
        nonce: event.nonce,
        resources: event.resourceNames,
        error: event.errorDetail.message,
        code: event.errorDetail.code,
      },
      'xDS config rejected (NACK)',
    );
    this.emit('nack', event);
  }

  private emit(name: 'ack' | 'nack', event: XdsAckEvent): void {
    try {
      this.events.emit(name, event);
    } catch (err) {
      this.log.error({ err, event: name }, 'ADS event listener failed');
    }
  }
}

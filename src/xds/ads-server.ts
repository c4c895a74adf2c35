import { createHash } from 'crypto';
import { EventEmitter } from 'events';
import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import type { Metrics } from '../admin/metrics';
import type { Logger } from '../logger';
import { envoyRoot } from './envoy-protos';
import type { XdsResource, XdsSnapshot } from './resources';
import { proxyKeyOf, type NodeLike, type SnapshotCache, type SnapshotChange } from './snapshot-cache';
import { PUSH_ORDER, TYPE_URLS, type TypeUrl } from './type-urls';

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
  credentials?: grpc.ServerCredentials;
  serverOptions?: grpc.ServerOptions;
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
// Wire format. Requests are decoded with protobufjs; responses are written as a small envelope
// (encoded per stream) followed by pre-encoded `resources` field entries that are built once per
// resource version from `XdsResource.bytes` and shared by every stream. Protobuf concatenation is
// a merge and repeated fields append, so `encode(envelope) ++ entry(r1) ++ entry(r2)` is exactly
// the encoding of the response holding r1 and r2.
// ---------------------------------------------------------------------------------------------

/** A response on its way out: `parts` are already-encoded fields appended after the envelope. */
interface OutgoingResponse {
  readonly envelope: Record<string, unknown>;
  readonly parts: readonly Uint8Array[];
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

function responseSerializer(type: protobuf.Type): (response: OutgoingResponse) => Buffer {
  return (response) => {
    const head = type.encode(response.envelope).finish();
    if (response.parts.length === 0) return Buffer.from(head.buffer, head.byteOffset, head.length);
    return Buffer.concat([head, ...response.parts]);
  };
}

/** Keeps the bytes as they are: serializing the result gives `bytes` back. */
function rawResponse(bytes: Buffer): OutgoingResponse {
  return { envelope: {}, parts: [bytes] };
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
      responseSerialize: responseSerializer(p.discoveryResponse),
      responseDeserialize: rawResponse,
    },
    DeltaAggregatedResources: {
      path: `${p.servicePath}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: encoder(p.deltaRequest),
      requestDeserialize: (bytes: Buffer) => p.deltaRequest.decode(bytes) as DeltaRequestMessage,
      responseSerialize: responseSerializer(p.deltaResponse),
      responseDeserialize: rawResponse,
    },
  };
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

/**
 * The body of a SotW response for one subscription against one per-type map: shared by every
 * stream with the same subscription, computed once per (map, subscription).
 */
interface SotwBody {
  readonly version: string;
  readonly names: readonly string[];
  readonly bytes: Buffer;
}

const sotwBodies = new WeakMap<ReadonlyMap<string, XdsResource>, Map<string, SotwBody>>();
const WILDCARD_SIGNATURE = '*';

function byName(a: XdsResource, b: XdsResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** version_info of a SotW response: a hash over the sorted (name, version) pairs it carries. */
export function sotwVersionOf(resources: readonly XdsResource[]): string {
  const hash = createHash('sha256');
  for (const resource of resources) hash.update(`${resource.name}\u0000${resource.version}\n`);
  return hash.digest('hex').slice(0, 32);
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
    body = {
      version: sotwVersionOf(resources),
      names: resources.map((r) => r.name),
      bytes: Buffer.concat(resources.map(sotwEntry)),
    };
    bodies.set(signature, body);
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// Push plans: what one snapshot change means, computed once per change and proxy key, then
// applied by every stream of that key.
// ---------------------------------------------------------------------------------------------

const EMPTY_TYPE: ReadonlyMap<string, XdsResource> = new Map();
const EMPTY_NAMES: ReadonlySet<string> = new Set();

/** LDS and CDS: SotW responses carry the complete set, and an empty first request is a wildcard. */
const COMPLETE_SET_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.listener, TYPE_URLS.cluster]);

interface PushStep {
  readonly typeUrl: string;
  /** The resources of the type to serve in this step. */
  readonly typeMap: ReadonlyMap<string, XdsResource>;
  /** The names this step is about; a stream is touched only if it covers one of them. */
  readonly names: ReadonlySet<string>;
}

interface PushPlan {
  /** The key's first snapshot: every stream of the key brings every sub-stream up to date. */
  readonly initial: boolean;
  readonly steps: readonly PushStep[];
}

function typeOrder(types: Iterable<string>): string[] {
  const present = new Set(types);
  const ordered: string[] = PUSH_ORDER.filter((type) => present.has(type));
  for (const type of present) if (!ordered.includes(type)) ordered.push(type);
  return ordered;
}

/** Types whose removals wait until the listeners and routes that used them have been updated. */
const DEFERRED_REMOVAL_TYPES: ReadonlySet<string> = new Set([TYPE_URLS.cluster, TYPE_URLS.endpoint]);

/**
 * Steps in make-before-break order (CDS, EDS, LDS, RDS). When a change also touches listeners or
 * routes (or anything else), clusters and endpoints it removes stay in the first CDS/EDS steps and
 * are removed only in last steps, after the listeners and routes that stopped using them.
 */
function pushPlan(change: SnapshotChange): PushPlan {
  const previous = change.previous;
  if (!previous) return { initial: true, steps: [] };
  const steps: PushStep[] = [];
  const final: PushStep[] = [];
  const touchesOthers = [...change.changes.keys()].some((type) => !DEFERRED_REMOVAL_TYPES.has(type));
  for (const type of typeOrder(change.changes.keys())) {
    const changes = change.changes.get(type as TypeUrl);
    if (!changes) continue;
    const typeMap = change.snapshot.get(type as TypeUrl) ?? EMPTY_TYPE;
    const updated = new Set([...changes.added, ...changes.changed]);
    if (touchesOthers && DEFERRED_REMOVAL_TYPES.has(type) && changes.removed.size > 0) {
      const oldMap = previous.get(type as TypeUrl) ?? EMPTY_TYPE;
      const union = new Map(typeMap);
      for (const name of changes.removed) {
        const old = oldMap.get(name);
        if (old) union.set(name, old);
      }
      if (updated.size > 0) steps.push({ typeUrl: type, typeMap: union, names: updated });
      final.push({ typeUrl: type, typeMap, names: changes.removed });
    } else {
      for (const name of changes.removed) updated.add(name);
      steps.push({ typeUrl: type, typeMap, names: updated });
    }
  }
  return { initial: false, steps: [...steps, ...final] };
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

interface StreamHost {
  readonly cache: SnapshotCache;
  readonly log: Logger;
  readonly controlPlane: { identifier: string };
  nextNonce(): string;
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

type AnyCall = grpc.ServerDuplexStream<SotwRequestMessage | DeltaRequestMessage, OutgoingResponse>;

abstract class AdsStream {
  proxyKey: string | undefined;
  nodeId = '';
  closed = false;
  readonly peer: string;

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
        this.proxyKey = proxyKeyOf(message.node);
        this.nodeId = message.node?.id ?? '';
        this.host.register(this);
      }
      this.handle(message);
    } catch (err) {
      this.host.log.error(
        { err, proxy: this.proxyKey, node: this.nodeId },
        'ADS request handling failed; closing the stream',
      );
      this.close(grpc.status.INTERNAL, 'internal error');
    }
  }

  protected snapshot(): XdsSnapshot | undefined {
    return this.proxyKey === undefined ? undefined : this.host.cache.getSnapshot(this.proxyKey);
  }

  protected typeMap(typeUrl: string): ReadonlyMap<string, XdsResource> {
    return this.snapshot()?.get(typeUrl as TypeUrl) ?? EMPTY_TYPE;
  }

  protected send(typeUrl: string, envelope: Record<string, unknown>, parts: readonly Uint8Array[]): void {
    if (this.closed) return;
    this.call.write({ envelope: { ...envelope, controlPlane: this.host.controlPlane }, parts });
    this.host.countPush(typeUrl, this.mode);
  }

  /** Applies a snapshot change of this stream's proxy key. */
  push(plan: PushPlan): void {
    if (this.closed) return;
    if (plan.initial) {
      this.resync();
      return;
    }
    for (const step of plan.steps) this.pushStep(step);
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
    this.host.unregister(this);
  }

  protected abstract handle(message: SotwRequestMessage | DeltaRequestMessage): void;
  protected abstract resync(): void;
  protected abstract pushStep(step: PushStep): void;
  abstract info(): AdsStreamInfo;
}

function safePeer(call: AnyCall): string {
  try {
    return call.getPeer();
  } catch {
    return 'unknown';
  }
}

function coversAny(names: ReadonlySet<string>, candidates: ReadonlySet<string>): boolean {
  if (candidates.size <= names.size) {
    for (const name of candidates) if (names.has(name)) return true;
  } else {
    for (const name of names) if (candidates.has(name)) return true;
  }
  return false;
}

/** One type URL of a SotW stream. */
class SotwSub {
  wildcard = false;
  everNamed = false;
  names: ReadonlySet<string> = EMPTY_NAMES;
  sortedNames: readonly string[] = [];
  signature = '[]';
  lastNonce: string | undefined;
  sentVersion: string | undefined;
  sentNames: readonly string[] = [];
  ackedVersion: string | undefined;
  lastNack: { nonce: string; message: string } | undefined;

  constructor(readonly typeUrl: string) {}

  /** `resource_names` is the complete set each time. */
  update(resourceNames: readonly string[]): void {
    const named = resourceNames.filter((name) => name !== '*');
    if (named.length > 0) this.everNamed = true;
    this.wildcard =
      resourceNames.includes('*') ||
      (resourceNames.length === 0 && !this.everNamed && COMPLETE_SET_TYPES.has(this.typeUrl));
    const sorted = [...new Set(named)].sort();
    this.names = new Set(sorted);
    this.sortedNames = sorted;
    this.signature = JSON.stringify(sorted);
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
    sub.update(message.resourceNames ?? []);
    this.respond(sub, this.typeMap(typeUrl));
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

  /** Sends the subscription's current state, unless it is exactly what was sent last. */
  private respond(sub: SotwSub, typeMap: ReadonlyMap<string, XdsResource>): void {
    // Before the proxy's first snapshot there is nothing true to say (an empty LDS/CDS answer would
    // delete a reconnecting Envoy's config): wait for it.
    if (!this.snapshot()) return;
    const body = sotwBody(typeMap, sub.wildcard ? WILDCARD_SIGNATURE : sub.signature, sub.sortedNames);
    if (sub.sentVersion === undefined) {
      // RDS/EDS names that do not exist (yet): say nothing, send them when they appear.
      if (body.names.length === 0 && !COMPLETE_SET_TYPES.has(sub.typeUrl)) return;
    } else if (body.version === sub.sentVersion) {
      return;
    }
    const nonce = this.host.nextNonce();
    sub.lastNonce = nonce;
    sub.sentVersion = body.version;
    sub.sentNames = body.names;
    this.send(sub.typeUrl, { versionInfo: body.version, typeUrl: sub.typeUrl, nonce }, [body.bytes]);
  }

  protected resync(): void {
    for (const typeUrl of typeOrder(this.subs.keys())) {
      const sub = this.subs.get(typeUrl);
      if (sub) this.respond(sub, this.typeMap(typeUrl));
    }
  }

  protected pushStep(step: PushStep): void {
    const sub = this.subs.get(step.typeUrl);
    if (!sub) return;
    if (!sub.wildcard && !coversAny(sub.names, step.names)) return;
    this.respond(sub, step.typeMap);
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

    if (!this.snapshot()) return;
    const typeMap = this.typeMap(typeUrl);
    const names = everything ? this.allNames(sub, typeMap) : candidates;
    this.reconcile(sub, typeMap, names, first && sub.wildcard);
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

  /**
   * Sends, for the given names, whatever differs between the snapshot and what the client holds:
   * new or changed resources, and `removed_resources` for deleted names and subscribed names that
   * do not exist. `always` sends even an empty response (a first wildcard request waits for one).
   */
  private reconcile(
    sub: DeltaSub,
    typeMap: ReadonlyMap<string, XdsResource>,
    names: Iterable<string>,
    always: boolean,
  ): void {
    const resources: XdsResource[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const explicit = sub.names.has(name);
      if (!explicit && !sub.wildcard) {
        sub.known.delete(name);
        continue;
      }
      const resource = typeMap.get(name);
      const held = sub.known.get(name);
      if (resource) {
        if (held !== resource.version) {
          resources.push(resource);
          sub.known.set(name, resource.version);
        }
      } else if (held === undefined ? explicit : held !== null) {
        removed.push(name);
        if (explicit) sub.known.set(name, null);
        else sub.known.delete(name);
      }
    }
    if (resources.length === 0 && removed.length === 0 && !always) return;
    resources.sort(byName);
    removed.sort();
    const nonce = this.host.nextNonce();
    sub.remember(
      nonce,
      resources.map((r) => r.name),
    );
    this.send(
      sub.typeUrl,
      { typeUrl: sub.typeUrl, removedResources: removed, nonce },
      resources.map(deltaEntry),
    );
  }

  protected resync(): void {
    for (const typeUrl of typeOrder(this.subs.keys())) {
      const sub = this.subs.get(typeUrl);
      if (!sub) continue;
      const typeMap = this.typeMap(typeUrl);
      this.reconcile(sub, typeMap, this.allNames(sub, typeMap), sub.wildcard);
    }
  }

  protected pushStep(step: PushStep): void {
    const sub = this.subs.get(step.typeUrl);
    if (!sub) return;
    if (!sub.wildcard && !coversAny(sub.names, step.names)) return;
    this.reconcile(sub, step.typeMap, step.names, false);
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

/**
 * Envoy's Aggregated Discovery Service (state of the world and delta) over the snapshots of a
 * SnapshotCache. Streams are keyed by the node `role` of their first request; a snapshot change is
 * pushed only to the streams of that proxy key whose subscriptions it touches, in CDS, EDS, LDS,
 * RDS order.
 */
export class AdsServer {
  private readonly cache: SnapshotCache;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly credentials: grpc.ServerCredentials;
  private readonly serverOptions: grpc.ServerOptions;
  private readonly events = new EventEmitter();
  private readonly streams = new Set<AdsStream>();
  private readonly streamsByKey = new Map<string, Set<AdsStream>>();
  private readonly host: StreamHost;
  private server: grpc.Server | undefined;
  private unsubscribe: (() => void) | undefined;
  private nonces = 0;

  constructor(options: AdsServerOptions) {
    this.cache = options.cache;
    this.metrics = options.metrics;
    this.log = options.logger;
    this.graceMs = options.shutdownGraceMs ?? 1000;
    this.credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    this.serverOptions = options.serverOptions ?? {};
    this.events.setMaxListeners(0);
    const controlPlane = { identifier: options.controlPlaneId ?? 'sluice' };
    this.host = {
      cache: this.cache,
      log: this.log,
      controlPlane,
      nextNonce: () => (++this.nonces).toString(36),
      register: (stream) => this.register(stream),
      unregister: (stream) => this.unregister(stream),
      countPush: (typeUrl, mode) => this.metrics.pushes.inc({ type_url: typeUrl, mode }),
      ack: (event) => this.emit('ack', event),
      nack: (event) => this.onNackReceived(event),
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
      server.bindAsync(address, this.credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
    });
    this.server = server;
    this.unsubscribe = this.cache.subscribe((change) => this.onSnapshotChange(change));
    this.log.info({ address, port }, 'ADS server listening');
    return port;
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

  private onSnapshotChange(change: SnapshotChange): void {
    const streams = this.streamsByKey.get(change.key);
    if (!streams || streams.size === 0) return;
    const plan = pushPlan(change);
    for (const stream of [...streams]) {
      try {
        stream.push(plan);
      } catch (err) {
        this.log.error(
          { err, proxy: change.key, node: stream.nodeId },
          'ADS push failed; closing the stream',
        );
        stream.close(grpc.status.INTERNAL, 'internal error');
      }
    }
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

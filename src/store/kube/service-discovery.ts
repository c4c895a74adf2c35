import { API_VERSION, DEFAULT_NAMESPACE, type Resource } from '../../api/resource';
import { nameKey } from '../../api/snapshot';
import type { KubeUpstreamSpec } from '../../api/types';
import { DISCOVERY_LABEL } from '../../discovery/fds/discoverer';
import type { Logger } from '../../logger';
import { stableStringify, userContent } from '../memory-store';
import { ConflictError } from '../store';
import { Backoff, type BackoffOptions } from './backoff';
import { Informer, type ObjectCacheView } from './informer';
import type { KubeClient, KubeObject } from './kube-client';
import type { KubeStore } from './kube-store';
import { toResource } from './mapping';
import { NAMESPACES, SLUICE_CRDS } from './resource-types';
import { namespacedName, proxiedPorts, type KubeService, type ServicePort } from './service-endpoints';

/** Marks the Upstreams Service discovery made, and the only ones it ever changes or deletes. */
export const DISCOVERED_BY_LABEL = 'discovery.sluice.dev/discovered-by';
export const DISCOVERED_BY_KUBERNETES = 'kubernetes';

/** Attempts of one write that keeps meeting concurrent changes, before the Service is retried later. */
const MAX_ATTEMPTS = 5;

/**
 * Services reconciled at once by default. On a first start each is one create: against a real API server
 * a network round trip, so more in flight means more creates a second; twice the former 4 (and as many
 * as the store's status writes) hides that latency while staying far below what the API server admits
 * from one client (200 writes in flight by default, shared out by API Priority and Fairness). More did
 * not help on the loopback bench, where CPU, not latency, bounds the first start (16 and 32: slower).
 */
export const DEFAULT_CONCURRENCY = 8;

/** `NAMESPACE-SERVICE-PORT`: namespace and Service names are DNS-1123 labels, so this is a valid name. */
export function discoveredUpstreamName(namespace: string, service: string, port: number): string {
  return `${namespace}-${service}-${port}`;
}

/** The `namespace/service` a discovered Upstream was made from, read back from its name. */
function serviceOfUpstream(upstream: KubeObject): string | undefined {
  const { name, namespace = DEFAULT_NAMESPACE } = upstream.metadata;
  if (!name.startsWith(`${namespace}-`)) return undefined;
  const service = /^(.+)-\d+$/.exec(name.slice(namespace.length + 1))?.[1];
  return service === undefined ? undefined : nameKey(namespace, service);
}

function isDiscovered(object: KubeObject): boolean {
  return object.metadata.labels?.[DISCOVERED_BY_LABEL] === DISCOVERED_BY_KUBERNETES;
}

/** HTTP/2 without TLS (what gRPC needs), as the port's appProtocol or an Istio-style port name says. */
function speaksHttp2(port: ServicePort): boolean {
  if (port.appProtocol) return ['kubernetes.io/h2c', 'h2c', 'grpc', 'http2'].includes(port.appProtocol);
  return /^(grpc|http2|h2c)(-|$)/.test(port.name ?? '');
}

/**
 * The Upstreams Service discovery makes of `service`: one per TCP port, unless the Service (or else its
 * Namespace, whose label `namespaceLabel` is) is labelled `discovery.sluice.dev/function-discovery:
 * disabled`. That label is copied onto the Upstreams, where function discovery reads it.
 */
export function discoveredUpstreams(service: KubeService, namespaceLabel: string | undefined): Resource[] {
  const { name, namespace = DEFAULT_NAMESPACE, labels } = service.metadata;
  const functionDiscovery = labels?.[DISCOVERY_LABEL] ?? namespaceLabel;
  if (functionDiscovery === 'disabled') return [];
  return proxiedPorts(service).map((port) => ({
    apiVersion: API_VERSION,
    kind: 'Upstream',
    metadata: {
      name: discoveredUpstreamName(namespace, name, port.port),
      namespace,
      labels: {
        [DISCOVERED_BY_LABEL]: DISCOVERED_BY_KUBERNETES,
        ...(functionDiscovery === undefined ? {} : { [DISCOVERY_LABEL]: functionDiscovery }),
      },
    },
    spec: {
      kube: {
        serviceName: name,
        serviceNamespace: namespace,
        servicePort: port.port,
        ...(speaksHttp2(port) ? { http2: true } : {}),
      },
    },
  }));
}

/**
 * `current` with what discovery owns taken from `desired`: the two discovery labels, and in
 * `spec.kube` the Service, its port and `http2`. Everything else (other labels, annotations,
 * `connectTimeout`, `serviceSpec`, ...) stays as the user wrote it.
 */
function withDiscoveredFields(current: Resource, desired: Resource): Resource {
  const labels = { ...current.metadata.labels };
  delete labels[DISCOVERY_LABEL];
  const { http2: _ownedHttp2, ...userKube } = (current.spec?.kube ?? {}) as Partial<KubeUpstreamSpec>;
  return {
    ...current,
    metadata: { ...current.metadata, labels: { ...labels, ...desired.metadata.labels } },
    spec: { ...current.spec, kube: { ...userKube, ...(desired.spec?.kube as KubeUpstreamSpec) } },
  };
}

export interface ServiceDiscoveryOptions {
  /**
   * Where Upstreams are written, each write conditional on the version that was read, and read from:
   * its Upstream informer, which whoever loads or watches the store starts.
   */
  store: KubeStore;
  /** Reads Namespaces (an informer), and an Upstream again after a conflict. */
  client: KubeClient;
  /** The Services to discover: KubeServiceEndpoints' informer, which the store starts. */
  services: Informer<KubeService>;
  logger: Logger;
  backoff?: BackoffOptions;
  pageSize?: number;
  /** Services reconciled at once. Default 8. */
  concurrency?: number;
}

/**
 * Service discovery: keeps one Upstream `NAMESPACE-SERVICE-PORT` of type `kube` per TCP port of every
 * Service in the watched namespaces, labelled `discovery.sluice.dev/discovered-by: kubernetes`, and
 * deletes it with its Service or port (see docs/kubernetes.md, "Service discovery").
 * - Only the leader should run it: `start()` and `stop()` may alternate, each `start()` beginning afresh
 *   (it lists Namespaces again, then reconciles every Service against the store's copy of the Upstreams).
 * - An Upstream without the label is never written over nor deleted, even if it has the name.
 * - Every write is conditional on the resourceVersion that was read; an Upstream the store's copy does
 *   not hold is created without reading it first. On a conflict (a user's edit, or an Upstream made
 *   meanwhile: 409 AlreadyExists) the Upstream is read again and only what discovery owns is set again,
 *   so the user's edit is kept.
 */
export class ServiceDiscovery {
  private run: DiscoveryRun | undefined;

  constructor(private readonly options: ServiceDiscoveryOptions) {}

  /** Starts in the background; failures are logged (a refused first list stops this run). */
  start(): void {
    if (this.run) return;
    this.run = new DiscoveryRun(this.options);
    this.run.start();
  }

  /** Resolves once nothing is being written any more. */
  async stop(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    await run?.stop();
  }
}

/** One leadership term of Service discovery: its own Namespace informer, queue and retries. */
class DiscoveryRun {
  private readonly namespaceInformer: Informer<KubeObject>;
  /** Every Upstream of the watched namespaces (the store's copy); discovery changes or deletes only its own. */
  private readonly upstreams: ObjectCacheView<KubeObject>;
  /** The names of the discovered ones, by the `namespace/service` they were made from. */
  private readonly upstreamsOfService = new Map<string, Set<string>>();
  /** Services to reconcile, `namespace/service`, in arrival order. */
  private readonly queue = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly unsubscribers: Array<() => void> = [];
  /** Upstreams of a discovered name that a user made: said once, then left alone. */
  private readonly reportedForeign = new Set<string>();
  private readonly backoff: Backoff;
  private readonly concurrency: number;
  private synced = false;
  private stopped = false;

  constructor(private readonly options: ServiceDiscoveryOptions) {
    const { client, logger, backoff, pageSize, store } = options;
    this.namespaceInformer = new Informer({ client, logger, backoff, pageSize, type: NAMESPACES });
    this.upstreams = store.cacheOf('Upstream');
    this.backoff = new Backoff(backoff);
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  }

  start(): void {
    const { services, logger } = this.options;
    this.unsubscribers.push(
      services.on((_event, service) => this.enqueue(namespacedName(service))),
      this.upstreams.on((event, upstream) => this.onUpstream(event === 'deleted', upstream)),
      this.namespaceInformer.on((_event, namespace) => this.onNamespace(namespace.metadata.name)),
    );
    this.namespaceInformer.start();
    const informers = [services, this.namespaceInformer, this.upstreams];
    void Promise.all(informers.map((informer) => informer.whenSynced())).then(
      () => this.resync(),
      (error: Error) =>
        logger.error({ err: error.message }, 'Service discovery cannot start: no Upstreams will be made'),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.namespaceInformer.stop();
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.queue.clear();
    await Promise.all(this.inFlight.values());
  }

  /** After the first lists: every Service, and every Service some discovered Upstream was made from. */
  private resync(): void {
    if (this.stopped) return;
    this.synced = true;
    // The store's copy may have listed before this run listened to it.
    for (const upstream of this.upstreams.list()) this.index(false, upstream);
    for (const service of this.options.services.list()) this.queue.add(namespacedName(service));
    for (const service of this.upstreamsOfService.keys()) this.queue.add(service);
    this.pump();
  }

  private onUpstream(deleted: boolean, upstream: KubeObject): void {
    const service = this.index(deleted, upstream);
    // A user deleted it, changed what discovery owns, or took it over or gave it back: reconcile again.
    if (service !== undefined) this.enqueue(service);
  }

  /** Files a discovered Upstream under its Service (an Upstream without the label, or deleted: unfiled). */
  private index(deleted: boolean, upstream: KubeObject): string | undefined {
    const service = serviceOfUpstream(upstream);
    if (service === undefined) return undefined;
    const names = this.upstreamsOfService.get(service) ?? new Set<string>();
    if (deleted || !isDiscovered(upstream)) names.delete(upstream.metadata.name);
    else names.add(upstream.metadata.name);
    if (names.size > 0) this.upstreamsOfService.set(service, names);
    else this.upstreamsOfService.delete(service);
    return service;
  }

  /** Its discovery label may have changed: every Service of the namespace again (the first list: resync). */
  private onNamespace(namespace: string): void {
    if (!this.synced) return;
    for (const service of this.options.services.list()) {
      if (service.metadata.namespace === namespace) this.enqueue(namespacedName(service));
    }
  }

  private enqueue(service: string): void {
    if (this.stopped) return;
    this.queue.add(service);
    this.pump();
  }

  /** Reconciles queued Services, `concurrency` at once, never one Service twice at once. */
  private pump(): void {
    if (!this.synced || this.stopped) return;
    for (const service of this.queue) {
      if (this.inFlight.size >= this.concurrency) return;
      if (this.inFlight.has(service)) continue;
      this.queue.delete(service);
      const work = this.reconcile(service)
        .then(
          () => this.backoff.reset(),
          (error: Error) => this.retryLater(service, error),
        )
        .finally(() => {
          this.inFlight.delete(service);
          this.pump();
        });
      this.inFlight.set(service, work);
    }
  }

  private retryLater(service: string, error: Error): void {
    const delay = this.backoff.next();
    this.options.logger.warn(
      { err: error.message, service, retryInMs: Math.round(delay) },
      'Service discovery could not write the Upstreams of a Service',
    );
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.enqueue(service);
    }, delay);
    this.retryTimers.add(timer);
  }

  /** Makes the discovered Upstreams of one Service what its Service (and Namespace) say. */
  private async reconcile(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const service = this.options.services.get(namespace, name);
    const namespaceLabel = this.namespaceInformer.get('', namespace)?.metadata.labels?.[DISCOVERY_LABEL];
    const wanted = service ? discoveredUpstreams(service, namespaceLabel) : [];
    for (const upstream of wanted) await this.write(upstream);
    const wantedNames = new Set(wanted.map((upstream) => upstream.metadata.name));
    for (const existing of [...(this.upstreamsOfService.get(key) ?? [])]) {
      if (!wantedNames.has(existing)) await this.remove(namespace, existing);
    }
  }

  private async write(desired: Resource): Promise<void> {
    const { namespace, name } = desired.metadata;
    let current = this.upstreams.get(namespace, name);
    for (let attempt = 1; !this.stopped; attempt++) {
      if (current && !isDiscovered(current)) return this.leaveAlone(namespace, name);
      const stored = current && toResource('Upstream', current);
      const next = stored ? withDiscoveredFields(stored, desired) : desired;
      if (stored && stableStringify(userContent(next)) === stableStringify(userContent(stored))) return;
      try {
        // '' (not in the copy): create without reading first; a conflict if it exists, be it a user's.
        await this.options.store.apply(next, current?.metadata.resourceVersion ?? '');
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw error;
      }
      current = await this.options.client.find(SLUICE_CRDS.Upstream, namespace, name);
    }
  }

  private async remove(namespace: string, name: string): Promise<void> {
    let current = this.upstreams.get(namespace, name);
    for (let attempt = 1; !this.stopped && current && isDiscovered(current); attempt++) {
      try {
        // Conditional: an Upstream a user took over meanwhile (label removed) is not deleted.
        await this.options.store.delete(
          { kind: 'Upstream', namespace, name },
          current.metadata.resourceVersion,
        );
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw error;
      }
      current = await this.options.client.find(SLUICE_CRDS.Upstream, namespace, name);
    }
  }

  private leaveAlone(namespace: string, name: string): void {
    const id = nameKey(namespace, name);
    if (this.reportedForeign.has(id)) return;
    this.reportedForeign.add(id);
    this.options.logger.warn(
      { upstream: id },
      `Service discovery leaves the Upstream ${id} alone: it exists without the ${DISCOVERED_BY_LABEL} label`,
    );
  }
}

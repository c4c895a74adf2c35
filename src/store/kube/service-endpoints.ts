import { DEFAULT_NAMESPACE } from '../../api/resource';
import {
  nameKey,
  type ServiceEndpoint,
  type ServiceEndpoints,
  type ServiceEndpointsMap,
} from '../../api/snapshot';
import type { Logger } from '../../logger';
import { stableStringify } from '../memory-store';
import type { EndpointSource } from '../store';
import type { BackoffOptions } from './backoff';
import { BoundedDebounce } from './debounce';
import { Informer, type InformerEventType } from './informer';
import { notifyEach } from './listeners';
import type { KubeClient, KubeObject } from './kube-client';
import { PodLabels, type Labels } from './pod-labels';
import { PodReferences } from './pod-references';
import { ENDPOINT_SLICES, SERVICES } from './resource-types';

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  appProtocol?: string;
}

/** A core v1 Service, as far as Sluice reads it. */
export interface KubeService extends KubeObject {
  spec?: { type?: string; ports?: ServicePort[] };
}

/** What an endpoint stands for: usually its Pod. */
interface TargetRef {
  kind?: string;
  namespace?: string;
  name?: string;
}

/** A discovery.k8s.io/v1 EndpointSlice, as far as Sluice reads it. */
interface EndpointSlice extends KubeObject {
  addressType?: string;
  ports?: Array<{ name?: string; port?: number; protocol?: string }>;
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean }; targetRef?: TargetRef }>;
}

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The ports of a Service that Envoy can proxy: TCP ones (the default protocol); none for ExternalName. */
export function proxiedPorts(service: KubeService): ServicePort[] {
  if (service.spec?.type === 'ExternalName') return [];
  return (service.spec?.ports ?? []).filter((port) => (port.protocol ?? 'TCP') === 'TCP');
}

/** `namespace/name`: how Kubernetes names a namespaced object, and how snapshots key Services. */
export function namespacedName(object: KubeObject): string {
  return nameKey(object.metadata.namespace ?? DEFAULT_NAMESPACE, object.metadata.name);
}

export interface KubeServiceEndpointsOptions {
  client: KubeClient;
  /** Namespaces to watch; all when absent. */
  namespaces?: readonly string[];
  logger: Logger;
  /** Delay between the last change and the watch notification (ms). Default 100. */
  debounceMs?: number;
  backoff?: BackoffOptions;
  pageSize?: number;
}

/** The Pod an endpoint of a slice in `namespace` stands for, `namespace/name`; undefined for no Pod. */
function podOf(namespace: string, targetRef: TargetRef | undefined): string | undefined {
  if (targetRef?.kind !== 'Pod' || !targetRef.name) return undefined;
  return nameKey(targetRef.namespace ?? namespace, targetRef.name);
}

/**
 * The endpoints of every Service in the watched namespaces, from informers on Services, on the
 * EndpointSlices that name a Service (`kubernetes.io/service-name`) and on Pods (their labels, which
 * `kube` upstreams with a `selector` choose endpoints by). Work is per Service: a change recomputes the
 * entry of that Service only, and an entry whose content did not change keeps its identity
 * (translation remembers clusters per entry). Watchers hear of changes debounced like the store's.
 */
export class KubeServiceEndpoints implements EndpointSource {
  /** Started and stopped with these endpoints; Service discovery follows it too. */
  readonly services: Informer<KubeService>;
  private readonly slices: Informer<EndpointSlice>;
  /** Slice names by the `namespace/service` they serve; the service of each `namespace/slice`. */
  private readonly slicesOfService = new Map<string, Set<string>>();
  private readonly serviceOfSlice = new Map<string, string>();
  /** Watched always, not only while some upstream has a selector: a new selector has its endpoints at once. */
  private readonly pods: PodLabels;
  private readonly podReferences = new PodReferences();
  /** Services whose entry may be out of date. */
  private readonly changed = new Set<string>();
  private entries: ServiceEndpointsMap = new Map();
  private lastNotified: ServiceEndpointsMap = this.entries;
  private readonly listeners = new Set<(endpoints: ServiceEndpointsMap) => void>();
  private readonly notifier: BoundedDebounce;

  constructor(private readonly options: KubeServiceEndpointsOptions) {
    const { client, namespaces, logger, backoff, pageSize } = options;
    const common = { client, namespaces, logger, backoff, pageSize };
    this.services = new Informer<KubeService>({ ...common, type: SERVICES });
    this.slices = new Informer<EndpointSlice>({
      ...common,
      type: ENDPOINT_SLICES,
      labelSelector: SERVICE_NAME_LABEL,
    });
    this.pods = new PodLabels(common);
    this.notifier = new BoundedDebounce(() => this.notify(), options.debounceMs ?? 100);
    this.services.on((_event, service) => this.markChanged(namespacedName(service)));
    this.slices.on((event, slice) => this.onSlice(event, slice));
    this.pods.onChange((pod) => this.podReferences.servicesOf(pod).forEach((key) => this.markChanged(key)));
  }

  start(): void {
    this.services.start();
    this.slices.start();
    this.pods.start();
  }

  /** Resolves once Services, EndpointSlices and Pods have been listed; rejects when a first list is refused. */
  async whenSynced(): Promise<void> {
    await Promise.all([this.services.whenSynced(), this.slices.whenSynced(), this.pods.whenSynced()]);
  }

  current(): ServiceEndpointsMap {
    if (this.changed.size === 0) return this.entries;
    let next: Map<string, ServiceEndpoints> | undefined;
    for (const key of this.changed) {
      const previous = this.entries.get(key);
      const entry = this.entryOf(key);
      if (entry === undefined ? previous === undefined : sameEntry(previous, entry)) continue;
      next ??= new Map(this.entries);
      if (entry) next.set(key, entry);
      else next.delete(key);
    }
    this.changed.clear();
    if (next) this.entries = next;
    return this.entries;
  }

  watch(listener: (endpoints: ServiceEndpointsMap) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    this.notifier.cancel();
    this.listeners.clear();
    this.services.stop();
    this.slices.stop();
    this.pods.stop();
  }

  private onSlice(event: InformerEventType, slice: EndpointSlice): void {
    const sliceKey = namespacedName(slice);
    const sliceName = slice.metadata.name;
    this.podReferences.forget(sliceKey);
    const previous = this.serviceOfSlice.get(sliceKey);
    if (previous !== undefined) {
      const slices = this.slicesOfService.get(previous);
      slices?.delete(sliceName);
      if (slices?.size === 0) this.slicesOfService.delete(previous);
      this.serviceOfSlice.delete(sliceKey);
      this.markChanged(previous);
    }
    const serviceName = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (event === 'deleted' || !serviceName) return;
    const namespace = slice.metadata.namespace ?? DEFAULT_NAMESPACE;
    const service = nameKey(namespace, serviceName);
    const pods = (slice.endpoints ?? []).flatMap(({ targetRef }) => podOf(namespace, targetRef) ?? []);
    this.podReferences.record(sliceKey, service, pods);
    this.serviceOfSlice.set(sliceKey, service);
    const slices = this.slicesOfService.get(service) ?? new Set();
    slices.add(sliceName);
    this.slicesOfService.set(service, slices);
    this.markChanged(service);
  }

  private markChanged(serviceKey: string): void {
    this.changed.add(serviceKey);
    if (this.listeners.size > 0) this.notifier.schedule();
  }

  private notify(): void {
    const endpoints = this.current();
    if (endpoints === this.lastNotified) return;
    this.lastNotified = endpoints;
    notifyEach(this.listeners, endpoints, this.options.logger, 'Service endpoints watch listener failed');
  }

  /** The entry of a Service now, from the informers' copies; undefined for no Service or ExternalName. */
  private entryOf(key: string): ServiceEndpoints | undefined {
    const [namespace, name] = key.split('/');
    const service = this.services.get(namespace, name);
    if (!service || service.spec?.type === 'ExternalName') return undefined;
    const endpoints: ServiceEndpoint[] = [];
    for (const sliceName of this.slicesOfService.get(key) ?? []) {
      const slice = this.slices.get(namespace, sliceName);
      // FQDN slices name hosts, not addresses: EDS needs addresses.
      if (!slice || slice.addressType === 'FQDN') continue;
      for (const { name: portName = '', port } of slice.ports ?? []) {
        if (port === undefined) continue;
        for (const { addresses = [], conditions, targetRef } of slice.endpoints ?? []) {
          const ready = conditions?.ready !== false;
          const podLabels = this.labelsOf(podOf(namespace, targetRef));
          for (const address of addresses) {
            endpoints.push({ address, port, portName, ready, ...(podLabels ? { podLabels } : {}) });
          }
        }
      }
    }
    endpoints.sort(compareEndpoints);
    const ports = proxiedPorts(service).map(({ port, name: portName = '' }) => ({ port, name: portName }));
    return { ports, endpoints };
  }

  private labelsOf(pod: string | undefined): Labels | undefined {
    if (pod === undefined) return undefined;
    const [namespace, name] = pod.split('/');
    return this.pods.get(namespace, name);
  }
}

function sameEntry(previous: ServiceEndpoints | undefined, next: ServiceEndpoints): boolean {
  return previous !== undefined && stableStringify(previous) === stableStringify(next);
}

function compareEndpoints(a: ServiceEndpoint, b: ServiceEndpoint): number {
  const left = `${a.portName}\n${a.address}\n${a.port}`;
  const right = `${b.portName}\n${b.address}\n${b.port}`;
  return left < right ? -1 : left > right ? 1 : 0;
}

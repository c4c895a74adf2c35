import { keyString, type Resource, type ResourceKey, type Status } from '../api/resource';
import { loadSnapshot, type AcceptedResource, type FileProblem, type ParseCache } from '../api/load';
import type { Metrics } from '../admin/metrics';
import type { IdentityTokens } from '../api/gcp';
import type { ApiSnapshot, ServiceEndpointsMap } from '../api/snapshot';
import type { DiscoveredMap } from '../discovery/fds/discovered';
import type { Logger } from '../logger';
import { sameStatus, statusOf } from '../reporter/statuses';
import type { ResourceStore, StoreContents } from '../store/store';
import { ResourceOwners } from '../translator/envoy/envoy-translator';
import type { Proxy } from '../translator/gateway/proxy';
import { TranslationMemo } from '../translator/memo';
import { PLUGINS } from '../translator/plugins';
import { translate } from '../translator/translate';
import type { Reports } from '../translator/reports';
import { ResourceEncoder } from '../xds/encode';
import type { XdsSnapshot } from '../xds/resources';
import type { SnapshotCache } from '../xds/snapshot-cache';
import { buildXdsSnapshots, withShortNames } from './xds-snapshots';

export interface ControlPlaneOptions {
  store: ResourceStore;
  cache: SnapshotCache;
  metrics: Metrics;
  logger: Logger;
  /** Write statuses from the start; only the leader writes them (see `startWritingStatuses`). Default true. */
  writeStatuses?: boolean;
}

export interface NackReport {
  proxyKey: string;
  typeUrl: string;
  resourceNames: readonly string[];
  message: string;
}

/**
 * The loop: store change -> validate -> translate -> encode -> snapshot cache (-> ADS), and statuses
 * back to the store. Translations never overlap; changes that arrive meanwhile are folded into one rerun.
 */
export class ControlPlane {
  private readonly encoder = new ResourceEncoder();
  private readonly memo = new TranslationMemo();
  private readonly parseCache: ParseCache = new Map();
  private lastGood = new Map<string, AcceptedResource>();
  private snapshots = new Map<string, XdsSnapshot>();
  private owners = new ResourceOwners();
  private proxies: Proxy[] = [];
  private statuses = new Map<string, Status>();
  private fileProblems: FileProblem[] = [];
  /** NACKs not yet superseded by an ACK, by `proxy type`. */
  private readonly nacks = new Map<string, NackReport>();
  private pending: StoreContents | undefined;
  private running: Promise<void> | undefined;
  private stopWatch: (() => void) | undefined;
  private stopEndpointsWatch: (() => void) | undefined;
  private translatedOnce = false;
  private lastContents: StoreContents | undefined;
  private discovered: DiscoveredMap = new Map();
  private identityTokens: IdentityTokens = new Map();
  private endpoints: ServiceEndpointsMap | undefined;
  private readonly snapshotListeners = new Set<(snapshot: ApiSnapshot) => void>();
  private writingStatuses: boolean;
  /** The next report writes every status, not only those that changed. */
  private rewriteStatuses = false;

  constructor(private readonly options: ControlPlaneOptions) {
    this.writingStatuses = options.writeStatuses ?? true;
  }

  async start(): Promise<void> {
    const { store } = this.options;
    const contents = await store.load();
    if (store.endpoints) {
      this.endpoints = store.endpoints.current();
      this.stopEndpointsWatch = store.endpoints.watch((endpoints) => void this.setEndpoints(endpoints));
    }
    await this.submit(contents);
    this.stopWatch = store.watch((contents) => void this.submit(contents));
  }

  stop(): void {
    this.stopWatch?.();
    this.stopEndpointsWatch?.();
  }

  /** Queues a translation of `contents`; resolves when it (or a later one) has been applied. */
  submit(contents: StoreContents): Promise<void> {
    this.pending = contents;
    if (!this.running) this.running = this.drain();
    return this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const contents = this.pending;
        this.pending = undefined;
        this.lastContents = contents;
        await this.apply(contents);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async apply(contents: StoreContents): Promise<void> {
    const { logger, metrics, cache } = this.options;
    const timer = metrics.translationSeconds.startTimer();
    const loaded = loadSnapshot(contents, this.lastGood, this.discovered, this.parseCache);
    const snapshot = { ...loaded.snapshot, identityTokens: this.identityTokens, endpoints: this.endpoints };
    const translation = translate(snapshot, loaded.reports, PLUGINS, this.memo);
    const snapshots = buildXdsSnapshots(translation.envoy, this.encoder, translation.reports, this.snapshots);
    const published = withShortNames(snapshots);
    for (const key of cache.keys()) {
      if (!published.has(key)) published.set(key, new Map());
    }
    for (const [key, snapshot] of published) cache.setSnapshot(key, snapshot);
    this.snapshots = snapshots;
    this.owners = translation.envoy.owners;
    this.proxies = translation.proxies;
    this.fileProblems = loaded.fileProblems;
    this.rememberAccepted(loaded.valid, loaded.locations, translation.reports);
    timer();
    metrics.translations.inc();
    const rejected = translation.reports.all().filter((report) => report.errors.length > 0);
    metrics.translationErrors.inc(rejected.length);
    for (const problem of loaded.fileProblems) logger.warn({ file: problem.file }, problem.message);
    logger.info({ proxies: translation.proxies.length, rejected: rejected.length }, 'translated');
    this.translatedOnce = true;
    for (const listener of this.snapshotListeners) listener(snapshot);
    await this.report(translation.reports, loaded.valid);
  }

  /** Called with every API snapshot that was translated (function discovery follows it). */
  onSnapshot(listener: (snapshot: ApiSnapshot) => void): () => void {
    this.snapshotListeners.add(listener);
    return () => this.snapshotListeners.delete(listener);
  }

  /** New discovery results: re-translate with them. */
  setDiscovered(discovered: DiscoveredMap): Promise<void> {
    this.discovered = discovered;
    return this.resubmit();
  }

  /**
   * New Service endpoints: re-translate the same contents with them. Nothing is validated again (the
   * parse cache) and only the clusters of the Services that changed are translated again (the memo).
   */
  private setEndpoints(endpoints: ServiceEndpointsMap): Promise<void> {
    this.endpoints = endpoints;
    return this.resubmit();
  }

  /** New identity tokens minted by Sluice (GCP functions): re-translate with them. */
  setIdentityTokens(tokens: IdentityTokens): Promise<void> {
    this.identityTokens = tokens;
    return this.resubmit();
  }

  /** A resource becomes the fallback for future bad edits once it translated without errors. */
  private rememberAccepted(
    valid: Map<string, Resource>,
    locations: Map<string, AcceptedResource['location']>,
    reports: Reports,
  ): void {
    const next = new Map<string, AcceptedResource>();
    for (const [id, previous] of this.lastGood) next.set(id, previous);
    for (const [id, resource] of valid) {
      const report = reports.get({
        kind: resource.kind,
        namespace: resource.metadata.namespace,
        name: resource.metadata.name,
      });
      if (!report || report.errors.length === 0)
        next.set(id, { resource, location: locations.get(id) ?? {} });
    }
    const present = new Set([...valid.keys(), ...[...reports.all()].map((report) => keyString(report.key))]);
    for (const id of next.keys()) if (!present.has(id)) next.delete(id);
    this.lastGood = next;
  }

  /**
   * This replica now writes statuses (it became the leader). The next translation, queued now, writes
   * every status, not only those that change: the replica that wrote before may have stopped before
   * writing some. Returns how to stop, which settles once the writes in flight are done.
   */
  startWritingStatuses(): () => Promise<void> {
    this.writingStatuses = true;
    this.rewriteStatuses = true;
    void this.resubmit();
    return () => {
      this.writingStatuses = false;
      return this.idle();
    };
  }

  private async report(reports: Reports, valid: Map<string, Resource>): Promise<void> {
    const all: Array<{ key: ResourceKey; status: Status }> = [];
    const changed: typeof all = [];
    const next = new Map<string, Status>();
    for (const report of reports.all()) {
      const id = keyString(report.key);
      for (const nack of this.nacksFor(report.key)) report.warnings.push(nack);
      const entry = { key: report.key, status: statusOf(report, valid.get(id)?.metadata.generation) };
      next.set(id, entry.status);
      all.push(entry);
      if (!sameStatus(this.statuses.get(id), entry.status)) changed.push(entry);
    }
    this.statuses = next;
    if (!this.writingStatuses) return;
    const writes = this.rewriteStatuses ? all : changed;
    this.rewriteStatuses = false;
    if (writes.length === 0) return;
    try {
      await this.options.store.writeStatuses(writes);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'could not write statuses');
    }
  }

  private nacksFor(key: ResourceKey): string[] {
    const messages: string[] = [];
    for (const nack of this.nacks.values()) {
      const affected = nack.resourceNames.some((name) =>
        this.owners.of(nack.typeUrl, name).some((owner) => keyString(owner) === keyString(key)),
      );
      if (affected)
        messages.push(
          `proxy ${nack.proxyKey} rejected ${nack.typeUrl.split('.').pop()} ${nack.resourceNames.join(', ')}: ${nack.message}`,
        );
    }
    return messages;
  }

  /** A client rejected config: report it on the resources it came from until the client accepts a newer one. */
  recordNack(nack: NackReport): void {
    this.nacks.set(`${nack.proxyKey} ${nack.typeUrl}`, nack);
    void this.resubmit();
  }

  recordAck(proxyKey: string, typeUrl: string): void {
    if (this.nacks.delete(`${proxyKey} ${typeUrl}`)) void this.resubmit();
  }

  private resubmit(): Promise<void> {
    return this.lastContents ? this.submit(this.lastContents) : Promise.resolve();
  }

  /** Settles once the current translation queue is empty. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  isReady(): boolean {
    return this.translatedOnce;
  }

  currentProxies(): Proxy[] {
    return this.proxies;
  }

  currentSnapshots(): ReadonlyMap<string, XdsSnapshot> {
    return this.snapshots;
  }

  currentStatuses(): ReadonlyMap<string, Status> {
    return this.statuses;
  }

  currentFileProblems(): readonly FileProblem[] {
    return this.fileProblems;
  }
}

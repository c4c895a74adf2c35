import type { ResourceKey } from '../api/resource';
import type { ApiSnapshot } from '../api/snapshot';
import type { Json, UpstreamClusters } from './plugin';
import { Reports } from './reports';

type Recorded = { kind: 'error' | 'warn'; key: ResourceKey; message: string };

/** Reports that also remember what one piece of translation reported, to replay it on a memo hit. */
export class RecordingReports extends Reports {
  readonly recorded: Recorded[] = [];

  constructor(private readonly target: Reports) {
    super();
  }

  override track(key: ResourceKey) {
    return this.target.track(key);
  }

  override error(key: ResourceKey, message: string): void {
    this.recorded.push({ kind: 'error', key, message });
    this.target.error(key, message);
  }

  override warn(key: ResourceKey, message: string): void {
    this.recorded.push({ kind: 'warn', key, message });
    this.target.warn(key, message);
  }

  override tolerateErrors(key: ResourceKey): void {
    this.target.tolerateErrors(key);
  }

  override hasErrors(key: ResourceKey): boolean {
    return this.target.hasErrors(key);
  }

  override get(key: ResourceKey) {
    return this.target.get(key);
  }

  override all() {
    return this.target.all();
  }
}

export function replay(recorded: readonly Recorded[], reports: Reports): void {
  for (const entry of recorded) {
    if (entry.kind === 'error') reports.error(entry.key, entry.message);
    else reports.warn(entry.key, entry.message);
  }
}

interface UpstreamEntry {
  /**
   * What else the clusters were made from: what discovery had found for the upstream (clusters may
   * follow it: one per Azure function app host), and what its plugin reads (a Service's endpoints).
   */
  inputs: readonly unknown[];
  result: UpstreamClusters;
  recorded: Recorded[];
}

export interface VirtualHostEntry {
  /** The dependency stamp the entry was made under. */
  stamp: object;
  json: Json;
  usedFilters: string[];
  recorded: Recorded[];
}

function sameValues<T>(previous: readonly T[] | undefined, next: readonly T[]): boolean {
  return (
    previous !== undefined &&
    previous.length === next.length &&
    previous.every((value, index) => value === next[index])
  );
}

/**
 * Incremental translation. Parsed resources keep their identity while their content is unchanged (see
 * loadSnapshot's parse cache), so translation results can be remembered per object:
 * - an Upstream's clusters depend on the Upstream, on what discovery found for it and on what its
 *   plugin says it reads (`upstreamInputs`: a Service's endpoints);
 * - a virtual host depends on its VirtualService and on what its routes may reach (upstreams, route
 *   tables, secrets, discovered functions, minted identity tokens): the "stamp" changes when any of
 *   those changes.
 * A change to one VirtualService thus re-translates only that virtual host; its unchanged neighbours keep
 * their JSON objects, which the encoder recognises without re-encoding.
 */
export class TranslationMemo {
  private readonly upstreams = new WeakMap<object, UpstreamEntry>();
  private readonly virtualHosts = new WeakMap<object, Map<string, VirtualHostEntry>>();
  private dependencies: unknown[][] | undefined;
  private stamp: object = {};

  /** Starts a translation of `snapshot`; returns the dependency stamp in force. */
  begin(snapshot: ApiSnapshot): object {
    const next = [
      [...snapshot.upstreams.values()],
      [...snapshot.routeTables.values()],
      [...snapshot.secrets.values()],
      [snapshot.discovered, snapshot.identityTokens],
    ];
    if (
      !this.dependencies ||
      !next.every((values, index) => sameValues(this.dependencies?.[index], values))
    ) {
      this.stamp = {};
    }
    this.dependencies = next;
    return this.stamp;
  }

  upstream(
    upstream: object,
    inputs: readonly unknown[],
    reports: Reports,
    compute: (reports: Reports) => UpstreamClusters,
  ): UpstreamClusters {
    const cached = this.upstreams.get(upstream);
    if (cached && sameValues(cached.inputs, inputs)) {
      replay(cached.recorded, reports);
      return cached.result;
    }
    const recording = new RecordingReports(reports);
    const result = compute(recording);
    this.upstreams.set(upstream, { inputs, result, recorded: recording.recorded });
    return result;
  }

  virtualHost(owner: object, variant: string): VirtualHostEntry | undefined {
    const entry = this.virtualHosts.get(owner)?.get(variant);
    return entry && entry.stamp === this.stamp ? entry : undefined;
  }

  rememberVirtualHost(owner: object, variant: string, entry: Omit<VirtualHostEntry, 'stamp'>): void {
    let variants = this.virtualHosts.get(owner);
    if (!variants) {
      variants = new Map();
      this.virtualHosts.set(owner, variants);
    }
    variants.set(variant, { ...entry, stamp: this.stamp });
  }
}

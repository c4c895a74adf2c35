import type { ApiSnapshot } from '../../api/snapshot';
import type { Logger } from '../../logger';
import type { DiscoveredFunctions } from './discovered';
import { discoverTarget, discoveryTargets, type DiscoveryTarget } from './discover-upstream';
import type { DiscoveryStateStore } from './discovery-state';
import type { FunctionDiscoverer } from './discoverer';
import { activeSettings } from '../../api/settings';
import { pollIntervalMs } from './settings';

/** Failures back off exponentially, up to this many poll intervals. */
const MAX_BACKOFF_FACTOR = 10;

export interface FdsServiceOptions {
  state: DiscoveryStateStore;
  logger: Logger;
  /** Default: every registered discoverer. */
  discoverers?: readonly FunctionDiscoverer[];
  /** Called with the whole map whenever an upstream's discovered functions change. */
  onChange: (discovered: ReadonlyMap<string, DiscoveredFunctions>) => void;
}

interface Worker {
  target: DiscoveryTarget;
  timer?: NodeJS.Timeout;
  failures: number;
  running: boolean;
  abort: AbortController;
}

function sameFunctions(a: DiscoveredFunctions | undefined, b: DiscoveredFunctions): boolean {
  return (
    a !== undefined &&
    a.error === b.error &&
    a.discoverer === b.discoverer &&
    a.descriptorSet === b.descriptorSet &&
    JSON.stringify(a.functions) === JSON.stringify(b.functions)
  );
}

/**
 * Polls each discoverable upstream on its own timer: immediately when it appears or its spec changes,
 * then every poll interval (Settings), backing off on failures. Results are persisted and handed to
 * the control loop only when they change.
 */
export class FdsService {
  private discovered = new Map<string, DiscoveredFunctions>();
  private readonly workers = new Map<string, Worker>();
  private snapshot: ApiSnapshot | undefined;
  private stopped = false;

  constructor(private readonly options: FdsServiceOptions) {}

  /** Loads what was discovered before a restart, so routes keep their functions until discovery reruns. */
  async restore(): Promise<ReadonlyMap<string, DiscoveredFunctions>> {
    this.discovered = await this.options.state.load();
    return this.discovered;
  }

  current(): ReadonlyMap<string, DiscoveredFunctions> {
    return this.discovered;
  }

  /** Reconciles the workers with a new API snapshot. */
  update(snapshot: ApiSnapshot): void {
    if (this.stopped) return;
    this.snapshot = snapshot;
    const targets = new Map(
      discoveryTargets(snapshot, this.options.discoverers).map((target) => [target.id, target]),
    );
    for (const [id, worker] of this.workers) {
      const target = targets.get(id);
      if (
        !target ||
        JSON.stringify(target.upstream.spec) !== JSON.stringify(worker.target.upstream.spec) ||
        target.discoverer !== worker.target.discoverer
      ) {
        this.cancel(worker);
        this.workers.delete(id);
      } else {
        worker.target = target;
      }
    }
    for (const [id, target] of targets) {
      if (!this.workers.has(id)) {
        const worker: Worker = { target, failures: 0, running: false, abort: new AbortController() };
        this.workers.set(id, worker);
        this.schedule(worker, 0);
      }
    }
    const forgotten = [...this.discovered.keys()].filter((id) => !targets.has(id));
    if (forgotten.length > 0) {
      for (const id of forgotten) this.discovered.delete(id);
      void this.publish();
    }
  }

  stop(): void {
    this.stopped = true;
    for (const worker of this.workers.values()) this.cancel(worker);
    this.workers.clear();
  }

  private cancel(worker: Worker): void {
    if (worker.timer) clearTimeout(worker.timer);
    worker.abort.abort();
  }

  private schedule(worker: Worker, delayMs: number): void {
    worker.timer = setTimeout(() => void this.run(worker), delayMs);
    worker.timer.unref();
  }

  private async run(worker: Worker): Promise<void> {
    const snapshot = this.snapshot;
    if (this.stopped || !snapshot || worker.running) return;
    worker.running = true;
    const id = worker.target.id;
    const result = await discoverTarget(
      worker.target,
      snapshot,
      this.discovered.get(id),
      this.options.logger,
      worker.abort.signal,
    );
    worker.running = false;
    if (this.stopped || this.workers.get(id) !== worker) return;
    worker.failures = result.error ? worker.failures + 1 : 0;
    if (!sameFunctions(this.discovered.get(id), result)) {
      this.discovered.set(id, result);
      await this.publish();
    }
    const interval = pollIntervalMs(activeSettings(snapshot), worker.target.discoverer);
    this.schedule(worker, interval * Math.min(2 ** worker.failures, MAX_BACKOFF_FACTOR));
  }

  private async publish(): Promise<void> {
    const snapshot = new Map(this.discovered);
    this.options.onChange(snapshot);
    try {
      await this.options.state.save(snapshot);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'could not save discovered functions');
    }
  }
}

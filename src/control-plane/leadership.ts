import type { DiscoveredMap } from '../discovery/fds/discovered';
import type { DiscoveryStateStore } from '../discovery/fds/discovery-state';
import type { Logger } from '../logger';

/** Stops work that runs only while this replica leads; may settle later (writes in flight). */
export type StopLeading = () => void | Promise<void>;

/**
 * Which replica of Sluice leads. Work that must run on one replica only (function discovery, status
 * writes, Service discovery) registers `start`: it runs whenever this replica becomes the leader (at
 * once if it already is), and the function it returns runs when this replica stops leading.
 */
export interface Leadership {
  /** Returns a function that unregisters `start`, stopping its work if it runs. */
  onLeading(start: () => StopLeading): () => Promise<void>;
}

interface Registration {
  start: () => StopLeading;
  stop?: StopLeading;
}

/** The registered work of one replica, started and stopped together as leadership comes and goes. */
export class LeadingWork implements Leadership {
  private readonly registrations = new Set<Registration>();
  private leading = false;
  private stopping: Promise<void> = Promise.resolve();

  constructor(private readonly logger: Logger) {}

  get isLeading(): boolean {
    return this.leading;
  }

  onLeading(start: () => StopLeading): () => Promise<void> {
    const registration: Registration = { start };
    this.registrations.add(registration);
    if (this.leading) this.begin(registration);
    return () => {
      this.registrations.delete(registration);
      return this.end(registration);
    };
  }

  /** This replica became the leader. */
  lead(): void {
    if (this.leading) return;
    this.leading = true;
    for (const registration of this.registrations) this.begin(registration);
  }

  /** This replica no longer leads; resolves once every piece of work has stopped. */
  follow(): Promise<void> {
    if (this.leading) {
      this.leading = false;
      this.stopping = Promise.all([...this.registrations].map((registration) => this.end(registration))).then(
        () => undefined,
      );
    }
    return this.stopping;
  }

  private begin(registration: Registration): void {
    try {
      registration.stop = registration.start();
    } catch (error) {
      this.logger.error({ err: error }, 'work of the leader failed to start');
    }
  }

  private async end(registration: Registration): Promise<void> {
    const stop = registration.stop;
    registration.stop = undefined;
    try {
      await stop?.();
    } catch (error) {
      this.logger.error({ err: error }, 'work of the leader failed to stop');
    }
  }
}

/** A replica that runs alone (the file store, `--no-leader-election`): it always leads. */
export function soleReplica(logger: Logger): Leadership {
  const work = new LeadingWork(logger);
  work.lead();
  return work;
}

/** Discovered functions that the leader saves where every replica reads them. */
export interface SharedDiscoveryState extends DiscoveryStateStore {
  /** Calls `listener` with every version saved (by whichever replica leads); returns a stop function. */
  watch(listener: (discovered: DiscoveredMap) => void): () => void;
}

export function isShared(state: DiscoveryStateStore): state is SharedDiscoveryState {
  return 'watch' in state;
}

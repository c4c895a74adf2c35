/**
 * The parent's handle on the forked ADS client process (ads-clients.ts): open the streams, time one
 * change's arrival at every stream, close. Latencies are measured from a `process.hrtime` taken by
 * whoever makes the change (CLOCK_MONOTONIC, comparable across the processes of this machine).
 */
import type { ClientCommand, ClientEvent, OpenCommand } from './ads-clients';
import { ChildIpc, waitFor } from './child-ipc';

export type ArrivalsEvent = Extract<ClientEvent, { ev: 'arrivals' }>;
export type ReadyEvent = Extract<ClientEvent, { ev: 'ready' }>;

export interface ChangeArrivals {
  /** Milliseconds from the change to its arrival, per stream; NaN where it never came. */
  latencies: number[];
  arrivals: ArrivalsEvent;
}

export class AdsFleet {
  private readonly ipc = new ChildIpc<ClientCommand, ClientEvent>('ads-clients.js');

  /** Opens the streams; resolves once each has its first response, or the client's timeout passed. */
  open(command: Omit<OpenCommand, 'cmd'>): Promise<ReadyEvent> {
    return this.ipc.ask({ cmd: 'open', ...command }, 'ready', command.timeoutMs + 30_000);
  }

  /**
   * Arms every stream, makes the change (`change` returns the hrtime it was made at), and waits until
   * every stream has received a new response or `timeoutMs` passed.
   */
  async measure(
    seq: number,
    change: () => bigint | Promise<bigint>,
    timeoutMs: number,
  ): Promise<ChangeArrivals> {
    await this.ipc.ask({ cmd: 'arm', seq, timeoutMs }, 'armed', 10_000);
    const t0 = await change();
    const arrivals = await this.ipc.next('arrivals', timeoutMs + 10_000);
    const latencies = arrivals.arrivals.map((a) => (a === '' ? NaN : Number(BigInt(a) - t0) / 1e6));
    return { latencies, arrivals };
  }

  /** Closes the streams and ends the process; the streams' errors other than cancellation, if it said. */
  async close(): Promise<number | undefined> {
    let errors: number | undefined;
    try {
      errors = (await this.ipc.ask({ cmd: 'close' }, 'closed', 10_000)).errors;
    } catch {
      // killed below
    }
    await waitFor(() => this.ipc.exited, 3_000);
    this.ipc.kill();
    return errors;
  }
}

/**
 * A forked bench process spoken to over IPC: commands go down, events (`{ ev: ... }`) come up and are
 * awaited by kind, in order; an event nobody waits for yet is queued until someone does.
 */
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';

export class ChildIpc<Command, Event extends { ev: string }> {
  private readonly child: ChildProcess;
  private readonly waiting: Array<{ ev: Event['ev']; resolve: (e: Event) => void }> = [];
  private readonly queued: Event[] = [];
  exited = false;

  /** `script`: a compiled module next to this one, e.g. `ads-clients.js`. */
  constructor(
    private readonly script: string,
    { args = [], execArgv = [] }: { args?: string[]; execArgv?: string[] } = {},
  ) {
    this.child = fork(path.join(__dirname, script), args, {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (event: Event) => {
      const i = this.waiting.findIndex((w) => w.ev === event.ev);
      if (i >= 0) this.waiting.splice(i, 1)[0].resolve(event);
      else this.queued.push(event);
    });
    this.child.on('exit', () => {
      this.exited = true;
    });
  }

  send(command: Command): void {
    if (!this.exited) this.child.send(command as object);
  }

  next<E extends Event['ev']>(ev: E, timeoutMs: number): Promise<Extract<Event, { ev: E }>> {
    const i = this.queued.findIndex((e) => e.ev === ev);
    if (i >= 0) return Promise.resolve(this.queued.splice(i, 1)[0] as Extract<Event, { ev: E }>);
    return new Promise((resolve, reject) => {
      const entry = {
        ev,
        resolve: (e: Event) => {
          clearTimeout(timer);
          resolve(e as Extract<Event, { ev: E }>);
        },
      };
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new Error(`${this.script}: no '${ev}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(entry);
    });
  }

  /** Sends `command` and waits for the event `ev`. */
  ask<E extends Event['ev']>(command: Command, ev: E, timeoutMs: number): Promise<Extract<Event, { ev: E }>> {
    this.send(command);
    return this.next(ev, timeoutMs);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/** Polls `condition` every 5 ms; false once `timeoutMs` passed without it. */
export function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      if (condition()) resolve(true);
      else if (Date.now() - started > timeoutMs) resolve(false);
      else setTimeout(tick, 5);
    };
    tick();
  });
}

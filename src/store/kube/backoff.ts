export interface BackoffOptions {
  /** The first delay (ms). Default 200. */
  initialMs?: number;
  /** The longest delay (ms). Default 30 s. */
  maxMs?: number;
}

/**
 * Exponential backoff with jitter: each delay is random in [d/2, d] where d doubles from
 * `initialMs` up to `maxMs`, so replicas that lost the API server together do not come back in step.
 */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private current: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 200;
    this.maxMs = options.maxMs ?? 30_000;
    this.current = this.initialMs;
  }

  next(): number {
    const delay = this.current / 2 + Math.random() * (this.current / 2);
    this.current = Math.min(this.current * 2, this.maxMs);
    return delay;
  }

  reset(): void {
    this.current = this.initialMs;
  }
}

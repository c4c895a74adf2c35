/**
 * A trailing debounce with a bound: `run` is called `delayMs` after the last `schedule()` of a burst,
 * and never later than `maxWaitMs` after its first, so that an endless stream of changes still gets
 * through.
 */
export class BoundedDebounce {
  private timer: NodeJS.Timeout | undefined;
  private deadline: number | undefined;

  constructor(
    private readonly run: () => void,
    private readonly delayMs: number,
    private readonly maxWaitMs = Math.max(1000, delayMs * 10),
  ) {}

  schedule(): void {
    const now = Date.now();
    this.deadline ??= now + this.maxWaitMs;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.cancel();
        this.run();
      },
      Math.max(0, Math.min(this.delayMs, this.deadline - now)),
    );
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.deadline = undefined;
  }
}

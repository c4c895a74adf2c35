import type { Logger } from '../../logger';

/** Calls every listener with `value`: one that throws is logged and does not keep the others from it. */
export function notifyEach<T>(
  listeners: ReadonlySet<(value: T) => void>,
  value: T,
  logger: Logger,
  failure: string,
): void {
  for (const listener of [...listeners]) {
    try {
      listener(value);
    } catch (error) {
      logger.error({ err: error }, failure);
    }
  }
}

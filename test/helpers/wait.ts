/**
 * Polls `probe` until it returns something other than `undefined`, or fails after `timeoutMs` with
 * `description` and the last thing the probe threw or said.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'never probed';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = 'probe returned undefined';
    } catch (error) {
      last = `probe threw: ${(error as Error).message}`;
    }
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description} (${last})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** "1m30s" -> 90000; the grammar is checked by the API schema (DURATION_PATTERN). */
export function durationMs(text: string): number {
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * UNIT_MS[unit];
  }
  return Math.round(total);
}

/** Milliseconds as a proto3 JSON Duration: 3000 -> "3s", 250 -> "0.250s". */
export function protoDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const millis = ms % 1000;
  return millis === 0 ? `${seconds}s` : `${seconds}.${String(millis).padStart(3, '0')}s`;
}

export function toProtoDuration(text: string): string {
  return protoDuration(durationMs(text));
}

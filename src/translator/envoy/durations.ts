const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;

/** "1m30s" -> 90000; the grammar is checked by the API schema (DURATION_PATTERN). */
export function durationMs(text: string): number {
  let total = 0;
  // exec over one regex rather than matchAll, which copies the regex and makes an iterator per call.
  DURATION_PART.lastIndex = 0;
  for (let part = DURATION_PART.exec(text); part; part = DURATION_PART.exec(text)) {
    total += Number(part[1]) * UNIT_MS[part[2]];
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

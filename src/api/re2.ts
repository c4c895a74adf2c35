/** Constructs JavaScript accepts that Envoy's RE2 rejects. */
const RE2_UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/\(\?<?[=!]/, 'lookaround assertions are not supported by RE2'],
  [/\\[1-9]/, 'backreferences are not supported by RE2'],
  [/\\k</, 'named backreferences are not supported by RE2'],
];

/** RE2 refuses counted repetitions above this. */
const RE2_MAX_REPEAT = 1000;
/** The letters RE2 knows after a backslash; JavaScript also takes \u, \c, \e, \Z and more, RE2 does not. */
const RE2_LETTER_ESCAPES = new Set('afnrtvdDsSwWbBAzpPQECx');

function re2SyntaxProblem(pattern: string): string | undefined {
  for (const [, min, max] of pattern.matchAll(/(?<!\\)\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(min) > RE2_MAX_REPEAT || Number(max || 0) > RE2_MAX_REPEAT)
      return `repetition counts above ${RE2_MAX_REPEAT} are not supported by RE2`;
  }
  // Escapes read left to right in pairs, so that `\\u` is an escaped backslash and a `u`.
  for (const [, escaped] of pattern.matchAll(/\\([\s\S])/g)) {
    if (/[a-zA-Z]/.test(escaped) && !RE2_LETTER_ESCAPES.has(escaped))
      return `\\${escaped} is not an escape RE2 knows`;
  }
  return undefined;
}

/** Why `pattern` is not a valid RE2 expression, or undefined when it is. */
export function re2Problem(pattern: string): string | undefined {
  for (const [construct, reason] of RE2_UNSUPPORTED) {
    if (construct.test(pattern)) return reason;
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    return (error as Error).message.replace(/^Invalid regular expression: /, '');
  }
  return re2SyntaxProblem(pattern);
}

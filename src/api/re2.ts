/** Constructs JavaScript accepts that Envoy's RE2 rejects. */
const RE2_UNSUPPORTED: ReadonlyArray<[RegExp, string]> = [
  [/\(\?<?[=!]/, 'lookaround assertions are not supported by RE2'],
  [/\\[1-9]/, 'backreferences are not supported by RE2'],
  [/\\k</, 'named backreferences are not supported by RE2'],
];

/** Why `pattern` is not a valid RE2 expression, or undefined when it is. */
export function re2Problem(pattern: string): string | undefined {
  for (const [construct, reason] of RE2_UNSUPPORTED) {
    if (construct.test(pattern)) return reason;
  }
  try {
    new RegExp(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message.replace(/^Invalid regular expression: /, '');
  }
}

const MAX_NAMES_IN_ERRORS = 20;

/** Names for an error message: the first 20, then how many more. */
export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES_IN_ERRORS).join(', ');
  return names.length > MAX_NAMES_IN_ERRORS
    ? `${shown} and ${names.length - MAX_NAMES_IN_ERRORS} more`
    : shown || 'none';
}

/** A mistake the user can fix (exit code 1); the message says what to do. Anything else exits 2. */
export class UserError extends Error {}

export const EXIT_OK = 0;
export const EXIT_USER_ERROR = 1;
export const EXIT_INTERNAL_ERROR = 2;

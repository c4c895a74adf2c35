import pino from 'pino';

/** Structured JSON logs on stderr (stdout belongs to CLI output). Level from SLUICE_LOG_LEVEL. */
export const logger = pino(
  { level: process.env.SLUICE_LOG_LEVEL ?? 'info', base: { service: 'sluice' } },
  pino.destination(2),
);

export type Logger = typeof logger;

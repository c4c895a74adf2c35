import type { Status } from '../api/resource';
import type { ResourceReport } from '../translator/reports';

export const REPORTED_BY = 'sluice';
/** Bounds on what a status carries, so that one noisy resource cannot bloat the store (Gloo #6128). */
export const MAX_REASONS = 10;
export const MAX_REASON_LENGTH = 1024;

function bounded(reasons: string[]): string[] {
  const clipped = reasons
    .slice(0, MAX_REASONS)
    .map((reason) =>
      reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason,
    );
  if (reasons.length > MAX_REASONS) clipped.push(`… and ${reasons.length - MAX_REASONS} more`);
  return clipped;
}

/** Any error -> Rejected (with warnings too); only warnings -> Warning; nothing -> Accepted. */
export function statusOf(report: ResourceReport, generation?: number): Status {
  const state = report.errors.length > 0 ? 'Rejected' : report.warnings.length > 0 ? 'Warning' : 'Accepted';
  const reasons = bounded([...report.errors, ...report.warnings]);
  return {
    state,
    ...(reasons.length ? { reasons } : {}),
    reportedBy: REPORTED_BY,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

export function sameStatus(a: Status | undefined, b: Status): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b);
}

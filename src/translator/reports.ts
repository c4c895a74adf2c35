import { keyString, type ResourceKey } from '../api/resource';

export interface ResourceReport {
  key: ResourceKey;
  errors: string[];
  warnings: string[];
  /** Errors that do not stop translation: the resource's last accepted version is served instead. */
  toleratedErrors: number;
}

/**
 * Problems found while translating, collected per resource so that one bad resource never stops the
 * others. The reporter turns them into statuses.
 */
export class Reports {
  private readonly byKey = new Map<string, ResourceReport>();

  /** Makes sure `key` gets a status even when nothing is wrong with it. */
  track(key: ResourceKey): ResourceReport {
    const id = keyString(key);
    let report = this.byKey.get(id);
    if (!report) {
      report = { key, errors: [], warnings: [], toleratedErrors: 0 };
      this.byKey.set(id, report);
    }
    return report;
  }

  error(key: ResourceKey, message: string): void {
    const report = this.track(key);
    if (!report.errors.includes(message)) report.errors.push(message);
  }

  warn(key: ResourceKey, message: string): void {
    const report = this.track(key);
    if (!report.warnings.includes(message)) report.warnings.push(message);
  }

  /** The errors reported so far stand, but the resource is still translated (from its last good version). */
  tolerateErrors(key: ResourceKey): void {
    const report = this.track(key);
    report.toleratedErrors = report.errors.length;
  }

  /** True when the resource must be left out of translation. */
  hasErrors(key: ResourceKey): boolean {
    const report = this.byKey.get(keyString(key));
    return report !== undefined && report.errors.length > report.toleratedErrors;
  }

  get(key: ResourceKey): ResourceReport | undefined {
    return this.byKey.get(keyString(key));
  }

  all(): ResourceReport[] {
    return [...this.byKey.values()].sort((a, b) => keyString(a.key).localeCompare(keyString(b.key)));
  }
}

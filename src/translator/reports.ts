import { keyString, type ResourceKey } from '../api/resource';
import { keepHiddenClass } from '../hidden-classes';

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
  /** Kind -> namespace -> name: lookups need no key string built per call (translation makes many). */
  private readonly byKey = new Map<string, Map<string, Map<string, ResourceReport>>>();
  /** Whether any resource has an error: until one has, `hasErrors` (asked for every destination) looks nothing up. */
  private anyErrors = false;

  /** Makes sure `key` gets a status even when nothing is wrong with it. */
  track(key: ResourceKey): ResourceReport {
    let byNamespace = this.byKey.get(key.kind);
    if (!byNamespace) this.byKey.set(key.kind, (byNamespace = new Map()));
    let byName = byNamespace.get(key.namespace);
    if (!byName) byNamespace.set(key.namespace, (byName = new Map()));
    let report = byName.get(key.name);
    if (!report) {
      report = { key, errors: [], warnings: [], toleratedErrors: 0 };
      byName.set(key.name, report);
    }
    return report;
  }

  error(key: ResourceKey, message: string): void {
    const report = this.track(key);
    this.anyErrors = true;
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
    if (!this.anyErrors) return false;
    const report = this.get(key);
    return report !== undefined && report.errors.length > report.toleratedErrors;
  }

  get(key: ResourceKey): ResourceReport | undefined {
    return this.byKey.get(key.kind)?.get(key.namespace)?.get(key.name);
  }

  all(): ResourceReport[] {
    const reports: { id: string; report: ResourceReport }[] = [];
    for (const byNamespace of this.byKey.values()) {
      for (const byName of byNamespace.values()) {
        for (const report of byName.values()) reports.push({ id: keyString(report.key), report });
      }
    }
    return reports.sort((a, b) => a.id.localeCompare(b.id)).map(({ report }) => report);
  }
}

keepHiddenClass(new Reports());

import * as fs from 'fs';
import { translateOnce, type OneTranslation } from '../control-plane/translate-once';
import { FileDiscoveryState } from '../discovery/fds/discovery-state';
import { statusOf } from '../reporter/statuses';
import { FileStore } from '../store/file-store';
import { UserError } from './errors';

export interface ResourceReportRow {
  kind: string;
  namespace: string;
  name: string;
  state: string;
  reasons: string[];
}

export interface OfflineResult extends OneTranslation {
  reports: ResourceReportRow[];
}

export function openStore(configDir: string): FileStore {
  if (!fs.existsSync(configDir) || !fs.statSync(configDir).isDirectory()) {
    throw new UserError(
      `config directory ${configDir} does not exist; pass --config-dir DIR (a directory of YAML files)`,
    );
  }
  return new FileStore(configDir);
}

/**
 * One translation of a config directory, exactly as `serve` would do it, without serving; with the
 * functions discovery last recorded in DIR/.sluice/discovered.json.
 */
export async function translateDirectory(configDir: string): Promise<OfflineResult> {
  const store = openStore(configDir);
  try {
    const discovered = await new FileDiscoveryState(configDir).load();
    const { loaded, translation, snapshots } = translateOnce(await store.load(), discovered);
    return { loaded, translation, snapshots, reports: reportRows({ loaded, translation }) };
  } finally {
    await store.close();
  }
}

/** A row per broken file and per resource, with the state and reasons translation gave it. */
export function reportRows({ loaded, translation }: Omit<OneTranslation, 'snapshots'>): ResourceReportRow[] {
  return [
    ...loaded.fileProblems.map((problem) => ({
      kind: 'File',
      namespace: '',
      name: problem.file,
      state: 'Rejected',
      reasons: [problem.message],
    })),
    ...translation.reports.all().map((report) => {
      const status = statusOf(report);
      return { ...report.key, state: status.state, reasons: status.reasons ?? [] };
    }),
  ];
}

import * as fs from 'fs';
import { loadSnapshot, type LoadedSnapshot } from '../api/load';
import { buildXdsSnapshots } from '../control-plane/xds-snapshots';
import { statusOf } from '../reporter/statuses';
import { FileDiscoveryState } from '../discovery/fds/discovery-state';
import { FileStore } from '../store/file-store';
import { translate, type Translation } from '../translator/translate';
import { ResourceEncoder } from '../xds/encode';
import type { XdsSnapshot } from '../xds/resources';
import { UserError } from './errors';

export interface ResourceReportRow {
  kind: string;
  namespace: string;
  name: string;
  state: string;
  reasons: string[];
}

export interface OfflineResult {
  loaded: LoadedSnapshot;
  translation: Translation;
  snapshots: Map<string, XdsSnapshot>;
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
    const loaded = loadSnapshot(await store.load(), new Map(), discovered);
    const translation = translate(loaded.snapshot, loaded.reports);
    const snapshots = buildXdsSnapshots(
      translation.envoy,
      new ResourceEncoder(),
      translation.reports,
      new Map(),
    );
    const reports: ResourceReportRow[] = [
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
    return { loaded, translation, snapshots, reports };
  } finally {
    await store.close();
  }
}

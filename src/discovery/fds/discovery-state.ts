import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomically } from '../../store/atomic-file';
import type { DiscoveredFunctions } from './discovered';

/** Where discovered functions survive restarts, apart from the resources users write. */
export interface DiscoveryStateStore {
  load(): Promise<Map<string, DiscoveredFunctions>>;
  save(discovered: ReadonlyMap<string, DiscoveredFunctions>): Promise<void>;
}

/** `DIR/.sluice/discovered.json` beside the file store's statuses (hidden: never loaded as resources). */
export class FileDiscoveryState implements DiscoveryStateStore {
  readonly file: string;

  constructor(configDir: string) {
    this.file = path.join(configDir, '.sluice', 'discovered.json');
  }

  async load(): Promise<Map<string, DiscoveredFunctions>> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch {
      return new Map();
    }
    try {
      return new Map(Object.entries(JSON.parse(text) as Record<string, DiscoveredFunctions>));
    } catch {
      // A damaged state file only costs one discovery round: start empty rather than refuse to start.
      return new Map();
    }
  }

  async save(discovered: ReadonlyMap<string, DiscoveredFunctions>): Promise<void> {
    const sorted = Object.fromEntries([...discovered].sort(([a], [b]) => a.localeCompare(b)));
    // Discovery may hold credentials (Azure function keys): readable by the owner only.
    await writeFileAtomically(this.file, `${JSON.stringify(sorted, null, 1)}\n`, { mode: 0o600 });
  }
}

export class MemoryDiscoveryState implements DiscoveryStateStore {
  private state = new Map<string, DiscoveredFunctions>();

  async load(): Promise<Map<string, DiscoveredFunctions>> {
    return new Map(this.state);
  }

  async save(discovered: ReadonlyMap<string, DiscoveredFunctions>): Promise<void> {
    this.state = new Map(discovered);
  }
}

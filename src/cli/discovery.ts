import { discoverAll } from '../discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../discovery/fds/discovered';
import { FileDiscoveryState } from '../discovery/fds/discovery-state';
import { loadSnapshot } from '../api/load';
import { logger } from '../logger';
import { openStore } from './offline';

/**
 * Runs function discovery once over a config directory and records the result where `serve` keeps it
 * (DIR/.sluice/discovered.json), so later commands and a server started later see the same functions.
 */
export async function discoverDirectory(configDir: string): Promise<Map<string, DiscoveredFunctions>> {
  const store = openStore(configDir);
  const state = new FileDiscoveryState(configDir);
  try {
    const previous = await state.load();
    const { snapshot } = loadSnapshot(await store.load(), new Map(), previous);
    const discovered = await discoverAll(snapshot, previous, logger);
    await state.save(discovered);
    return discovered;
  } finally {
    await store.close();
  }
}

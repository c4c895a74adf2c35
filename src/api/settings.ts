import type { ApiSnapshot } from './snapshot';
import type { SettingsSpec } from './types';

/** The Settings in force: the one named `default` (any namespace), else the first in namespace/name order. */
export function activeSettings(snapshot: ApiSnapshot): SettingsSpec {
  const all = [...snapshot.settings.values()];
  return (all.find((settings) => settings.metadata.name === 'default') ?? all[0])?.spec ?? {};
}

import type { ApiSnapshot } from '../../api/snapshot';
import type { SettingsSpec } from '../../api/types';
import { durationMs } from '../../translator/envoy/durations';
import type { FdsMode, FunctionDiscoverer } from './discoverer';

/** The Settings in force: the one named `default` (any namespace), else the first in namespace/name order. */
export function activeSettings(snapshot: ApiSnapshot): SettingsSpec {
  const all = [...snapshot.settings.values()];
  return (all.find((settings) => settings.metadata.name === 'default') ?? all[0])?.spec ?? {};
}

export function fdsModeOf(settings: SettingsSpec): FdsMode {
  return settings.discovery?.fdsMode ?? 'whitelist';
}

export function pollIntervalMs(settings: SettingsSpec, discoverer: FunctionDiscoverer): number {
  const configured = (settings.discovery?.pollIntervals as Record<string, string | undefined> | undefined)?.[
    discoverer.upstreamType
  ];
  return configured ? Math.max(1000, durationMs(configured)) : discoverer.defaultPollIntervalMs;
}

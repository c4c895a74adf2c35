import type { SettingsSpec } from '../../api/types';
import { durationMs } from '../../translator/envoy/durations';
import type { FdsMode, FunctionDiscoverer } from './discoverer';

export function fdsModeOf(settings: SettingsSpec): FdsMode {
  return settings.discovery?.fdsMode ?? 'whitelist';
}

export function pollIntervalMs(settings: SettingsSpec, discoverer: FunctionDiscoverer): number {
  const configured = settings.discovery?.pollIntervals?.[discoverer.pollIntervalKey];
  return configured ? Math.max(1000, durationMs(configured)) : discoverer.defaultPollIntervalMs;
}

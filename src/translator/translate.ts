import type { ApiSnapshot } from '../api/snapshot';
import { translateEnvoy, type EnvoyTranslation } from './envoy/envoy-translator';
import { translateGateways } from './gateway/gateway-translator';
import type { Proxy } from './gateway/proxy';
import type { TranslatorPlugin } from './plugin';
import { PLUGINS } from './plugins';
import type { TranslationMemo } from './memo';
import { Reports } from './reports';

export interface Translation {
  proxies: Proxy[];
  envoy: EnvoyTranslation;
  reports: Reports;
}

/**
 * The pure heart of Sluice: an API snapshot in, the Proxies and every proxy's xDS resources (proto3 JSON)
 * out, with a report per resource. The same snapshot always gives the same output, in the same order.
 * `reports` may arrive pre-filled with errors found while loading (those resources are then skipped).
 */
export function translate(
  snapshot: ApiSnapshot,
  reports = new Reports(),
  plugins: readonly TranslatorPlugin[] = PLUGINS,
  memo?: TranslationMemo,
): Translation {
  memo?.begin(snapshot);
  const ctx = { snapshot, reports, memo };
  const proxies = translateGateways(snapshot, reports);
  const envoy = translateEnvoy(proxies, ctx, plugins);
  return { proxies, envoy, reports };
}

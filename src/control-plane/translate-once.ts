import { loadSnapshot, type LoadedSnapshot } from '../api/load';
import type { ServiceEndpointsMap } from '../api/snapshot';
import type { DiscoveredMap } from '../discovery/fds/discovered';
import type { StoreContents } from '../store/store';
import { translate, type Translation } from '../translator/translate';
import { ResourceEncoder } from '../xds/encode';
import type { XdsSnapshot } from '../xds/resources';
import { buildXdsSnapshots } from './xds-snapshots';

export interface OneTranslation {
  loaded: LoadedSnapshot;
  translation: Translation;
  snapshots: Map<string, XdsSnapshot>;
}

/** The whole pipeline once, with no memory of earlier runs: what `translate`, `get` and `check` show. */
export function translateOnce(
  contents: StoreContents,
  discovered: DiscoveredMap = new Map(),
  endpoints?: ServiceEndpointsMap,
): OneTranslation {
  const loaded = loadSnapshot(contents, new Map(), discovered);
  // As the control plane does: Service endpoints (Kubernetes) are not the store's, they join here.
  const translation = translate({ ...loaded.snapshot, endpoints }, loaded.reports);
  const snapshots = buildXdsSnapshots(
    translation.envoy,
    new ResourceEncoder(),
    translation.reports,
    new Map(),
  );
  return { loaded, translation, snapshots };
}

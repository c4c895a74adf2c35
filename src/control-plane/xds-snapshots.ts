import type { EnvoyTranslation } from '../translator/envoy/envoy-translator';
import type { Reports } from '../translator/reports';
import type { ResourceEncoder } from '../xds/encode';
import type { XdsResource, XdsSnapshot } from '../xds/resources';
import type { TypeUrl } from '../xds/type-urls';

/**
 * Encodes every proxy's resources. A resource that breaks Envoy's validation rules is never sent: the
 * previous version of it (if any) stays, and the error is reported on the API resources it came from.
 */
export function buildXdsSnapshots(
  translation: EnvoyTranslation,
  encoder: ResourceEncoder,
  reports: Reports,
  previous: ReadonlyMap<string, XdsSnapshot>,
): Map<string, XdsSnapshot> {
  const snapshots = new Map<string, XdsSnapshot>();
  for (const [proxyKey, resources] of translation.byProxy) {
    const snapshot = new Map<TypeUrl, Map<string, XdsResource>>();
    for (const [typeUrl, byName] of resources) {
      const encoded = new Map<string, XdsResource>();
      // forEach: no [name, json] pair allocated per resource.
      byName.forEach((json, name) => {
        const result = encoder.encode(typeUrl, json);
        if (!('violations' in result)) {
          encoded.set(name, result);
          return;
        }
        for (const owner of translation.owners.of(typeUrl, name)) {
          reports.error(
            owner,
            `generated ${typeUrl.split('.').pop()} ${name} is invalid for Envoy: ${result.violations.slice(0, 3).join('; ')}`,
          );
        }
        const last = previous.get(proxyKey)?.get(typeUrl)?.get(name);
        if (last) encoded.set(name, last);
      });
      snapshot.set(typeUrl, encoded);
    }
    snapshots.set(proxyKey, snapshot);
  }
  encoder.forgetUnused();
  return snapshots;
}

/**
 * Nodes may name a proxy without its namespace (`gateway-proxy`, or no role at all): such a short name
 * means the proxy of that name in `default`, or in the only namespace that has one.
 */
export function withShortNames(snapshots: Map<string, XdsSnapshot>): Map<string, XdsSnapshot> {
  const byName = new Map<string, string[]>();
  for (const key of snapshots.keys()) {
    const [, name] = key.split('~', 2);
    byName.set(name, [...(byName.get(name) ?? []), key]);
  }
  const out = new Map(snapshots);
  for (const [name, keys] of byName) {
    const chosen = keys.length === 1 ? keys[0] : keys.find((key) => key.startsWith('default~'));
    if (chosen) out.set(name, snapshots.get(chosen) as XdsSnapshot);
  }
  return out;
}

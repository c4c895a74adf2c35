import type { ServiceEndpoint, ServiceEndpointsMap } from '../../../src/api/snapshot';
import { translateOnce } from '../../../src/control-plane/translate-once';
import { TYPE_URLS } from '../../../src/xds/type-urls';
import { contentsOf, virtualService } from '../../helpers/translate-yaml';

const PROXY = 'default~gateway-proxy';

/** Two upstreams of the Service petstore: all its Pods, and those labelled version v2 (a canary). */
const YAML = `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default}
spec: {kube: {serviceName: petstore, servicePort: 8080}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore-v2, namespace: default}
spec: {kube: {serviceName: petstore, servicePort: 8080, selector: {app: petstore, version: v2}}}
${virtualService(`
    - matchers: [{prefix: /v2}]
      routeAction: {single: {upstream: {name: petstore-v2}}}
    - routeAction: {single: {upstream: {name: petstore}}}`)}`;

function endpoint(address: string, podLabels?: Record<string, string>): ServiceEndpoint {
  return { address, port: 3000, portName: 'http', ready: true, ...(podLabels ? { podLabels } : {}) };
}

function petstore(endpoints: ServiceEndpoint[]): ServiceEndpointsMap {
  return new Map([['default/petstore', { ports: [{ port: 8080, name: 'http' }], endpoints }]]);
}

function translated(endpoints?: ServiceEndpointsMap) {
  const { snapshots, translation } = translateOnce(contentsOf(YAML), new Map(), endpoints);
  const snapshot = snapshots.get(PROXY)!;
  /** name -> version of every resource of `typeUrl`. */
  const versions = (typeUrl: string) =>
    new Map([...(snapshot.get(typeUrl as never)?.values() ?? [])].map((r) => [r.name, r.version]));
  const addresses = (cluster: string) => {
    const json = snapshot.get(TYPE_URLS.endpoint)?.get(cluster)?.json as
      | {
          endpoints?: Array<{
            lbEndpoints?: Array<{ endpoint: { address: { socketAddress: { address: string } } } }>;
          }>;
        }
      | undefined;
    return (json?.endpoints ?? []).flatMap((locality) =>
      (locality.lbEndpoints ?? []).map(({ endpoint: e }) => e.address.socketAddress.address),
    );
  };
  const warnings = (name: string) =>
    translation.reports.get({ kind: 'Upstream', namespace: 'default', name })?.warnings ?? [];
  return { versions, addresses, warnings };
}

const V1 = { app: 'petstore', version: 'v1' };
const V2 = { app: 'petstore', version: 'v2', team: 'pets' };

describe('kube upstreams with a selector', () => {
  it('get only the endpoints whose Pod carries every label of the selector', () => {
    const result = translated(
      petstore([
        endpoint('10.1.0.1', V1),
        endpoint('10.1.0.2', V2),
        endpoint('10.1.0.3', { version: 'v2' }),
        // No Pod (targetRef), or a Pod not known yet: left out with a selector, kept without.
        endpoint('10.1.0.4'),
      ]),
    );
    expect(result.addresses('petstore-v2_default')).toEqual(['10.1.0.2']);
    expect(result.addresses('petstore_default')).toEqual(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']);
    expect(result.warnings('petstore-v2')).toEqual([]);
  });

  it('move an endpoint in or out when its Pod is relabelled, changing that ClusterLoadAssignment only', () => {
    const before = translated(petstore([endpoint('10.1.0.1', V1), endpoint('10.1.0.2', V2)]));
    const after = translated(petstore([endpoint('10.1.0.1', V2), endpoint('10.1.0.2', V2)]));
    expect(after.addresses('petstore-v2_default')).toEqual(['10.1.0.1', '10.1.0.2']);

    for (const typeUrl of [TYPE_URLS.cluster, TYPE_URLS.listener, TYPE_URLS.route]) {
      expect(after.versions(typeUrl)).toEqual(before.versions(typeUrl));
    }
    const [beforeEds, afterEds] = [before, after].map((result) => result.versions(TYPE_URLS.endpoint));
    expect(afterEds.get('petstore_default')).toBe(beforeEds.get('petstore_default'));
    expect(afterEds.get('petstore-v2_default')).not.toBe(beforeEds.get('petstore-v2_default'));
  });

  it('warn that the selector is ignored where the Service DNS name stands in for the endpoints', () => {
    const result = translated();
    expect(result.warnings('petstore-v2')).toEqual([
      expect.stringMatching(
        /^spec\.kube\.selector: ignored: Sluice knows no endpoints of Service default\/petstore/,
      ),
    ]);
    expect(result.warnings('petstore')).toEqual([]);
  });
});

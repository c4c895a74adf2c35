import { parseAllDocuments } from 'yaml';
import { loadSnapshot, type ParseCache } from '../../src/api/load';
import type { Resource } from '../../src/api/resource';
import type { Json } from '../../src/translator/plugin';
import { PLUGINS } from '../../src/translator/plugins';
import { TranslationMemo } from '../../src/translator/memo';
import { translate } from '../../src/translator/translate';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { UPSTREAMS } from '../helpers/translate-yaml';

function vs(name: string, prefix: string, upstream = 'petstore'): string {
  return `
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: ${name}, namespace: default, resourceVersion: "${name}-${prefix}-${upstream}"}
spec: {virtualHost: {domains: [${name}.example], routes: [{matchers: [{prefix: ${prefix}}], routeAction: {single: {upstream: {name: ${upstream}}}}}, {matchers: [{prefix: /gone}], routeAction: {single: {upstream: {name: nowhere}}}}]}}
`;
}

/** Documents with a resourceVersion derived from their text, as the stores give them. */
function contents(yaml: string) {
  return {
    resources: parseAllDocuments(yaml)
      .filter((doc) => doc.contents !== null)
      .map((doc) => {
        const resource = doc.toJS() as Resource;
        resource.metadata.resourceVersion ??= JSON.stringify(resource.spec);
        return { resource, location: {} };
      }),
    errors: [],
  };
}

const NOTHING_DISCOVERED = new Map();

function run(yaml: string, memo: TranslationMemo, cache: ParseCache) {
  const loaded = loadSnapshot(contents(yaml), new Map(), NOTHING_DISCOVERED, cache);
  const translation = translate(loaded.snapshot, loaded.reports, PLUGINS, memo);
  const routeConfig = translation.envoy.byProxy
    .get('default~gateway-proxy')
    ?.get(TYPE_URLS.route)
    ?.get('listener-::-8080-routes');
  const hosts = (routeConfig?.virtualHosts ?? []) as Json[];
  const clusters = [
    ...(translation.envoy.byProxy.get('default~gateway-proxy')?.get(TYPE_URLS.cluster)?.values() ?? []),
  ];
  return { translation, hosts, clusters };
}

describe('incremental translation', () => {
  it('re-translates only the VirtualService that changed, with the same output as a full translation', () => {
    const memo = new TranslationMemo();
    const cache: ParseCache = new Map();
    const first = run(UPSTREAMS + vs('a', '/a') + vs('b', '/b'), memo, cache);
    const second = run(UPSTREAMS + vs('a', '/a') + vs('b', '/b2'), memo, cache);
    expect(second.hosts[0]).toBe(first.hosts[0]);
    expect(second.hosts[1]).not.toBe(first.hosts[1]);
    expect(second.clusters[0]).toBe(first.clusters[0]);
    const fresh = run(UPSTREAMS + vs('a', '/a') + vs('b', '/b2'), new TranslationMemo(), new Map());
    expect(second.hosts).toEqual(fresh.hosts);
    expect(second.translation.reports.all()).toEqual(fresh.translation.reports.all());
    expect(
      second.translation.reports.get({ kind: 'VirtualService', namespace: 'default', name: 'a' })?.warnings,
    ).toEqual(['spec.virtualHost.routes[1]: route rejected: upstream default/nowhere not found']);
  });

  it('re-translates every virtual host when something routes may depend on changes', () => {
    const memo = new TranslationMemo();
    const cache: ParseCache = new Map();
    const first = run(UPSTREAMS + vs('a', '/a') + vs('b', '/b', 'canary'), memo, cache);
    const moved = UPSTREAMS.replace('port: 8080}]}}\n---', 'port: 9090}]}}\n---');
    const second = run(moved + vs('a', '/a') + vs('b', '/b', 'canary'), memo, cache);
    expect(second.hosts[0]).not.toBe(first.hosts[0]);
    expect(second.clusters.find((c) => c.name === 'canary_default')).toBe(
      first.clusters.find((c) => c.name === 'canary_default'),
    );
    const withNowhere = `${UPSTREAMS}---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: nowhere, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.99, port: 80}]}}
`;
    const third = run(withNowhere + vs('a', '/a') + vs('b', '/b', 'canary'), memo, cache);
    expect(
      third.translation.reports.get({ kind: 'VirtualService', namespace: 'default', name: 'a' })?.warnings,
    ).toEqual([]);
  });
});

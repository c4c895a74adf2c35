import { parseAllDocuments } from 'yaml';
import type { Resource } from '../../src/api/resource';
import { translateOnce } from '../../src/control-plane/translate-once';
import type { Json } from '../../src/translator/plugin';
import { TYPE_URLS } from '../../src/xds/type-urls';
import type { StoreContents } from '../../src/store/store';

/** YAML documents -> store contents, each document's location being `test.yaml:<index>`. */
export function contentsOf(yaml: string): StoreContents {
  return {
    resources: parseAllDocuments(yaml)
      .filter((doc) => doc.contents !== null)
      .map((doc, index) => ({
        resource: doc.toJS() as Resource,
        location: { file: 'test.yaml', line: index + 1 },
      })),
    errors: [],
  };
}

/** The whole pipeline as `serve` runs it, for one YAML text. */
export function translateYaml(yaml: string) {
  const { loaded, translation, snapshots } = translateOnce(contentsOf(yaml));
  const proxy = (key = 'default~gateway-proxy') => translation.envoy.byProxy.get(key);
  const resources = (typeUrl: string, key?: string): Json[] => [
    ...(proxy(key)
      ?.get(typeUrl as never)
      ?.values() ?? []),
  ];
  const status = (kind: string, name: string, namespace = 'default') => {
    const report = translation.reports.get({ kind: kind as never, namespace, name });
    if (!report) return undefined;
    return { errors: report.errors, warnings: report.warnings };
  };
  return {
    loaded,
    translation,
    snapshots,
    status,
    clusters: (key?: string) => resources(TYPE_URLS.cluster, key),
    endpoints: (key?: string) => resources(TYPE_URLS.endpoint, key),
    listeners: (key?: string) => resources(TYPE_URLS.listener, key),
    routeConfigs: (key?: string) => resources(TYPE_URLS.route, key),
    /** The routes of the first virtual host of the first route configuration. */
    routes: (key?: string) =>
      ((resources(TYPE_URLS.route, key)[0]?.virtualHosts as Json[] | undefined)?.[0]?.routes ?? []) as Json[],
  };
}

export const UPSTREAMS = `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.12, port: 8080}]}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: canary, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.13, port: 8080}]}}
`;

/** A VirtualService named `vs` with the given routes (YAML flow text, one route per list item). */
export function virtualService(routes: string, extra = ''): string {
  return `
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  virtualHost:
    domains: ["*"]
    routes: ${routes}
${extra}`;
}

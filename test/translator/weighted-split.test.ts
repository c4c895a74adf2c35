import type { ServiceEndpointsMap } from '../../src/api/snapshot';
import { translateOnce } from '../../src/control-plane/translate-once';
import type { Json } from '../../src/translator/plugin';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { contentsOf, virtualService } from '../helpers/translate-yaml';
import { strictXdsProblems, xdsResourcesOf } from '../helpers/xds-strict';

const AZURE_HOST = 'orders.azurewebsites.net';

/** A kube Service, an Azure function with a key, a REST operation and a plain static upstream. */
const UPSTREAMS = `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: hello-key, namespace: default}
type: generic
data: {key: KEY}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default}
spec: {kube: {serviceName: petstore, servicePort: 8080}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: orders, namespace: default}
spec:
  azure:
    subscriptionId: 5f1c0d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f
    functionAppName: orders
    functions: [{functionName: hello, keySecretRef: {name: hello-key}}]
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: pets, namespace: default}
spec:
  static:
    hosts: [{address: 10.0.0.12, port: 8080}]
    serviceSpec: {rest: {functions: [{name: listPets, method: GET, path: /pets, basePath: /v1}]}}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: plain, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.13, port: 8080}]}}
`;

const ENDPOINTS: ServiceEndpointsMap = new Map([
  [
    'default/petstore',
    {
      ports: [{ port: 8080, name: 'http' }],
      endpoints: [{ address: '10.1.0.5', port: 3000, portName: 'http', ready: true }],
    },
  ],
]);

function run(routes: string) {
  const { translation, snapshots } = translateOnce(
    contentsOf(UPSTREAMS + virtualService(routes)),
    new Map(),
    ENDPOINTS,
  );
  const routeConfig = [
    ...(snapshots
      .get('default~gateway-proxy')
      ?.get(TYPE_URLS.route as never)
      ?.values() ?? []),
  ][0]?.json as Json;
  const report = translation.reports.get({ kind: 'VirtualService', namespace: 'default', name: 'vs' });
  return {
    routes: ((routeConfig?.virtualHosts as Json[] | undefined)?.[0]?.routes ?? []) as Json[],
    warnings: report?.warnings ?? [],
    wireProblems: xdsResourcesOf(snapshots).flatMap((resource) =>
      strictXdsProblems(resource).map((problem) => `${resource.name}: ${problem}`),
    ),
  };
}

describe('weighted splits between destinations that need different route settings', () => {
  it('puts the host rewrite and key header of an Azure function on its weighted cluster only', () => {
    // Matched at the function's own path: neither destination needs it rewritten.
    const result = run(`[{matchers: [{exact: /api/hello}], routeAction: {multi: {destinations: [
      {weight: 90, destination: {upstream: {name: petstore}}},
      {weight: 10, destination: {upstream: {name: orders}, function: hello}}]}}}]`);
    expect(result.warnings).toEqual([]);
    expect(result.routes[0].route).toEqual({
      weightedClusters: {
        clusters: [
          { name: 'petstore_default', weight: 90 },
          {
            name: `orders_default_${AZURE_HOST}`,
            weight: 10,
            requestHeadersToAdd: [
              {
                header: { key: 'x-functions-key', value: 'KEY' },
                appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            ],
            hostRewriteLiteral: AZURE_HOST,
          },
        ],
      },
    });
    expect(result.wireProblems).toEqual([]);
  });

  it('rejects a split whose destinations need different paths, naming the one that rewrites; keeps one that needs none', () => {
    const result = run(`[
      {matchers: [{prefix: /ok}], routeAction: {single: {upstream: {name: plain}}}},
      {matchers: [{exact: /pets}], routeAction: {multi: {destinations: [
        {weight: 1, destination: {upstream: {name: plain}}},
        {weight: 1, destination: {upstream: {name: pets}, function: listPets}}]}}},
      {matchers: [{exact: /pets}], routeAction: {multi: {destinations: [
        {weight: 1, destination: {upstream: {name: pets}, function: listPets}},
        {weight: 1, destination: {upstream: {name: plain}}}]}}},
      {matchers: [{exact: /v1/pets}], routeAction: {multi: {destinations: [
        {weight: 1, destination: {upstream: {name: plain}}},
        {weight: 1, destination: {upstream: {name: pets}, function: listPets}}]}}}]`);
    const needs =
      'needs the path rewritten to /v1/pets, which Envoy applies to the whole route, and destinations[0] needs it kept; ' +
      'split between destinations that need the same path, or use separate routes';
    expect(result.warnings).toEqual([
      `spec.virtualHost.routes[1]: route rejected: routeAction.multi.destinations[1]: ${needs}`,
      `spec.virtualHost.routes[2]: route rejected: routeAction.multi.destinations[0]: ${needs.replace('destinations[0]', 'destinations[1]')}`,
    ]);
    expect(result.routes.map((route) => (route.directResponse as Json | undefined)?.status)).toEqual([
      undefined,
      503,
      503,
      undefined,
    ]);
    // Matched at the operation's own path, it needs no rewrite: the split stands, the path untouched.
    expect(result.routes[3].route).toEqual({
      weightedClusters: {
        clusters: [
          { name: 'plain_default', weight: 1 },
          { name: 'pets_default', weight: 1 },
        ],
      },
    });
    expect(result.wireProblems).toEqual([]);
  });
});

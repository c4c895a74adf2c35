import { isDeepStrictEqual } from 'node:util';
import type { DiscoveredAzureFunction } from '../../../src/api/azure';
import { loadSnapshot, type ParseCache } from '../../../src/api/load';
import { translateOnce } from '../../../src/control-plane/translate-once';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { TranslationMemo } from '../../../src/translator/memo';
import type { Json } from '../../../src/translator/plugin';
import { PLUGINS } from '../../../src/translator/plugins';
import { azurePlugin } from '../../../src/translator/plugins/azure';
import { translate } from '../../../src/translator/translate';
import { validateMessage } from '../../../src/xds/pgv';
import { decodeToJson } from '../../../src/xds/proto-json';
import { redactSecrets } from '../../../src/xds/redact';
import { messageNameOf, TYPE_URLS } from '../../../src/xds/type-urls';
import { envoyRouter } from '../../helpers/envoy-routes';
import { contentsOf, virtualService } from '../../helpers/translate-yaml';

const SUBSCRIPTION = '5f1c0d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f';
const ORDERS_HOST = 'orders.azurewebsites.net';
const ORDERS_CLUSTER = `orders_default_${ORDERS_HOST}`;
const KEY_HEADER = 'x-functions-key';

/** `orders`: one function app; `everything`: every app of the subscription. */
const UPSTREAMS = `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: manual-key, namespace: default}
type: generic
data: {key: FROM-SECRET}
---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: keyless, namespace: default}
type: generic
data: {other: x}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: orders, namespace: default}
spec:
  azure:
    subscriptionId: ${SUBSCRIPTION}
    functionAppName: orders
    functions:
    - {functionName: manual, keySecretRef: {name: manual-key}}
    - {functionName: broken-ref, keySecretRef: {name: keyless}}
    - {functionName: by-hand, authLevel: anonymous, route: "made/by/hand"}
    - {functionName: elsewhere, functionAppName: billing, authLevel: anonymous}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: everything, namespace: default}
spec:
  azure:
    subscriptionId: ${SUBSCRIPTION}
    resourceGroup: shop
    functions: [{functionName: orphan}]
`;

function fn(
  app: string,
  name: string,
  fields: Partial<DiscoveredAzureFunction> = {},
): DiscoveredAzureFunction {
  return {
    functionAppName: app,
    functionName: name,
    resourceGroup: 'shop',
    hostName: `${app}.azurewebsites.net`,
    trigger: 'httpTrigger',
    authLevel: 'function',
    route: name,
    path: `/api/${name}`,
    ...fields,
  };
}

const ORDERS_FUNCTIONS = [
  fn('orders', 'hello', { secrets: { functionKey: 'fk%1' } }),
  fn('orders', 'purge', { authLevel: 'admin', secrets: { masterKey: 'MASTER' } }),
  fn('orders', 'shared', { secrets: { hostKey: 'HOST' } }),
  fn('orders', 'lookup', { authLevel: 'anonymous', route: 'orders/{id:int}', path: '/api/orders/{id:int}' }),
  fn('orders', 'nightly', {
    trigger: 'timerTrigger',
    authLevel: undefined,
    route: undefined,
    path: undefined,
  }),
  fn('orders', 'locked', { keyError: 'AuthorizationFailed: no listkeys permission (HTTP 403)' }),
  fn('orders', 'manual', { secrets: { functionKey: 'DISCOVERED' } }),
];

function found(functions: DiscoveredAzureFunction[], error?: string): DiscoveredFunctions {
  return {
    discoverer: 'azure-functions',
    functions: functions as unknown as Array<Record<string, unknown>>,
    updatedAt: '2026-01-01T00:00:00Z',
    ...(error ? { error } : {}),
  };
}

const DISCOVERED = new Map([
  ['default/orders', found(ORDERS_FUNCTIONS)],
  [
    'default/everything',
    found([
      fn('orders', 'hello', { secrets: { functionKey: 'K1' } }),
      fn('billing', 'invoice', { hostName: 'billing-x1.azurewebsites.net', secrets: { hostKey: 'K2' } }),
      fn('reports', 'cron', {
        trigger: 'timerTrigger',
        authLevel: undefined,
        route: undefined,
        path: undefined,
      }),
    ]),
  ],
]);

function run(routes: string, discovered = DISCOVERED) {
  const { translation, snapshots } = translateOnce(
    contentsOf(UPSTREAMS + virtualService(routes)),
    discovered,
  );
  const snapshot = snapshots.get('default~gateway-proxy');
  const served = (typeUrl: string) => [...(snapshot?.get(typeUrl as never)?.values() ?? [])];
  const routeConfig = served(TYPE_URLS.route)[0]?.json as Json;
  const report = (kind: string, name: string) =>
    translation.reports.get({ kind: kind as never, namespace: 'default', name });
  return {
    translation,
    resources: () => [...(snapshot?.values() ?? [])].flatMap((byName) => [...byName.values()]),
    clusters: () => served(TYPE_URLS.cluster).map((resource) => resource.json),
    routeConfig,
    routes: ((routeConfig?.virtualHosts as Json[] | undefined)?.[0]?.routes ?? []) as Json[],
    warnings: (kind = 'VirtualService', name = 'vs') => report(kind, name)?.warnings ?? [],
  };
}

/** What Envoy would object to: PGV rule violations, and resources that do not decode back to what was built. */
function problemsOf(resources: ReturnType<ReturnType<typeof run>['resources']>): string[] {
  return resources.flatMap((resource) => {
    const messageName = messageNameOf(resource.typeUrl);
    const decoded = decodeToJson(messageName, resource.bytes);
    const violations = validateMessage(messageName, decoded).map(
      (violation) => `${resource.name}: ${violation}`,
    );
    return isDeepStrictEqual(decoded, resource.json)
      ? violations
      : [...violations, `${resource.name}: decodes differently`];
  });
}

const keyHeader = (value: string) => [
  { header: { key: KEY_HEADER, value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
];

/** The route Envoy serves in place of a rejected one. */
const rejected = (match: Json) => ({
  match,
  directResponse: {
    status: 503,
    body: { inlineString: 'sluice: this route is rejected; see the status of VirtualService/default/vs\n' },
  },
});

describe('azure plugin', () => {
  it("routes a function to its app's host over TLS, rewriting host and path, with its key in x-functions-key", () => {
    const result = run(
      `[{matchers: [{prefix: /azure/hello}], routeAction: {single: {upstream: {name: orders}, function: hello}}}]`,
    );
    expect(result.warnings()).toEqual([]);
    expect(result.routes).toEqual([
      {
        match: { prefix: '/azure/hello' },
        route: { cluster: ORDERS_CLUSTER, hostRewriteLiteral: ORDERS_HOST, prefixRewrite: '/api/hello' },
        // The key's % is doubled: header values are format strings.
        requestHeadersToAdd: keyHeader('fk%%1'),
      },
    ]);
    expect(result.clusters().find((cluster) => cluster.name === ORDERS_CLUSTER)).toEqual({
      name: ORDERS_CLUSTER,
      connectTimeout: '5s',
      transportSocket: {
        name: 'envoy.transport_sockets.tls',
        typedConfig: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          sni: ORDERS_HOST,
          commonTlsContext: {
            validationContext: { trustedCa: { filename: '/etc/ssl/certs/ca-certificates.crt' } },
          },
        },
      },
      type: 'LOGICAL_DNS',
      dnsLookupFamily: 'V4_PREFERRED',
      loadAssignment: {
        clusterName: ORDERS_CLUSTER,
        endpoints: [
          {
            locality: {},
            loadBalancingWeight: 1,
            lbEndpoints: [
              { endpoint: { address: { socketAddress: { address: ORDERS_HOST, portValue: 443 } } } },
            ],
          },
        ],
      },
    });
    expect(
      result
        .clusters()
        .map((cluster) => cluster.name)
        .sort(),
    ).toEqual([
      'everything_default_billing-x1.azurewebsites.net',
      `everything_default_${ORDERS_HOST}`,
      'orders_default_billing.azurewebsites.net',
      ORDERS_CLUSTER,
    ]);
    expect(problemsOf(result.resources())).toEqual([]);
    const router = envoyRouter(result.routeConfig);
    expect(router({ method: 'GET', path: '/azure/hello?name=sluice' })?.forwardedPath).toBe(
      '/api/hello?name=sluice',
    );
  });

  it('sends no key to anonymous functions, the master key to admin ones, a host key where a function has none', () => {
    const result = run(`[
      {matchers: [{exact: /open}], routeAction: {single: {upstream: {name: orders}, function: by-hand}}},
      {matchers: [{prefix: /purge}], routeAction: {single: {upstream: {name: orders}, function: purge}}},
      {matchers: [{prefix: /shared}], routeAction: {single: {upstream: {name: orders}, function: shared}}},
      {matchers: [{prefix: /manual}], routeAction: {single: {upstream: {name: orders}, function: manual}}},
      {matchers: [{prefix: /billing}], routeAction: {single: {upstream: {name: orders}, function: billing/elsewhere}}}]`);
    expect(result.warnings()).toEqual([]);
    expect(result.routes).toEqual([
      {
        match: { path: '/open' },
        route: {
          cluster: ORDERS_CLUSTER,
          hostRewriteLiteral: ORDERS_HOST,
          prefixRewrite: '/api/made/by/hand',
        },
      },
      {
        match: { prefix: '/purge' },
        route: { cluster: ORDERS_CLUSTER, hostRewriteLiteral: ORDERS_HOST, prefixRewrite: '/api/purge' },
        requestHeadersToAdd: keyHeader('MASTER'),
      },
      {
        match: { prefix: '/shared' },
        route: { cluster: ORDERS_CLUSTER, hostRewriteLiteral: ORDERS_HOST, prefixRewrite: '/api/shared' },
        requestHeadersToAdd: keyHeader('HOST'),
      },
      {
        // A key written in a Secret wins over the one discovery read.
        match: { prefix: '/manual' },
        route: { cluster: ORDERS_CLUSTER, hostRewriteLiteral: ORDERS_HOST, prefixRewrite: '/api/manual' },
        requestHeadersToAdd: keyHeader('FROM-SECRET'),
      },
      {
        match: { prefix: '/billing' },
        route: {
          cluster: 'orders_default_billing.azurewebsites.net',
          hostRewriteLiteral: 'billing.azurewebsites.net',
          prefixRewrite: '/api/elsewhere',
        },
      },
    ]);
    expect(problemsOf(result.resources())).toEqual([]);
  });

  it('rejects a route to a function whose key is unknown, saying what to configure', () => {
    const result = run(`[
      {matchers: [{prefix: /locked}], routeAction: {single: {upstream: {name: orders}, function: locked}}},
      {matchers: [{prefix: /broken}], routeAction: {single: {upstream: {name: orders}, function: broken-ref}}}]`);
    expect(result.routes).toEqual([rejected({ prefix: '/locked' }), rejected({ prefix: '/broken' })]);
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/orders: function "locked" needs a function key (authLevel function), and discovery could not read it: AuthorizationFailed: no listkeys permission (HTTP 403): set keySecretRef in spec.azure.functions ({functionName: locked, keySecretRef}) (a Secret with data.key), or give discovery a service principal that may list keys (spec.azure.secretRef)',
      'spec.virtualHost.routes[1]: route rejected: upstream default/orders: spec.azure.functions[1].keySecretRef: Secret default/keyless has no key in data',
    ]);
    const undiscovered = run(
      `[{matchers: [{prefix: /manual}], routeAction: {single: {upstream: {name: everything}, function: orders/hello}}}]`,
      new Map(),
    );
    expect(undiscovered.warnings()).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/everything has no Azure function "orders/hello" (known: none)',
    ]);
  });

  it('fills route parameters from the rest of the path after a prefix, and replaces the whole path otherwise', () => {
    const result = run(`[
      {matchers: [{prefix: /orders}], routeAction: {single: {upstream: {name: orders}, function: lookup}}},
      {matchers: [{regex: "/hi|/hello"}], routeAction: {single: {upstream: {name: orders}, function: hello}}},
      {matchers: [{pathTemplate: "/greet/{name}"}], routeAction: {single: {upstream: {name: orders}, function: hello}}},
      {matchers: [{exact: /by-id}], routeAction: {single: {upstream: {name: orders}, function: lookup}}},
      {matchers: [{prefix: /a}, {exact: /b}, {regex: "/c+"}], routeAction: {single: {upstream: {name: orders}, function: hello}}}]`);
    const router = envoyRouter(result.routeConfig);
    const forwarded = (path: string) => router({ method: 'GET', path })?.forwardedPath;
    expect(forwarded('/orders/42?x=1')).toBe('/api/orders/42?x=1');
    expect(forwarded('/hi?x=1')).toBe('/api/hello?x=1');
    expect(forwarded('/greet/ann')).toBe('/api/hello');
    expect(result.routes[3]).toEqual(rejected({ path: '/by-id' }));
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[3]: route rejected: upstream default/orders: matchers[0]: function lookup has route parameters (/api/orders/{id:int}): match it with a prefix, after which the request path fills them',
      'spec.virtualHost.routes[4]: route rejected: upstream default/orders: matchers[2]: needs a different path rewrite than matchers[0]; split the route',
    ]);
    expect(problemsOf(result.resources())).toEqual([]);
  });

  it('says why a destination cannot be served', () => {
    const result = run(`[
      {matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: orders}, function: nope}}},
      {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: orders}, function: nightly}}},
      {matchers: [{prefix: /c}], routeAction: {single: {upstream: {name: orders}}}},
      {matchers: [{prefix: /d}], routeAction: {single: {upstream: {name: orders}, function: hello}}, options: {prefixRewrite: /x}},
      {matchers: [{prefix: /e}], routeAction: {single: {upstream: {name: orders}, function: hello}}, options: {hostRewrite: x.example}}]`);
    const known = 'manual, broken-ref, by-hand, billing/elsewhere, hello, purge, shared, lookup, locked';
    expect(result.warnings()).toEqual([
      `spec.virtualHost.routes[0]: route rejected: upstream default/orders has no Azure function "nope" (known: ${known})`,
      'spec.virtualHost.routes[1]: route rejected: upstream default/orders: function "nightly" is triggered by timerTrigger, not HTTP: it cannot be routed',
      `spec.virtualHost.routes[2]: route rejected: upstream default/orders is an Azure Functions upstream: set function (known: ${known})`,
      'spec.virtualHost.routes[3]: route rejected: options.prefixRewrite: function hello sets the upstream path itself; remove prefixRewrite',
      "spec.virtualHost.routes[4]: route rejected: options.hostRewrite: function hello is reached through its app's host name; remove hostRewrite",
    ]);
  });

  it('names functions APP/FUNCTION on an upstream of every app, one cluster per app host, and warns about what cannot be used', () => {
    const result = run(`[
      {matchers: [{prefix: /invoice}], routeAction: {single: {upstream: {name: everything}, function: billing/invoice}}}]`);
    expect(result.routes).toEqual([
      {
        match: { prefix: '/invoice' },
        route: {
          cluster: 'everything_default_billing-x1.azurewebsites.net',
          hostRewriteLiteral: 'billing-x1.azurewebsites.net',
          prefixRewrite: '/api/invoice',
        },
        requestHeadersToAdd: keyHeader('K2'),
      },
    ]);
    expect(result.warnings('Upstream', 'everything')).toEqual([
      'spec.azure.functions[0] (orphan): set functionAppName; the upstream does not name one app',
      'function app reports has no HTTP-triggered functions (cron: timerTrigger); only HTTP functions can be routed',
    ]);
    expect(result.warnings('Upstream', 'orders')).toEqual([]);
  });

  it('warns when discovery finds no functions, but not while discovery is failing (that warning says so)', () => {
    const empty = run(
      '[]',
      new Map([
        ['default/orders', found([])],
        ['default/everything', found([])],
      ]),
    );
    expect(empty.warnings('Upstream', 'orders')).toEqual([
      'function app orders has no functions: deploy functions to it, or name the app that has them in spec.azure.functionAppName',
    ]);
    expect(empty.warnings('Upstream', 'everything')).toEqual([
      'spec.azure.functions[0] (orphan): set functionAppName; the upstream does not name one app',
      `no function app in subscription ${SUBSCRIPTION} (resource group shop) has functions`,
    ]);
    const failing = run(
      '[]',
      new Map([['default/orders', found([], 'AuthorizationFailed: denied (HTTP 403)')]]),
    );
    expect(failing.warnings('Upstream', 'orders')).toEqual([
      'function discovery failed: AuthorizationFailed: denied (HTTP 403); serving the last known functions',
    ]);
  });

  it('splits by weight between two functions of one app, each weighted cluster with its own key and host', () => {
    const result = run(`[{matchers: [{prefix: /split}], routeAction: {multi: {destinations: [
      {weight: 90, destination: {upstream: {name: orders}, function: hello}},
      {weight: 10, destination: {upstream: {name: orders}, function: shared}}]}}}]`);
    expect(result.warnings()).toEqual([
      'spec.virtualHost.routes[0]: route rejected: routeAction.multi.destinations[1]: needs the path rewritten to /api/shared, which Envoy applies to the whole route, and destinations[0] needs it rewritten to /api/hello; split between destinations that need the same path, or use separate routes',
    ]);
    const same = run(`[{matchers: [{prefix: /split}], routeAction: {multi: {destinations: [
      {weight: 90, destination: {upstream: {name: orders}, function: manual}},
      {weight: 10, destination: {upstream: {name: orders}, function: manual}}]}}}]`);
    expect(same.warnings()).toEqual([]);
    expect(same.routes[0].route).toEqual({
      weightedClusters: {
        clusters: [
          {
            name: ORDERS_CLUSTER,
            weight: 90,
            requestHeadersToAdd: keyHeader('FROM-SECRET'),
            hostRewriteLiteral: ORDERS_HOST,
          },
          {
            name: ORDERS_CLUSTER,
            weight: 10,
            requestHeadersToAdd: keyHeader('FROM-SECRET'),
            hostRewriteLiteral: ORDERS_HOST,
          },
        ],
      },
      prefixRewrite: '/api/manual',
    });
  });

  it('shows the key redacted wherever the configuration is printed (translate, admin /snapshot)', () => {
    const result = run(`[
      {matchers: [{prefix: /hello}], routeAction: {single: {upstream: {name: orders}, function: hello}}},
      {matchers: [{prefix: /split}], routeAction: {multi: {destinations: [{weight: 1, destination: {upstream: {name: orders}, function: purge}}]}},
       options: {headerManipulation: {requestHeadersToAdd: [{header: {key: x-other, value: visible}}]}}}]`);
    const shown = JSON.stringify(
      redactSecrets('envoy.config.route.v3.RouteConfiguration', result.routeConfig),
    );
    expect(shown).not.toContain('fk%%1');
    expect(shown).not.toContain('MASTER');
    expect(shown.match(/"key":"x-functions-key","value":"\[redacted\]"/g)).toHaveLength(2);
    expect(shown).toContain('"key":"x-other","value":"visible"');
  });

  it('describes functions for `sluice get` without their keys', () => {
    const { loaded, translation } = translateOnce(contentsOf(UPSTREAMS), DISCOVERED);
    const ctx = { snapshot: loaded.snapshot, reports: translation.reports };
    const upstream = ctx.snapshot.upstreams.get('default/orders');
    const described = azurePlugin.describeFunctions?.(upstream as never, ctx) ?? [];
    expect(described.slice(0, 3)).toEqual([
      { name: 'manual', target: `https://${ORDERS_HOST}/api/manual`, qualifier: 'function', source: 'spec' },
      {
        name: 'broken-ref',
        target: `https://${ORDERS_HOST}/api/broken-ref`,
        qualifier: 'function',
        source: 'spec',
      },
      {
        name: 'by-hand',
        target: `https://${ORDERS_HOST}/api/made/by/hand`,
        qualifier: 'anonymous',
        source: 'spec',
      },
    ]);
    expect(described.find((each) => each.name === 'nightly')?.qualifier).toBe('timerTrigger (not routable)');
    expect(JSON.stringify(described)).not.toMatch(/fk%1|MASTER|HOST"|DISCOVERED|FROM-SECRET/);
  });

  it('gives an upstream new clusters when discovery finds a new app, between incremental translations', () => {
    const memo = new TranslationMemo();
    const cache: ParseCache = new Map();
    const yaml =
      UPSTREAMS +
      virtualService(
        `[{matchers: [{prefix: /new}], routeAction: {single: {upstream: {name: everything}, function: fresh/hello}}}]`,
      );
    // Unchanged documents (same resourceVersion) keep their parsed objects, as in `serve`.
    const contents = contentsOf(yaml);
    for (const { resource } of contents.resources) resource.metadata.resourceVersion = '1';
    const clusterNames = (discovered: Map<string, DiscoveredFunctions>) => {
      const loaded = loadSnapshot(contents, new Map(), discovered, cache);
      const translation = translate(loaded.snapshot, loaded.reports, PLUGINS, memo);
      return [
        ...(translation.envoy.byProxy
          .get('default~gateway-proxy')
          ?.get(TYPE_URLS.cluster as never)
          ?.keys() ?? []),
      ].filter((name) => name.startsWith('everything_'));
    };
    expect(clusterNames(new Map([['default/everything', found([])]]))).toEqual([]);
    expect(
      clusterNames(
        new Map([['default/everything', found([fn('fresh', 'hello', { authLevel: 'anonymous' })])]]),
      ),
    ).toEqual(['everything_default_fresh.azurewebsites.net']);
  });
});

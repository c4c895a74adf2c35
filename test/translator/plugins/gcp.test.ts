import { generateKeyPairSync } from 'crypto';
import { identityTokenKey, type IdentityToken } from '../../../src/api/gcp';
import { loadSnapshot } from '../../../src/api/load';
import { buildXdsSnapshots } from '../../../src/control-plane/xds-snapshots';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import type { GcpFunctionSpec, Upstream } from '../../../src/api/types';
import { lookup } from '../../../src/api/snapshot';
import type { ProxyResources } from '../../../src/translator/envoy/envoy-translator';
import type { Json } from '../../../src/translator/plugin';
import { gcpPlugin } from '../../../src/translator/plugins/gcp';
import { translate } from '../../../src/translator/translate';
import { ResourceEncoder } from '../../../src/xds/encode';
import { redactSecrets } from '../../../src/xds/redact';
import { messageNameOf, TYPE_URLS, type TypeUrl } from '../../../src/xds/type-urls';
import { gcpUpstreamYaml } from '../../helpers/gcf-config';
import { contentsOf, UPSTREAMS, virtualService } from '../../helpers/translate-yaml';
import { strictXdsProblems, xdsResourcesOf } from '../../helpers/xds-strict';

const EMAIL = 'gateway@shop.iam.gserviceaccount.com';
const HELLO_URL = 'https://hello-0a1b2c3d4e-uc.a.run.app';
const CANARY_URL = 'https://hello-canary-9f8e7d6c5b-uc.a.run.app';
const LEGACY_HOST = 'us-central1-shop.cloudfunctions.net';
const GATEWAY_PROXY = 'default~gateway-proxy';
const GCP_AUTHN = 'envoy.filters.http.gcp_authn';

/** What discovery finds in project shop. */
const DISCOVERED: GcpFunctionSpec[] = [
  { name: 'hello', region: 'us-central1', state: 'ACTIVE', environment: 'GEN_2', url: HELLO_URL },
  { name: 'hello-canary', region: 'us-central1', state: 'ACTIVE', environment: 'GEN_2', url: CANARY_URL },
  {
    name: 'legacy',
    region: 'us-central1',
    state: 'ACTIVE',
    environment: 'GEN_1',
    url: `https://${LEGACY_HOST}/legacy`,
    allowUnauthenticated: true,
  },
  {
    name: 'legacy-private',
    region: 'us-central1',
    state: 'ACTIVE',
    environment: 'GEN_1',
    url: `https://${LEGACY_HOST}/legacy-private`,
  },
  {
    name: 'checkout',
    region: 'europe-west1',
    state: 'DEPLOYING',
    environment: 'GEN_2',
    url: 'https://c.a.run.app',
  },
  {
    name: 'on-upload',
    region: 'us-central1',
    state: 'ACTIVE',
    environment: 'GEN_2',
    eventType: 'google.cloud.storage.object.v1.finalized',
  },
  {
    name: 'report',
    region: 'us-central1',
    state: 'ACTIVE',
    environment: 'GEN_2',
    url: 'https://r-us.a.run.app',
  },
  {
    name: 'report',
    region: 'asia-east1',
    state: 'ACTIVE',
    environment: 'GEN_2',
    url: 'https://r-asia.a.run.app',
  },
];

const SERVICE_ACCOUNT = JSON.stringify({
  type: 'service_account',
  client_email: EMAIL,
  private_key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }),
});

const config = (gcp: string, routes: string) =>
  `${gcpUpstreamYaml(SERVICE_ACCOUNT, gcp)}---${UPSTREAMS}${virtualService(routes)}`;

const token = (header: string): IdentityToken => ({ header, expiresAt: Date.now() + 3_600_000 });

/** The pipeline as the serving control plane runs it: discovered functions and minted tokens included. */
function run(yaml: string, tokens: Record<string, IdentityToken> = {}) {
  const discovered: DiscoveredFunctions = {
    discoverer: 'gcp-functions',
    functions: DISCOVERED as unknown as Array<Record<string, unknown>>,
    updatedAt: '2026-01-01T00:00:00Z',
  };
  const loaded = loadSnapshot(contentsOf(yaml), new Map(), new Map([['default/gcf', discovered]]));
  const snapshot = { ...loaded.snapshot, identityTokens: new Map(Object.entries(tokens)) };
  const translation = translate(snapshot, loaded.reports);
  const snapshots = buildXdsSnapshots(
    translation.envoy,
    new ResourceEncoder(),
    translation.reports,
    new Map(),
  );
  const proxy = translation.envoy.byProxy.get(GATEWAY_PROXY) as ProxyResources;
  const resources = (typeUrl: TypeUrl): Json[] => [...(proxy.get(typeUrl)?.values() ?? [])];
  const routes = () => (resources(TYPE_URLS.route)[0].virtualHosts as Json[])[0].routes as Json[];
  const report = (kind: string, name: string) =>
    translation.reports.get({ kind: kind as never, namespace: 'default', name });
  return { snapshot, translation, snapshots, resources, routes, report };
}

/** What Envoy would object to in any resource as it goes on the wire (strict decoding, validate rules). */
const wireProblems = (snapshots: ReturnType<typeof run>['snapshots']) =>
  xdsResourcesOf(snapshots).flatMap((resource) =>
    strictXdsProblems(resource).map((problem) => `${resource.name}: ${problem}`),
  );

const cluster = (result: ReturnType<typeof run>, name: string) =>
  result.resources(TYPE_URLS.cluster).find((candidate) => candidate.name === name);

describe('gcp plugin', () => {
  it('routes to each function over TLS with SNI, its host and its URL path, and a minted token where one is needed', () => {
    const result = run(
      config(
        'secretRef: {name: gcp-key}',
        `[
        {matchers: [{prefix: /gcf/hello}], routeAction: {single: {upstream: {name: gcf}, function: hello}}},
        {matchers: [{exact: /legacy}], routeAction: {single: {upstream: {name: gcf}, function: legacy}}},
        {matchers: [{prefix: /private/}], routeAction: {single: {upstream: {name: gcf}, function: legacy-private}}},
        {matchers: [{pathTemplate: "/reports/{id}"}], routeAction: {single: {upstream: {name: gcf}, function: asia-east1/report}}}]`,
      ),
      {
        [identityTokenKey(EMAIL, HELLO_URL)]: token('Bearer hello.token.sig'),
        [identityTokenKey(EMAIL, `https://${LEGACY_HOST}/legacy-private`)]: token('Bearer private.token.sig'),
      },
    );
    expect(result.report('VirtualService', 'vs')).toMatchObject({ errors: [], warnings: [] });
    expect(
      result.routes().map((route) => ({ route: route.route, headers: route.requestHeadersToAdd })),
    ).toEqual([
      {
        route: {
          cluster: 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443',
          autoHostRewrite: true,
          regexRewrite: { pattern: { regex: '^/gcf/hello/?' }, substitution: '/' },
        },
        headers: [
          {
            header: { key: 'authorization', value: 'Bearer hello.token.sig' },
            appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
        ],
      },
      {
        route: {
          cluster: `gcf_default~${LEGACY_HOST}:443`,
          autoHostRewrite: true,
          regexRewrite: { pattern: { regex: '^.*$' }, substitution: '/legacy' },
        },
        headers: undefined,
      },
      {
        route: {
          cluster: `gcf_default~${LEGACY_HOST}:443`,
          autoHostRewrite: true,
          regexRewrite: { pattern: { regex: '^/private/?' }, substitution: '/legacy-private/' },
        },
        headers: [
          {
            header: { key: 'authorization', value: 'Bearer private.token.sig' },
            appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
          },
        ],
      },
      {
        route: {
          cluster: 'gcf_default~r-asia.a.run.app:443',
          autoHostRewrite: true,
          regexRewrite: { pattern: { regex: '^.*$' }, substitution: '/' },
        },
        headers: undefined,
      },
    ]);
    expect(cluster(result, 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443')).toMatchObject({
      type: 'LOGICAL_DNS',
      loadAssignment: {
        endpoints: [
          {
            lbEndpoints: [
              {
                endpoint: {
                  address: { socketAddress: { address: 'hello-0a1b2c3d4e-uc.a.run.app', portValue: 443 } },
                },
              },
            ],
          },
        ],
      },
      transportSocket: {
        typedConfig: {
          sni: 'hello-0a1b2c3d4e-uc.a.run.app',
          commonTlsContext: {
            validationContext: { trustedCa: { filename: '/etc/ssl/certs/ca-certificates.crt' } },
          },
        },
      },
    });
    // One cluster per host of a routable function (not checkout, DEPLOYING): both 1st gen functions share
    // theirs; no metadata server without gcp_authn.
    expect(
      result
        .resources(TYPE_URLS.cluster)
        .map((each) => each.name)
        .sort(),
    ).toEqual([
      'canary_default',
      'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443',
      'gcf_default~hello-canary-9f8e7d6c5b-uc.a.run.app:443',
      'gcf_default~r-asia.a.run.app:443',
      'gcf_default~r-us.a.run.app:443',
      `gcf_default~${LEGACY_HOST}:443`,
      'petstore_default',
    ]);
    expect(wireProblems(result.snapshots)).toEqual([]);
  });

  it('never shows a token in translate output or the admin snapshot', () => {
    const result = run(
      config(
        'secretRef: {name: gcp-key}',
        '[{routeAction: {single: {upstream: {name: gcf}, function: hello}}}]',
      ),
      { [identityTokenKey(EMAIL, HELLO_URL)]: token('Bearer secret.id.token') },
    );
    const routeConfig = result.resources(TYPE_URLS.route)[0];
    const shown = JSON.stringify(redactSecrets(messageNameOf(TYPE_URLS.route), routeConfig));
    expect(JSON.stringify(routeConfig)).toContain('secret.id.token');
    expect(shown).not.toContain('secret.id.token');
    expect(shown).toContain('"header":{"key":"authorization","value":"[redacted]"}');
  });

  it('waits for a token without a header, and rejects the route with the reason when minting fails', () => {
    const routes = '[{routeAction: {single: {upstream: {name: gcf}, function: hello}}}]';
    const pending = run(config('secretRef: {name: gcp-key}', routes));
    expect(pending.routes()[0].requestHeadersToAdd).toBeUndefined();
    expect(pending.report('VirtualService', 'vs')?.warnings).toEqual([]);
    const failed = run(config('secretRef: {name: gcp-key}', routes), {
      [identityTokenKey(EMAIL, HELLO_URL)]: { error: 'invalid_grant: Invalid grant: account not found' },
    });
    expect(failed.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/gcf: cannot mint an identity token for function hello: invalid_grant: Invalid grant: account not found',
    ]);
    expect(failed.routes()[0].directResponse).toMatchObject({ status: 503 });
  });

  it('refuses functions that need a token when Sluice has no key, but routes public ones', () => {
    const result = run(
      config(
        'region: us-central1',
        `[{matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: gcf}, function: hello}}},
          {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: gcf}, function: legacy}}}]`,
      ),
    );
    expect(result.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/gcf: function hello requires authentication: set spec.gcp.secretRef to a gcp Secret (Sluice then mints its identity tokens), or authMode gcp_authn when Envoy runs on GCP, or allowUnauthenticated: true in spec.gcp.functions if it allows allUsers',
    ]);
    expect(result.routes()[1].route).toMatchObject({ cluster: `gcf_default~${LEGACY_HOST}:443` });
  });

  it('says what to fix in a malformed key, on the route that needs it', () => {
    const route = '[{routeAction: {single: {upstream: {name: gcf}, function: hello}}}]';
    const result = run(
      `${gcpUpstreamYaml('{"type": "authorized_user"}', 'secretRef: {name: gcp-key}')}${virtualService(route)}`,
    );
    expect(result.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/gcf: spec.gcp.secretRef: Secret default/gcp-key: data.serviceAccount has "type" "authorized_user", not "service_account": create a JSON key for a service account (IAM > Service accounts > Keys)',
    ]);
  });

  it('gcp_authn: a cluster per audience carrying it in typed filter metadata, the filter in the HCM, the metadata server cluster', () => {
    const result = run(
      config(
        'authMode: gcp_authn, caFile: /etc/envoy/ca.pem',
        `[{matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: gcf}, function: hello}}},
          {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: gcf}, function: legacy-private}}},
          {matchers: [{prefix: /c}], routeAction: {single: {upstream: {name: gcf}, function: legacy}}}]`,
      ),
    );
    expect(result.report('VirtualService', 'vs')).toMatchObject({ errors: [], warnings: [] });
    const marker = {
      '@type': 'type.googleapis.com/envoy.config.route.v3.FilterConfig',
      config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.gcp_authn.v3.GcpAuthnFilterConfig',
      },
      isOptional: true,
    };
    expect(
      result.routes().map((route) => [route.route, route.typedPerFilterConfig, route.requestHeadersToAdd]),
    ).toEqual([
      [
        expect.objectContaining({ cluster: 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443' }),
        { [GCP_AUTHN]: marker },
        undefined,
      ],
      [
        expect.objectContaining({ cluster: `gcf_default~${LEGACY_HOST}:443/legacy-private` }),
        { [GCP_AUTHN]: marker },
        undefined,
      ],
      [expect.objectContaining({ cluster: `gcf_default~${LEGACY_HOST}:443` }), undefined, undefined],
    ]);
    const audience = (url: string) => ({
      typedFilterMetadata: {
        [GCP_AUTHN]: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.gcp_authn.v3.Audience',
          url,
        },
      },
    });
    expect(cluster(result, `gcf_default~${LEGACY_HOST}:443/legacy-private`)?.metadata).toEqual(
      audience(`https://${LEGACY_HOST}/legacy-private`),
    );
    expect(cluster(result, 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443')).toMatchObject({
      metadata: audience(HELLO_URL),
      transportSocket: {
        typedConfig: {
          commonTlsContext: { validationContext: { trustedCa: { filename: '/etc/envoy/ca.pem' } } },
        },
      },
    });
    expect(cluster(result, `gcf_default~${LEGACY_HOST}:443`)?.metadata).toBeUndefined();
    expect(cluster(result, 'gcp_authn_metadata_server')).toMatchObject({
      type: 'LOGICAL_DNS',
      loadAssignment: {
        endpoints: [
          {
            lbEndpoints: [
              {
                endpoint: {
                  address: { socketAddress: { address: 'metadata.google.internal', portValue: 80 } },
                },
              },
            ],
          },
        ],
      },
    });
    const hcm = ((result.resources(TYPE_URLS.listener)[0].filterChains as Json[])[0].filters as Json[])[0]
      .typedConfig as Json;
    expect((hcm.httpFilters as Json[]).map((filter) => filter.name)).toEqual([
      GCP_AUTHN,
      'envoy.filters.http.router',
    ]);
    expect((hcm.httpFilters as Json[])[0].typedConfig).toMatchObject({
      cluster: 'gcp_authn_metadata_server',
      httpUri: {
        uri: 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=[AUDIENCE]',
        cluster: 'gcp_authn_metadata_server',
      },
      cacheConfig: { cacheSize: '1000' },
    });
    expect(wireProblems(result.snapshots)).toEqual([]);
  });

  it('reports a function that is not ACTIVE, triggered by events, unknown, ambiguous or unnamed', () => {
    const result = run(
      config(
        'secretRef: {name: gcp-key}',
        `[{matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: gcf}, function: checkout}}},
          {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: gcf}, function: on-upload}}},
          {matchers: [{prefix: /c}], routeAction: {single: {upstream: {name: gcf}, function: goodbye}}},
          {matchers: [{prefix: /d}], routeAction: {single: {upstream: {name: gcf}, function: report}}},
          {matchers: [{prefix: /e}], routeAction: {single: {upstream: {name: gcf}}}}]`,
      ),
    );
    const known =
      'known: hello, hello-canary, legacy, legacy-private, checkout, on-upload, us-central1/report, asia-east1/report';
    expect(result.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: route rejected: upstream default/gcf: function checkout is DEPLOYING, not ACTIVE',
      'spec.virtualHost.routes[1]: route rejected: upstream default/gcf: function on-upload is triggered by events (google.cloud.storage.object.v1.finalized), not HTTP; routes cannot reach it',
      `spec.virtualHost.routes[2]: route rejected: upstream default/gcf has no Cloud Function "goodbye" (${known})`,
      `spec.virtualHost.routes[3]: route rejected: upstream default/gcf has no Cloud Function "report" (${known})`,
      `spec.virtualHost.routes[4]: route rejected: upstream default/gcf is a Google Cloud Functions upstream: set function (${known})`,
    ]);
    expect(result.routes().every((route) => (route.directResponse as Json | undefined)?.status === 503)).toBe(
      true,
    );
  });

  it('splits traffic between two functions, each with its own host and token; refuses what one route cannot express', () => {
    const tokens = {
      [identityTokenKey(EMAIL, HELLO_URL)]: token('Bearer stable'),
      [identityTokenKey(EMAIL, CANARY_URL)]: token('Bearer canary'),
    };
    const split = run(
      config(
        'secretRef: {name: gcp-key}',
        `[{matchers: [{prefix: /hello}], routeAction: {multi: {destinations: [
            {weight: 90, destination: {upstream: {name: gcf}, function: hello}},
            {weight: 10, destination: {upstream: {name: gcf}, function: hello-canary}}]}}},
          {matchers: [{prefix: /x}], routeAction: {multi: {destinations: [
            {weight: 1, destination: {upstream: {name: gcf}, function: legacy}},
            {weight: 1, destination: {upstream: {name: gcf}, function: legacy-private}}]}}},
          {matchers: [{prefix: /y}], routeAction: {single: {upstream: {name: gcf}, function: hello}}, options: {prefixRewrite: /}},
          {matchers: [{prefix: /z}, {exact: /w}], routeAction: {single: {upstream: {name: gcf}, function: hello}}}]`,
      ),
      tokens,
    );
    const header = (value: string) => [
      { header: { key: 'authorization', value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    ];
    expect(split.routes()[0].route).toEqual({
      weightedClusters: {
        clusters: [
          {
            name: 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443',
            weight: 90,
            requestHeadersToAdd: header('Bearer stable'),
            hostRewriteLiteral: 'hello-0a1b2c3d4e-uc.a.run.app',
          },
          {
            name: 'gcf_default~hello-canary-9f8e7d6c5b-uc.a.run.app:443',
            weight: 10,
            requestHeadersToAdd: header('Bearer canary'),
            hostRewriteLiteral: 'hello-canary-9f8e7d6c5b-uc.a.run.app',
          },
        ],
      },
      regexRewrite: { pattern: { regex: '^/hello/?' }, substitution: '/' },
    });
    expect(split.report('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[1]: route rejected: routeAction.multi.destinations[1]: needs the path rewritten to /legacy-private/, which Envoy applies to the whole route, and destinations[0] needs it rewritten to /legacy/; split between destinations that need the same path, or use separate routes',
      'spec.virtualHost.routes[2]: route rejected: options.prefixRewrite: function hello sets the path itself; remove prefixRewrite',
      'spec.virtualHost.routes[3]: route rejected: upstream default/gcf: matchers[1] needs a different path rewrite than matchers[0]; split the route',
    ]);
    expect(wireProblems(split.snapshots)).toEqual([]);
  });

  it('merges functions written by hand over discovered ones, and describes them for `sluice get`', () => {
    const result = run(
      config(
        `secretRef: {name: gcp-key}, functions: [{name: hello, allowUnauthenticated: true},
           {name: staging, url: "https://staging.example.com/fn", state: ACTIVE}]`,
        `[{matchers: [{prefix: /a}], routeAction: {single: {upstream: {name: gcf}, function: hello}}},
          {matchers: [{prefix: /b}], routeAction: {single: {upstream: {name: gcf}, function: staging}}}]`,
      ),
    );
    expect(result.report('VirtualService', 'vs')).toMatchObject({ errors: [], warnings: [] });
    expect(result.routes().map((route) => route.route)).toEqual([
      expect.objectContaining({ cluster: 'gcf_default~hello-0a1b2c3d4e-uc.a.run.app:443' }),
      expect.objectContaining({
        cluster: 'gcf_default~staging.example.com:443',
        regexRewrite: { pattern: { regex: '^/b/?' }, substitution: '/fn/' },
      }),
    ]);
    const upstream = lookup(result.snapshot.upstreams, { namespace: 'default', name: 'gcf' });
    const described = gcpPlugin.describeFunctions?.(upstream as Upstream, {
      snapshot: result.snapshot,
      reports: result.translation.reports,
    });
    expect(described?.filter((fn) => ['hello', 'on-upload', 'staging'].includes(fn.name))).toEqual([
      { name: 'hello', target: HELLO_URL, qualifier: 'GEN_2 ACTIVE', source: 'spec' },
      {
        name: 'on-upload',
        target: 'event google.cloud.storage.object.v1.finalized (not routable)',
        qualifier: 'GEN_2 ACTIVE',
        source: 'discovered',
      },
      { name: 'staging', target: 'https://staging.example.com/fn', qualifier: 'ACTIVE', source: 'spec' },
    ]);
  });
});

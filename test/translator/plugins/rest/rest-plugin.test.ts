import { translateOnce } from '../../../../src/control-plane/translate-once';
import type { Json } from '../../../../src/translator/plugin';
import { contentsOf, translateYaml, virtualService } from '../../../helpers/translate-yaml';

const PETS_API = `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: pets, namespace: default}
spec:
  static:
    hosts: [{address: 10.0.0.12, port: 8080}]
    serviceSpec:
      rest:
        functions:
        - {name: listPets, method: GET, path: /pets, basePath: /v1/,
           parameters: [{name: format, in: query, required: true, fixedValue: "j son"}, {name: x-api-version, in: header, required: true, fixedValue: "100%"}]}
        - {name: createPet, method: POST, path: /pets, basePath: /v1, requestContentType: application/json}
        - {name: showPet, method: GET, path: "/pets/{pet-id}", basePath: /v1}
        - {name: myPet, method: GET, path: /pets/mine, basePath: /v1}
        - {name: samePet, method: GET, path: "/pets/{other}", basePath: /v1}
        - {name: photo, method: GET, path: "/pets/{pet-id}/photos/{name}.png"}
        - {name: deep, method: GET, path: "/{a}/{b}/{c}/{d}/{e}/{f}"}
`;
const PLAIN = `
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: plain, namespace: default}
spec: {static: {hosts: [{address: 10.0.0.13, port: 8080}]}}
`;
const PETS = '{upstream: {name: pets}';

function routeNamed(routes: Json[], name: string): Json {
  const route = routes.find((candidate) => candidate.name === name);
  if (!route) throw new Error(`no route ${name} in ${routes.map((candidate) => candidate.name).join(', ')}`);
  return route;
}

describe('rest plugin: routes to one operation', () => {
  const result = translateYaml(
    PETS_API +
      virtualService(`
    - {matchers: [{prefix: /all}], routeAction: {single: ${PETS}, function: listPets}}}
    - {matchers: [{exact: /new}], routeAction: {single: ${PETS}, function: createPet}}}
    - {matchers: [{pathTemplate: "/p/{pet_id}"}], routeAction: {single: ${PETS}, function: showPet}}}
    - {matchers: [{pathTemplate: "/q/{pet-id}"}], routeAction: {single: ${PETS}, function: showPet}}}
    - {matchers: [{prefix: /broken}], routeAction: {single: ${PETS}, function: showPet}}}
    - {matchers: [{prefix: /nope}], routeAction: {single: ${PETS}, function: adoptPet}}}
    - {matchers: [{exact: /r}], routeAction: {single: ${PETS}, function: myPet}}, options: {prefixRewrite: /x}}
    - {matchers: [{prefix: /raw}], routeAction: {single: ${PETS}}}}`),
  );
  const routes = result.routes();

  it('replaces the whole path by the operation path (base path included), keeping the matcher', () => {
    expect(routes[0].match).toEqual({ prefix: '/all' });
    expect(routes[0].route).toEqual({
      cluster: 'pets_default',
      regexRewrite: { pattern: { regex: '^.*$' }, substitution: '/v1/pets' },
    });
    expect(routes[1].route).toEqual({ cluster: 'pets_default', prefixRewrite: '/v1/pets' });
  });

  it('fills path parameters from the pathTemplate variables, by OpenAPI or Envoy name', () => {
    expect((routes[2].route as Json).pathRewritePolicy).toEqual({
      name: 'envoy.path.rewrite.uri_template.uri_template_rewriter',
      typedConfig: {
        '@type': 'type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig',
        pathTemplateRewrite: '/v1/pets/{pet_id}',
      },
    });
    expect(routes[3].match).toEqual({ safeRegex: { regex: '/q/[^/]+' } });
    expect((routes[3].route as Json).regexRewrite).toEqual({
      pattern: { regex: '/q/([^/]+)' },
      substitution: '/v1/pets/\\1',
    });
  });

  it('adds the content type and fixed values when the request lacks them', () => {
    expect(routes[1].requestHeadersToAdd).toEqual([
      { header: { key: 'content-type', value: 'application/json' }, appendAction: 'ADD_IF_ABSENT' },
    ]);
    expect(routes[0].requestHeadersToAdd).toEqual([
      { header: { key: 'x-api-version', value: '100%%' }, appendAction: 'ADD_IF_ABSENT' },
    ]);
    const lua = (routes[0].typedPerFilterConfig as Record<string, Json>)['envoy.filters.http.lua'];
    expect(lua['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute');
    expect((lua.sourceCode as Json).inlineString).toContain(
      'if not has(query, "format") then additions[#additions + 1] = "format=j%20son" end',
    );
    const hcm = ((result.listeners()[0].filterChains as Json[])[0].filters as Json[])[0].typedConfig as Json;
    expect((hcm.httpFilters as Json[]).map((filter) => filter.name)).toEqual([
      'envoy.filters.http.lua',
      'envoy.filters.http.router',
    ]);
  });

  it('rejects what it cannot serve, naming the function and what to do', () => {
    expect(result.status('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[4]: route rejected: upstream default/pets: matchers[0]: function showPet has path parameters {pet_id}: match it with a pathTemplate that names them, or use routeAction.functions',
      'spec.virtualHost.routes[5]: route rejected: upstream default/pets has no REST function "adoptPet" (known: listPets, createPet, showPet, myPet, samePet, photo, deep)',
      'spec.virtualHost.routes[6]: route rejected: options.prefixRewrite: function myPet sets the upstream path itself; remove prefixRewrite',
    ]);
    expect(routes[4].directResponse).toMatchObject({ status: 503 });
  });

  it('routes to the service as it is without a function', () => {
    expect(routes[7].route).toEqual({ cluster: 'pets_default' });
  });
});

describe('rest plugin: routeAction.functions', () => {
  const result = translateYaml(
    PETS_API +
      PLAIN +
      virtualService(`
    - matchers: [{prefix: /api/, headers: [{name: x-team, value: a}]}, {prefix: /get, methods: [GET]}]
      routeAction: {functions: ${PETS}}}
      options: {timeout: 2s}
    - {matchers: [{exact: /x}], routeAction: {functions: ${PETS}}}}
    - {matchers: [{prefix: /plain}], routeAction: {functions: {upstream: {name: plain}}}}
    - {matchers: [{prefix: /gone}], routeAction: {functions: {upstream: {name: gone}}}}`),
  );
  const routes = result.routes();

  it('makes one route per operation, literal segments before variables', () => {
    const api = routes.filter(
      (route) => (route.match as Json).headers && JSON.stringify(route.match).includes('x-team'),
    );
    expect(api.map((route) => route.name)).toEqual([
      'listPets',
      'createPet',
      'myPet',
      'showPet',
      'photo',
      'deep',
    ]);
    expect(routeNamed(api, 'myPet').match).toEqual({
      path: '/api/pets/mine',
      headers: [
        { name: 'x-team', stringMatch: { exact: 'a' } },
        { name: ':method', stringMatch: { exact: 'GET' } },
      ],
    });
    expect((routeNamed(api, 'showPet').match as Json).pathMatchPolicy).toMatchObject({
      typedConfig: { pathTemplate: '/api/pets/{pet_id}' },
    });
    expect((routeNamed(api, 'photo').route as Json).pathRewritePolicy).toMatchObject({
      typedConfig: { pathTemplateRewrite: '/pets/{pet_id}/photos/{name}.png' },
    });
    expect((routeNamed(api, 'showPet').route as Json).timeout).toBe('2s');
  });

  it('uses a regex where a uri_template cannot express the operation', () => {
    const deep = routeNamed(routes, 'deep');
    const any = '[^/]+';
    expect((deep.match as Json).safeRegex).toEqual({ regex: `/api/${Array(6).fill(any).join('/')}` });
    expect((deep.route as Json).regexRewrite).toEqual({
      pattern: { regex: `/api/${Array(6).fill(`(${any})`).join('/')}` },
      substitution: '/\\1/\\2/\\3/\\4/\\5/\\6',
    });
  });

  it("keeps only operations the matcher's methods allow", () => {
    const get = routes.filter((route) => JSON.stringify(route.match).includes('/get/'));
    expect(get.map((route) => route.name)).toEqual(['listPets', 'myPet', 'showPet', 'photo', 'deep']);
  });

  it('warns about operations that cannot be told apart and about routes it cannot expand', () => {
    expect(result.status('VirtualService', 'vs')?.warnings).toEqual([
      'spec.virtualHost.routes[0]: functions showPet and samePet both match GET /pets/{}; samePet is left out',
      'spec.virtualHost.routes[1]: route rejected: matchers[0]: routeAction.functions needs prefix matchers',
      'spec.virtualHost.routes[2]: route rejected: routeAction.functions: upstream default/plain offers no functions that map to paths (REST operations do: set serviceSpec.rest or enable discovery)',
      'spec.virtualHost.routes[3]: route rejected: routeAction.functions: upstream default/gone not found',
    ]);
  });
});

describe('rest plugin: discovered operations', () => {
  const yaml =
    PETS_API +
    virtualService(`
    - {matchers: [{prefix: /api}], routeAction: {functions: ${PETS}}}}`);
  const discovered = new Map([
    [
      'default/pets',
      {
        discoverer: 'openapi',
        updatedAt: '2026-11-27T00:00:00Z',
        functions: [
          { name: 'listPets', method: 'GET', path: '/discovered-pets' },
          { name: 'deletePet', method: 'DELETE', path: '/pets/{petId}', basePath: '/v2' },
        ],
      },
    ],
  ]);
  const { translation } = translateOnce(contentsOf(yaml), discovered);
  const routes = (
    [...translation.envoy.byProxy.values()][0].get(
      'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as never,
    ) as Map<string, Json>
  )
    .values()
    .next().value as Json;
  const all = ((routes.virtualHosts as Json[])[0].routes as Json[]).map((route) => route.name);

  it('adds discovered operations, and a hand-written operation wins over a discovered one of the same name', () => {
    expect(all).toContain('deletePet');
    expect(all.filter((name) => name === 'listPets')).toHaveLength(1);
    expect(JSON.stringify(routes)).not.toContain('discovered-pets');
  });
});

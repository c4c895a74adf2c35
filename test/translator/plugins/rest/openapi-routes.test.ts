import * as fs from 'fs';
import * as path from 'path';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { loadSnapshot } from '../../../../src/api/load';
import type { RestFunctionSpec } from '../../../../src/api/types';
import { translateOnce } from '../../../../src/control-plane/translate-once';
import { discoverAll } from '../../../../src/discovery/fds/discover-upstream';
import { DEFAULT_OPENAPI_PATHS } from '../../../../src/discovery/fds/openapi';
import type { Json } from '../../../../src/translator/plugin';
import { validateMessage } from '../../../../src/xds/pgv';
import { decodeToJson, encodeJson } from '../../../../src/xds/proto-json';
import type { XdsSnapshot } from '../../../../src/xds/resources';
import { messageNameOf, TYPE_URLS } from '../../../../src/xds/type-urls';
import { envoyRouter } from '../../../helpers/envoy-routes';
import { oasExample, OpenApiProbeServer } from '../../../helpers/openapi-probe-server';
import { contentsOf, virtualService } from '../../../helpers/translate-yaml';

/**
 * Published OpenAPI documents, discovered from a loopback service and translated into a functions route:
 * every operation, requested as a client would, must reach its own route (as Envoy matches routes) and be
 * forwarded to its own path on the upstream.
 */

const PREFIX = '/api';
const PROXY = 'default~gateway-proxy';
const VIRTUAL_SERVICE = { kind: 'VirtualService' as const, namespace: 'default', name: 'vs' };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const EXAMPLES = path.dirname(require.resolve('@readme/oas-examples/package.json'));

/** Every file of the example folders (`3.0/json/openapi-workshop` is a folder of fragments: left aside). */
const EXAMPLE_SPECS = ['2.0/json', '2.0/yaml', '3.0/json', '3.1/json'].flatMap((folder) =>
  fs
    .readdirSync(path.join(EXAMPLES, folder), { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `${folder}/${entry.name}`),
);

/** What the functions route makes of a document beyond one route per operation. */
interface Expected {
  /**
   * Operations served through another operation's route (left out -> served by): the same method and path
   * once variable names are ignored, or (ReadMe's convention) a path that differs only by a `#fragment`.
   */
  twins?: Record<string, string>;
  /** Operations without a route, because no path template can serve them. */
  leftOut?: string[];
  /** A document without a single operation (webhooks only). */
  withoutOperations?: boolean;
}

const COOKIE_VARIANTS = {
  cookies_form_nonExploded: 'cookies_standard',
  cookies_form_exploded: 'cookies_standard',
};
const EXPECTED: Record<string, Expected> = {
  '3.0/json/parameters-style.json': { twins: COOKIE_VARIANTS },
  '3.1/json/parameters-style.json': { twins: COOKIE_VARIANTS },
  '3.0/json/parameters-common.json': { leftOut: ['get_anything_id_action_id'] },
  '3.1/json/webhooks.json': { withoutOperations: true },
};

/** A document at the edges of Envoy's uri_template rules, where routes fall back to regexes. */
const EDGES = {
  openapi: '3.0.3',
  info: { title: 'edges', version: '1' },
  servers: [{ url: '/base' }],
  paths: Object.fromEntries(
    Object.entries({
      '/pets/{id}': 'getPet',
      '/pets/{petId}': 'getPetAgain',
      '/pets/mine': 'getMyPets',
      '/pets/{id}/photos/{photo-id}.jpg': 'getPhoto',
      '/reports/{a}/{b}/{c}/{d}/{e}/{f}': 'sixVariables',
      '/users/{a_very_long_parameter_name}': 'longName',
      '/files/{name}.{ext}': 'twoInOneSegment',
      '/keys/k={key}': 'equalsInLiteral',
      '/search/': 'trailingSlash',
      '/a//b/{c}': 'doubleSlash',
      '/only#variant': 'fragmentOnly',
      '/x/{v}/y': 'variableBetweenLiterals',
      '/x/{v}/{w}': 'twoVariables',
      '/x/lit/{w}': 'literalBeforeVariable',
    }).map(([pathKey, operationId]) => [pathKey, { get: { operationId, responses: {} } }]),
  ),
};

/** Probe paths in turn, so that discovery finds documents at each of them (YAML ones where YAML is expected). */
function probePath(spec: string, index: number): string {
  const yaml = spec.endsWith('.yaml');
  const candidates = DEFAULT_OPENAPI_PATHS.filter((candidate) => candidate.endsWith('.yaml') === yaml);
  return candidates[index % candidates.length];
}

function configYaml(port: number): string {
  return `
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: svc, namespace: default, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec: {static: {hosts: [{address: 127.0.0.1, port: ${port}}]}}
${virtualService(`[{matchers: [{prefix: ${PREFIX}}], routeAction: {functions: {upstream: {name: svc}}}}]`)}`;
}

/** Serves `body` at `at`, discovers it as the real discoverer does, and translates. */
async function discoverAndTranslate(body: string, at: string) {
  const server = new OpenApiProbeServer();
  await server.start();
  try {
    server.serve(at, body);
    const contents = contentsOf(configYaml(server.port));
    const { snapshot } = loadSnapshot(contents);
    const discovered = await discoverAll(snapshot, new Map(), pino({ level: 'silent' }));
    expect(
      server.requests.filter((request) => request.status === 200).map((request) => request.path),
    ).toEqual([at]);
    const found = discovered.get('default/svc');
    expect(found?.error).toBeUndefined();
    return {
      functions: (found?.functions ?? []) as unknown as RestFunctionSpec[],
      ...translateOnce(contents, discovered),
    };
  } finally {
    await server.stop();
  }
}

/** `METHOD /path` of each operation written in the document (path items behind a $ref aside). */
function writtenOperations(document: Json): string[] {
  return Object.entries((document.paths ?? {}) as Record<string, Json>).flatMap(([pathKey, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map(
      (method) => `${method.toUpperCase()} ${pathKey}`,
    ),
  );
}

/**
 * The path a client requests for an operation: each parameter a distinct sample value, the `#fragment`
 * some documents use to tell operations apart dropped (a fragment never leaves the client).
 */
function concretePath(template: string): string {
  let count = 0;
  return template.replace(/#.*$/, '').replace(/\{[^}]*\}/g, () => `sample${++count}`);
}

/** Names in the functions route's warnings: twins (left out -> served by) and functions left out. */
function warnedFunctions(warnings: readonly string[]) {
  const twins: Record<string, string> = {};
  const leftOut: string[] = [];
  for (const warning of warnings) {
    const twin = / functions (\S+) and (\S+) both match .*; \S+ is left out$/.exec(warning);
    const alone = / function (\S+) left out: /.exec(warning);
    if (twin) twins[twin[2]] = twin[1];
    else if (alone) leftOut.push(alone[1]);
  }
  return { twins, leftOut };
}

/** Resources that do not decode strictly, re-encode to the same bytes and meet the PGV rules. */
function invalidResources(snapshots: Iterable<XdsSnapshot>): Json[] {
  const invalid: Json[] = [];
  for (const snapshot of snapshots) {
    for (const resource of [...snapshot.values()].flatMap((byName) => [...byName.values()])) {
      const messageName = messageNameOf(resource.typeUrl);
      const decoded = decodeToJson(messageName, resource.bytes);
      const violations = validateMessage(messageName, decoded);
      const sameBytes = Buffer.from(encodeJson(messageName, decoded)).equals(Buffer.from(resource.bytes));
      if (violations.length || !sameBytes) invalid.push({ name: resource.name, violations, sameBytes });
    }
  }
  return invalid;
}

/**
 * Serves, discovers and translates a document, then routes one request per operation through the
 * RouteConfiguration: `METHOD path -> route forwardedPath` for each, compared with what was expected.
 */
async function routeEveryOperation(body: string, at: string, expectation: Expected = {}) {
  const document = (body.trimStart().startsWith('{') ? JSON.parse(body) : parseYaml(body)) as Json;
  const { functions, translation, snapshots } = await discoverAndTranslate(body, at);
  expect(functions.map((fn) => `${fn.method} ${fn.path}`)).toEqual(
    expect.arrayContaining(writtenOperations(document)),
  );
  expect(functions.length === 0).toBe(Boolean(expectation.withoutOperations));
  expect(functions.some((fn) => /(^|\/)sample\d/.test(fn.path))).toBe(false);

  const errors = translation.reports.all().filter((report) => report.errors.length > 0);
  expect(errors).toEqual([]);
  const warnings = translation.reports.get(VIRTUAL_SERVICE)?.warnings ?? [];
  const warned = warnedFunctions(warnings);
  expect(warned).toEqual({ twins: expectation.twins ?? {}, leftOut: expectation.leftOut ?? [] });
  expect(invalidResources(snapshots.values())).toEqual([]);

  const routeConfigurations = [
    ...(translation.envoy.byProxy.get(PROXY)?.get(TYPE_URLS.route)?.values() ?? []),
  ];
  expect(routeConfigurations).toHaveLength(1);
  const router = envoyRouter(routeConfigurations[0] as Json);
  const byName = new Map(functions.map((fn) => [fn.name, fn]));
  const actual: string[] = [];
  const expected: string[] = [];
  const outcome = (route: unknown, forwardedPath: string | undefined) =>
    route === undefined ? 'no route' : `${String(route)} ${forwardedPath}`;
  for (const fn of functions) {
    const requestPath = PREFIX + concretePath(fn.path);
    const decision = router({ method: fn.method, path: requestPath });
    actual.push(`${fn.method} ${requestPath} -> ${outcome(decision?.route.name, decision?.forwardedPath)}`);
    const served = warned.leftOut.includes(fn.name)
      ? undefined
      : byName.get(warned.twins[fn.name] ?? fn.name);
    const servedPath = served && (served.basePath ?? '') + concretePath(served.path);
    expected.push(`${fn.method} ${requestPath} -> ${outcome(served?.name, servedPath)}`);
  }
  expect(actual).toEqual(expected);
  return functions;
}

describe('routeAction.functions over published OpenAPI documents, routed as Envoy routes', () => {
  it.each(EXAMPLE_SPECS.map((spec, index) => [spec, probePath(spec, index)]))(
    '%s (served at %s)',
    async (spec, at) => {
      await routeEveryOperation(oasExample(spec), at, EXPECTED[spec]);
    },
  );

  it("GitHub's REST API (api.github.com, every operation)", async () => {
    const body = fs.readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8');
    const functions = await routeEveryOperation(body, '/v3/api-docs');
    expect(functions.length).toBeGreaterThan(1000);
  });

  it('a document at the edges of uri_template: regex routes, renamed variables, fragments, a twin', async () => {
    const functions = await routeEveryOperation(JSON.stringify(EDGES), '/openapi.json', {
      twins: { getPetAgain: 'getPet' },
    });
    expect(functions).toHaveLength(Object.keys(EDGES.paths).length);
  });
});

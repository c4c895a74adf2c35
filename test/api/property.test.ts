import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { stringify } from 'yaml';
import { API_VERSION, KINDS, type Resource } from '../../src/api/resource';
import { translateOnce } from '../../src/control-plane/translate-once';
import { FileStore } from '../../src/store/file-store';
import type { StoreContents } from '../../src/store/store';
import { invalidForEnvoyReasons, xdsProblems } from '../corpus/envoy-rules';

/**
 * Generated resources, mostly well formed and sometimes not in every way a user can get wrong, go
 * through validation, translation and encoding: nothing may throw, every resource gets a report, and
 * whatever is served is what Envoy accepts (strict decoding, protoc-gen-validate, RE2, Envoy's own
 * checks), so that no bad input ever takes a neighbour's configuration down with it. The arbitraries
 * stay small so that a failure shrinks to a readable counterexample.
 */

type Json = Record<string, unknown>;

/** A value from `usual` most of the time, from `unusual` now and then: most resources reach translation. */
function mostly<T>(usual: fc.Arbitrary<T>, unusual: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 25, arbitrary: usual }, { weight: 1, arbitrary: unusual });
}

function some<T>(item: fc.Arbitrary<T>, maxLength = 2): fc.Arbitrary<T[]> {
  return fc.array(item, { maxLength });
}

type Members<T extends Json> = { [K in keyof T]: fc.Arbitrary<T[K]> };

/** A record whose members may each be absent. */
function sparse<T extends Json>(members: Members<T>): fc.Arbitrary<Json> {
  return fc.record(members, { requiredKeys: [] });
}

/** Members that are absent most of the time (they change what gets served, or need other resources). */
function rarely<T extends Json>(members: Members<T>): fc.Arbitrary<Json> {
  return mostly(fc.constant({}), sparse(members));
}

/** The members of several records in one. */
function merged(...parts: fc.Arbitrary<Json>[]): fc.Arbitrary<Json> {
  return fc.tuple(...parts).map((records) => Object.assign({}, ...records));
}

/** Text, now and then with what breaks headers and paths: spaces, line breaks, NUL, non-ASCII, braces. */
const text = mostly(
  fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '1'), minLength: 1, maxLength: 6 }),
  fc.string({
    unit: fc.constantFrom('a', 'B', '-', '/', '.', '*', ' ', '\n', '\0', 'é', '{', '}', ':'),
    maxLength: 6,
  }),
);
/** Few names, so that references (upstreams, route tables, secrets, services) often resolve. */
const name = mostly(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('Not_DNS', 'x'.repeat(254), 'a.b'));
const namespace = mostly(fc.constant('default'), fc.constantFrom('other', 'Bad~Namespace'));
const ref = fc.record({ name, namespace }, { requiredKeys: ['name'] });
const duration = mostly(
  fc.tuple(fc.nat({ max: 5000 }), fc.constantFrom('ms', 's', 'm', 'h')).map(([n, unit]) => `${n}${unit}`),
  fc.constantFrom(
    '0s',
    '1m30s',
    '1.5s',
    '315576000000s',
    '315576000001s',
    '99999999999999999999h',
    '3 s',
    '',
  ),
);
const port = mostly(
  fc.integer({ min: 1, max: 65535 }),
  fc.constantFrom<unknown>(0, 65536, 1e30, '8080', 1.5),
);
const percentage = mostly(fc.integer({ min: 0, max: 100 }), fc.constantFrom(0.5, 150, -1));

const urlPath = mostly(fc.constantFrom('/', '/a', '/a/b/', '/pets'), text);
const REGEX_TOKENS = ['/', 'a', '\\d', '[a-z]', '.', '*', '+', '?', '(', ')', '|', '{2}', '\\.', '^', '$'];
/** What JavaScript takes and RE2 does not. */
const NON_RE2_TOKENS = ['(?=a)', '(?<!a)', '\\1', '\\k<a>', '++', '{2000}', '\\Z', '\\u0041', '(?i)'];
const regex = mostly(
  fc.constantFrom('/a.*', '/v[0-9]+/.*', '[a-z]+', '.*', '/pets/\\d+', '(a|b)c?'),
  some(fc.constantFrom(...REGEX_TOKENS, ...NON_RE2_TOKENS), 5).map((tokens) => tokens.join('')),
);
const TEMPLATE_SEGMENTS = [
  'pets',
  '{id}',
  '{id=*}',
  '{rest=**}',
  '*',
  '**',
  '{',
  '{x=y}',
  '',
  'a.b',
  '{id}.json',
];
const pathTemplate = mostly(
  fc.constantFrom('/pets/{id}', '/files/{rest=**}', '/v1/*/items', '/{id}.json'),
  fc
    .tuple(fc.constantFrom('/', ''), some(fc.constantFrom(...TEMPLATE_SEGMENTS), 4))
    .map(([root, segments]) => root + segments.join('/')),
);

const headerName = mostly(fc.constantFrom('x-a', 'X-Canary', ':authority', 'content-type'), text);
const headerValue = mostly(text, regex);
const headerMatcher = fc.record(
  {
    name: headerName,
    value: headerValue,
    regex: fc.boolean(),
    present: fc.boolean(),
    invertMatch: fc.boolean(),
  },
  { requiredKeys: ['name'] },
);
const queryMatcher = fc.record(
  { name: headerName, value: headerValue, regex: fc.boolean(), present: fc.boolean() },
  { requiredKeys: ['name'] },
);
const pathSpecifier = fc.oneof(
  urlPath.map((prefix) => ({ prefix })),
  urlPath.map((exact) => ({ exact })),
  regex.map((pattern) => ({ regex: pattern })),
  pathTemplate.map((template) => ({ pathTemplate: template })),
);
const matcher = fc
  .tuple(
    pathSpecifier,
    sparse({
      methods: some(mostly(fc.constantFrom('GET', 'POST', 'PATCH'), fc.constant('FETCH'))),
      headers: some(headerMatcher),
      queryParameters: some(queryMatcher),
    }),
  )
  .map(([specifier, conditions]) => ({ ...specifier, ...conditions }));

const destination = fc.record(
  { upstream: ref, function: fc.constantFrom('hello', 'hello:1', 'missing') },
  { requiredKeys: ['upstream'] },
);
const weight = mostly(fc.nat({ max: 100 }), fc.constantFrom(0, 4294967295, -1, 1.5));
const routeAction = fc.oneof(
  destination.map((single) => ({ single })),
  some(fc.record({ weight, destination }, { requiredKeys: ['destination'] }), 3).map((destinations) => ({
    multi: { destinations },
  })),
  ref.map((upstream) => ({ functions: { upstream } })),
);
const action = fc.oneof(
  routeAction.map((spec) => ({ routeAction: spec })),
  fc
    .record(
      {
        status: mostly(fc.integer({ min: 200, max: 599 }), fc.constantFrom(100, 999)),
        body: mostly(text, fc.constant('x'.repeat(5000))),
      },
      { requiredKeys: ['status'] },
    )
    .map((spec) => ({ directResponseAction: spec })),
  sparse({
    hostRedirect: text,
    pathRedirect: urlPath,
    prefixRewrite: urlPath,
    responseCode: mostly(fc.constantFrom(301, 302, 308), fc.constant(200)),
    httpsRedirect: fc.boolean(),
    portRedirect: mostly(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(0, 70000)),
  }).map((spec) => ({ redirectAction: spec })),
  ref.map((table) => ({ delegateAction: { ref: table } })),
);

const headerToAdd = fc.record(
  { header: fc.record({ key: headerName, value: text }, { requiredKeys: ['key'] }), append: fc.boolean() },
  { requiredKeys: ['header'] },
);
const options = sparse({
  prefixRewrite: urlPath,
  timeout: duration,
  hostRewrite: text,
  retries: sparse({
    retryOn: fc.constantFrom('5xx', 'connect-failure', 'nonsense'),
    numRetries: fc.nat({ max: 10 }),
    perTryTimeout: duration,
  }),
  cors: sparse({
    allowOrigin: some(text),
    allowOriginRegex: some(regex),
    allowMethods: some(fc.constantFrom('GET', 'POST')),
    maxAge: duration,
    allowCredentials: fc.boolean(),
  }),
  headerManipulation: sparse({
    requestHeadersToAdd: some(headerToAdd),
    requestHeadersToRemove: some(headerName),
    responseHeadersToAdd: some(headerToAdd),
    responseHeadersToRemove: some(headerName),
  }),
  faults: sparse({
    abort: fc.record(
      { percentage, httpStatus: mostly(fc.integer({ min: 200, max: 599 }), fc.constantFrom(100, 700)) },
      { requiredKeys: ['httpStatus'] },
    ),
    delay: fc.record({ percentage, fixedDelay: duration }, { requiredKeys: ['fixedDelay'] }),
  }),
});
const route = fc
  .tuple(sparse({ matchers: some(matcher), options }), action)
  .map(([routeSpec, routeActionSpec]) => ({ ...routeSpec, ...routeActionSpec }));

const domain = mostly(
  fc.constantFrom('*', 'a.example.com', 'A.Example.com', '*.example.com', 'b.example.com'),
  text,
);
const virtualServiceSpec = merged(
  fc.record({
    virtualHost: sparse({
      domains: mostly(
        fc.uniqueArray(domain, { maxLength: 3, selector: (each) => each.toLowerCase() }),
        some(domain, 3),
      ),
      routes: some(route, 3),
      options,
    }),
  }),
  rarely({
    sslConfig: fc.record({ secretRef: ref, sniDomains: some(domain) }, { requiredKeys: ['secretRef'] }),
  }),
);
const gatewaySpec = merged(
  fc.record({ bindPort: port }),
  sparse({
    bindAddress: mostly(
      fc.constantFrom('::', '0.0.0.0', '127.0.0.1'),
      fc.constantFrom('localhost', 'not an ip'),
    ),
    proxyNames: some(mostly(fc.constantFrom('gateway-proxy', 'other'), fc.constantFrom('ns~p', 'bad name'))),
  }),
  rarely({ ssl: fc.boolean(), virtualServices: some(ref), grpcProxyless: fc.constant({}) }),
);
const host = fc.record(
  {
    address: mostly(fc.ipV4(), fc.oneof(fc.constantFrom('localhost', 'svc.example.com', '::1', ''), text)),
    port,
    weight: fc.nat({ max: 10 }),
  },
  { requiredKeys: ['address', 'port'] },
);
const upstreamType = fc.oneof(
  fc
    .record(
      {
        hosts: some(host),
        useTls: fc.boolean(),
        sni: mostly(fc.constant('svc.example.com'), text),
        http2: fc.boolean(),
      },
      { requiredKeys: ['hosts'] },
    )
    .map((spec) => ({ static: spec })),
  fc
    .record(
      {
        serviceName: fc.constantFrom('petstore', 'bad name'),
        serviceNamespace: namespace,
        servicePort: port,
      },
      { requiredKeys: ['serviceName', 'servicePort'] },
    )
    .map((spec) => ({ kube: spec })),
  fc
    .record(
      {
        region: mostly(fc.constantFrom('us-east-2', 'eu-west-1'), fc.constant('mars-1')),
        accountId: mostly(fc.constant('123456789012'), fc.constant('42')),
        secretRef: ref,
        lambdaFunctions: some(
          fc.record(
            {
              functionName: fc.constantFrom(
                'hello',
                'arn:aws:lambda:us-east-2:123456789012:function:hello',
                'a b',
              ),
              qualifier: fc.constantFrom('1', 'prod', '$LATEST', ''),
              logicalName: fc.constantFrom('hello', 'hello:1'),
            },
            { requiredKeys: ['functionName'] },
          ),
        ),
      },
      { requiredKeys: ['region'] },
    )
    .map((spec) => ({ aws: spec })),
);
const upstreamSpec = fc
  .tuple(upstreamType, sparse({ connectTimeout: duration }))
  .map(([spec, common]) => ({ ...spec, ...common }));

const metadata = fc.record({ name, namespace }, { requiredKeys: ['name'] });
const apiVersion = mostly(fc.constant(API_VERSION), fc.constantFrom('v1', 'sluice.dev/v2'));

function resourceOf(kind: string, spec: fc.Arbitrary<unknown>): fc.Arbitrary<Json> {
  return fc.record({ apiVersion, kind: fc.constant(kind), metadata, spec });
}

const secret = fc.record({
  apiVersion,
  kind: fc.constant('Secret'),
  metadata,
  type: fc.constantFrom('tls', 'aws', 'generic', 'nonsense'),
  data: fc.dictionary(fc.constantFrom('certChain', 'privateKey', 'accessKeyId', 'secretAccessKey'), text),
});
/** A document a store can hand over (a kind and a name), with anything at all in it besides. */
const garbage = fc
  .tuple(
    fc.constantFrom(...KINDS, 'Nope'),
    metadata,
    fc.dictionary(
      fc.constantFrom('apiVersion', 'spec', 'type', 'data', 'status', 'extra'),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  )
  .map(([kind, meta, rest]) => ({ ...rest, kind, metadata: meta }));
const document = fc.oneof(
  { weight: 3, arbitrary: resourceOf('Upstream', upstreamSpec) },
  { weight: 3, arbitrary: resourceOf('VirtualService', virtualServiceSpec) },
  { weight: 1, arbitrary: resourceOf('RouteTable', sparse({ routes: some(route, 3) })) },
  { weight: 1, arbitrary: resourceOf('Gateway', gatewaySpec) },
  { weight: 1, arbitrary: secret },
  { weight: 1, arbitrary: garbage },
);

function contentsOf(documents: Json[]): StoreContents {
  return {
    // The pipeline may complete documents in place (a default namespace): every run gets its own copy.
    resources: structuredClone(documents).map((resource, index) => ({
      resource: resource as unknown as Resource,
      location: { file: 'generated.yaml', line: index + 1 },
    })),
    errors: [],
  };
}

/** The key `loadSnapshot` reports a document under. */
function reportKeyOf(document: Json) {
  const meta = document.metadata as { name: string; namespace?: string };
  return { kind: document.kind as Resource['kind'], namespace: meta.namespace || 'default', name: meta.name };
}

describe('property: generated resources', () => {
  it('never throw, each get a report, and only what Envoy accepts is served', () => {
    fc.assert(
      fc.property(some(document, 6), (documents) => {
        const { translation, snapshots } = translateOnce(contentsOf(documents));
        const unreported = documents.filter((each) => !translation.reports.get(reportKeyOf(each)));
        expect(unreported).toEqual([]);
        expect(xdsProblems(snapshots)).toEqual([]);
        const reasons = translation.reports.all().flatMap((report) => [...report.errors, ...report.warnings]);
        expect(invalidForEnvoyReasons(reasons)).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });
});

/** YAML's own syntax in pieces, anchors, aliases, merge keys and tags among them. */
const YAML_PIECES = [
  'a',
  ': ',
  ' ',
  '\n',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&x ',
  '*x',
  '<<: ',
  '!!str ',
  '!!binary ',
  '!tag ',
  '? ',
  '"',
  "'",
  '\t',
  '# ',
  '---\n',
  '|\n',
  '>\n',
  'kind: Upstream\n',
  'metadata: {name: a}\n',
];

describe('property: any text in the config directory', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-property-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const yamlText = fc.oneof(
    some(fc.jsonValue({ maxDepth: 4 }), 3).map((values) =>
      values.map((value) => stringify(value)).join('---\n'),
    ),
    some(document, 3).map((documents) => documents.map((each) => stringify(each)).join('---\n')),
    fc.string({ unit: fc.constantFrom(...YAML_PIECES), maxLength: 30 }),
  );

  it('loads, reports and translates without throwing, and serves only what Envoy accepts', async () => {
    await fc.assert(
      fc.asyncProperty(yamlText, async (fileText) => {
        fs.writeFileSync(path.join(dir, 'generated.yaml'), fileText);
        const contents = await new FileStore(dir).load();
        const { loaded, translation, snapshots } = translateOnce(contents);
        for (const { resource } of contents.resources)
          expect(translation.reports.get(reportKeyOf(resource as unknown as Json))).toBeDefined();
        for (const { key, message } of contents.errors) {
          if (key)
            expect(translation.reports.get(key)?.errors).toContainEqual(expect.stringContaining(message));
          else expect(loaded.fileProblems).toContainEqual(expect.objectContaining({ message }));
        }
        expect(xdsProblems(snapshots)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import pino from 'pino';
import { loadSnapshot } from '../../../src/api/load';
import { discoverAll, discoverTarget, discoveryTargets } from '../../../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { DEFAULT_OPENAPI_PATHS, openApiDiscoverer } from '../../../src/discovery/fds/openapi';
import {
  closedPort,
  oasExample,
  oasExampleJson,
  OpenApiProbeServer,
  TLS_CERTIFICATE,
  TLS_SERVER_NAME,
} from '../../helpers/openapi-probe-server';
import { contentsOf } from '../../helpers/translate-yaml';
import { waitFor } from '../../helpers/wait';

const logger = pino({ level: 'silent' });
const ENABLED = { 'discovery.sluice.dev/function-discovery': 'enabled' };
const PETSTORE_OPERATIONS = [
  'updatePet',
  'addPet',
  'findPetsByStatus',
  'findPetsByTags',
  'getPetById',
  'updatePetWithForm',
  'deletePet',
  'uploadFile',
  'getInventory',
  'placeOrder',
  'getOrderById',
  'deleteOrder',
  'createUser',
  'createUsersWithArrayInput',
  'createUsersWithListInput',
  'loginUser',
  'logoutUser',
  'getUserByName',
  'updateUser',
  'deleteUser',
];
const LAST_DEFAULT_PATH = DEFAULT_OPENAPI_PATHS[DEFAULT_OPENAPI_PATHS.length - 1];

describe('OpenAPI discovery of service upstreams', () => {
  let server: OpenApiProbeServer;

  beforeEach(async () => {
    server = new OpenApiProbeServer();
    await server.start();
  });

  afterEach(() => server.stop());

  interface UpstreamOptions {
    name?: string;
    port?: number;
    labels?: Record<string, string>;
    swaggerUrl?: string;
    /** More fields of spec.static, as YAML flow mapping entries. */
    staticFields?: string;
  }

  function upstream({
    name = 'petstore',
    port,
    labels = ENABLED,
    swaggerUrl,
    staticFields,
  }: UpstreamOptions = {}): string {
    const serviceSpec = swaggerUrl ? `, serviceSpec: {rest: {swaggerUrl: "${swaggerUrl}"}}` : '';
    return `---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: ${name}, namespace: default, labels: ${JSON.stringify(labels)}}
spec: {static: {hosts: [{address: 127.0.0.1, port: ${port ?? server.port}}]${serviceSpec}${staticFields ? `, ${staticFields}` : ''}}}
`;
  }

  function settings(discovery: Record<string, unknown>): string {
    return `---
apiVersion: sluice.dev/v1
kind: Settings
metadata: {name: default, namespace: default}
spec: ${JSON.stringify({ discovery })}
`;
  }

  async function discover(
    yaml: string,
    previous?: DiscoveredFunctions,
    signal?: AbortSignal,
  ): Promise<DiscoveredFunctions> {
    const { snapshot } = loadSnapshot(contentsOf(yaml));
    const targets = discoveryTargets(snapshot);
    expect(targets.map((target) => target.discoverer)).toEqual([openApiDiscoverer]);
    return discoverTarget(targets[0], snapshot, previous, logger, signal);
  }

  const names = (found: DiscoveredFunctions) => found.functions.map((fn) => fn.name);
  const functionNamed = (found: DiscoveredFunctions, name: string) =>
    found.functions.find((fn) => fn.name === name);

  describe('probing', () => {
    it('tries every default path, each once with the discovery header, until one serves a document', async () => {
      server.serve(LAST_DEFAULT_PATH, oasExample('3.0/json/petstore.json'));
      const found = await discover(upstream());
      expect(found.error).toBeUndefined();
      expect(names(found)).toEqual(PETSTORE_OPERATIONS);
      expect(functionNamed(found, 'getPetById')).toEqual({
        name: 'getPetById',
        method: 'GET',
        path: '/pet/{petId}',
        basePath: '/v2',
        parameters: [{ name: 'petId', in: 'path', required: true }],
      });
      expect([...server.paths()].sort()).toEqual([...DEFAULT_OPENAPI_PATHS].sort());
      expect(server.requests.map((request) => request.headers['x-sluice-discovery'])).toEqual(
        DEFAULT_OPENAPI_PATHS.map(() => 'openapi'),
      );
    });

    it('takes the earliest path in the list that serves a document, even when a later one answers first', async () => {
      server.serve('/swagger.json', oasExample('2.0/json/petstore-expanded.json'));
      server.serve('/v3/api-docs', oasExample('3.0/json/petstore.json'));
      server.hold('/swagger.json', server.answered('/v3/api-docs'));
      const found = await discover(upstream());
      expect(found.error).toBeUndefined();
      expect(names(found)).toEqual(['findPets', 'addPet', 'find pet by id', 'deletePet']);
      expect(found.functions.every((fn) => fn.basePath === '/api')).toBe(true);
    });

    it('passes over 200 answers that are not OpenAPI documents (a single-page app, a health check, a cut-off body)', async () => {
      server.answer('/openapi.json', 200, '<!doctype html><title>Pets</title>');
      server.answer('/openapi.yaml', 200, 'OK', 'text/plain');
      server.answer('/swagger.json', 200, '{"status": "UP"}', 'application/json');
      server.answer('/swagger.yaml', 200, '{"openapi": "3.0.3", "paths": {', 'application/json');
      server.answer('/swagger/docs/v1', 500, 'oops');
      server.serve('/v2/api-docs', oasExample('2.0/json/petstore.json'));
      const found = await discover(upstream());
      expect(found.error).toBeUndefined();
      expect(names(found)).toEqual(PETSTORE_OPERATIONS);
    });

    it('probes only the Settings openApiPaths when set', async () => {
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      server.serve('/internal/api.yaml', oasExample('3.0/yaml/petstore-expanded.yaml'));
      const found = await discover(
        settings({ openApiPaths: ['/docs/api.json', '/internal/api.yaml'] }) + upstream(),
      );
      expect(found.error).toBeUndefined();
      expect(names(found)).toEqual(['findPets', 'addPet', 'find pet by id', 'deletePet']);
      expect([...server.paths()].sort()).toEqual(['/docs/api.json', '/internal/api.yaml']);
    });

    it('reads an absolute swaggerUrl without probing the service', async () => {
      const specHost = new OpenApiProbeServer();
      await specHost.start();
      try {
        specHost.serve('/specs/petstore.yaml', oasExample('3.1/yaml/petstore.yaml'));
        const found = await discover(upstream({ swaggerUrl: specHost.url('/specs/petstore.yaml') }));
        expect(found.error).toBeUndefined();
        expect(names(found)).toEqual(PETSTORE_OPERATIONS);
        expect(specHost.paths()).toEqual(['/specs/petstore.yaml']);
        expect(specHost.requests[0].headers['x-sluice-discovery']).toBe('openapi');
        expect(server.count()).toBe(0);
      } finally {
        await specHost.stop();
      }
    });

    it('discovers a kube upstream through its absolute swaggerUrl', async () => {
      server.serve('/specs/pets.json', oasExample('3.0/json/petstore.json'));
      const found = await discover(`
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: pets-kube, namespace: default, labels: ${JSON.stringify(ENABLED)}}
spec: {kube: {serviceName: pets, servicePort: 8080, serviceSpec: {rest: {swaggerUrl: "${server.url('/specs/pets.json')}"}}}}
`);
      expect(names(found)).toEqual(PETSTORE_OPERATIONS);
      expect(server.paths()).toEqual(['/specs/pets.json']);
    });

    it('reads the document over TLS, checking the certificate against caFile and sni', async () => {
      const secure = new OpenApiProbeServer({ tls: true });
      await secure.start();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-openapi-'));
      try {
        const caFile = path.join(dir, 'ca.pem');
        fs.writeFileSync(caFile, TLS_CERTIFICATE);
        secure.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
        const verified = (sni: string) =>
          upstream({ port: secure.port, staticFields: `useTls: true, sni: ${sni}, caFile: "${caFile}"` });
        expect(names(await discover(verified(TLS_SERVER_NAME)))).toEqual(PETSTORE_OPERATIONS);
        const untrusted = await discover(upstream({ port: secure.port, staticFields: 'useTls: true' }));
        expect(untrusted.error).toMatch(
          /^cannot reach the service: https:\/\/127\.0\.0\.1:\d+\/openapi\.json: self-signed certificate$/,
        );
        const misnamed = await discover(verified('other.internal'));
        expect(misnamed.error).toMatch(/Hostname\/IP does not match certificate's altnames/);
      } finally {
        await secure.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('reads a relative swaggerUrl from the upstream without probing', async () => {
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      server.serve('/api/spec.yaml', oasExample('2.0/yaml/petstore-minimal.yaml'));
      const found = await discover(upstream({ swaggerUrl: '/api/spec.yaml' }));
      expect(found.functions).toEqual([{ name: 'get_pets', method: 'GET', path: '/pets', basePath: '/api' }]);
      expect(server.paths()).toEqual(['/api/spec.yaml']);
    });

    it.each([
      ['2.0/json/petstore.json', '/openapi.json'],
      ['2.0/yaml/petstore.yaml', '/openapi.yaml'],
      ['3.0/json/petstore.json', '/openapi.json'],
      ['3.0/yaml/petstore.yaml', '/openapi.yaml'],
      ['3.1/json/petstore.json', '/openapi.json'],
      ['3.1/yaml/petstore.yaml', '/openapi.yaml'],
    ])('reads %s (served at %s)', async (example, at) => {
      server.serve(at, oasExample(example));
      const found = await discover(upstream());
      expect(found.error).toBeUndefined();
      expect([...names(found)].sort()).toEqual([...PETSTORE_OPERATIONS].sort());
      expect(new Set(found.functions.map((fn) => fn.basePath))).toEqual(new Set(['/v2']));
      expect(functionNamed(found, 'loginUser')?.parameters).toEqual([
        { name: 'username', in: 'query', required: true },
        { name: 'password', in: 'query', required: true },
      ]);
    });

    it('reads a document that starts with a byte order mark', async () => {
      server.serve('/openapi.json', `\uFEFF${oasExample('3.0/json/petstore.json')}`);
      expect(names(await discover(upstream()))).toEqual(PETSTORE_OPERATIONS);
    });

    it('discovers an unlabelled upstream that names its document with swaggerUrl (default whitelist mode)', async () => {
      server.serve('/api/spec.yaml', oasExample('2.0/yaml/petstore-minimal.yaml'));
      const found = await discover(upstream({ labels: {}, swaggerUrl: '/api/spec.yaml' }));
      expect(names(found)).toEqual(['get_pets']);
    });

    it('derives names for operations without operationId', async () => {
      server.serve('/openapi.json', oasExample('3.0/json/petstore-simple.json'));
      const found = await discover(upstream());
      expect(names(found)).toEqual(['get_pet_id', 'put_pet_id']);
    });

    it('takes base paths from OpenAPI servers: root, path and operation level, with variables', async () => {
      server.serve('/openapi.json', oasExample('3.0/json/server-variables.json'));
      const found = await discover(upstream());
      expect(found.functions.map((fn) => [fn.name, fn.basePath])).toEqual([
        ['post_global', '/v2'],
        ['post_operation', '/anything/demo'],
        ['put_path', '/anything/common/demo'],
        ['put_combo', '/anything/demo'],
      ]);
    });

    it('resolves a relative server URL against where the document was found', async () => {
      const document = oasExampleJson('3.0/json/petstore.json');
      document.servers = [{ url: 'v2' }];
      server.serve('/docs/openapi.json', JSON.stringify(document));
      const found = await discover(upstream({ swaggerUrl: '/docs/openapi.json' }));
      expect(new Set(found.functions.map((fn) => fn.basePath))).toEqual(new Set(['/docs/v2']));
    });
  });

  describe('remembering services without a document', () => {
    it('probes once, then not again until the upstream changes', async () => {
      const blacklist = settings({ fdsMode: 'blacklist' });
      const first = await discover(blacklist + upstream({ labels: {} }));
      expect(first.functions).toEqual([]);
      expect(first.error).toBeUndefined();
      expect(server.count()).toBe(DEFAULT_OPENAPI_PATHS.length);
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      const second = await discover(blacklist + upstream({ labels: {} }), first);
      expect(second.functions).toEqual([]);
      expect(second.error).toBeUndefined();
      expect(server.count()).toBe(DEFAULT_OPENAPI_PATHS.length);
      const relabelled = await discover(blacklist + upstream({ labels: { team: 'pets' } }), second);
      expect(relabelled.error).toBeUndefined();
      expect(names(relabelled)).toEqual(PETSTORE_OPERATIONS);
      expect(server.count('/openapi.json')).toBe(2);
    });

    it('forgets an upstream that is deleted, so one created again with the same spec is probed', async () => {
      await discover(upstream());
      await discover(upstream({ name: 'other' }));
      expect(server.count()).toBe(2 * DEFAULT_OPENAPI_PATHS.length);
      await discover(upstream());
      expect(server.count()).toBe(3 * DEFAULT_OPENAPI_PATHS.length);
    });

    it('probes again when the Settings probe paths change', async () => {
      const first = await discover(settings({ openApiPaths: ['/a.json'] }) + upstream());
      expect(first.functions).toEqual([]);
      server.serve('/b.json', oasExample('3.0/json/petstore.json'));
      const unchanged = await discover(settings({ openApiPaths: ['/a.json'] }) + upstream(), first);
      expect(unchanged.functions).toEqual([]);
      const changed = await discover(settings({ openApiPaths: ['/a.json', '/b.json'] }) + upstream());
      expect(names(changed)).toEqual(PETSTORE_OPERATIONS);
      expect(server.paths()).toEqual(['/a.json', '/a.json', '/b.json']);
    });

    it('probes again after ten minutes', async () => {
      const first = await discover(upstream());
      expect(first.functions).toEqual([]);
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      const now = Date.now();
      const clock = jest.spyOn(Date, 'now');
      try {
        clock.mockReturnValue(now + 9 * 60 * 1000);
        expect((await discover(upstream(), first)).functions).toEqual([]);
        clock.mockReturnValue(now + 10 * 60 * 1000 + 1);
        expect(names(await discover(upstream(), first))).toEqual(PETSTORE_OPERATIONS);
      } finally {
        clock.mockRestore();
      }
      expect(server.count('/openapi.json')).toBe(2);
    });

    it('reports the missing document on an upstream labelled enabled, and quietly finds none otherwise', async () => {
      const expected = `no OpenAPI document at any of ${DEFAULT_OPENAPI_PATHS.length} probed paths of http://127.0.0.1:${server.port} (probing again in 10 min or when the upstream changes)`;
      const labelled = await discover(upstream());
      expect(labelled).toMatchObject({ functions: [], error: expected });
      const again = await discover(upstream(), labelled);
      expect(again.error).toBe(expected);
      expect(server.count()).toBe(DEFAULT_OPENAPI_PATHS.length);
      const unlabelled = await discover(settings({ fdsMode: 'blacklist' }) + upstream({ labels: {} }));
      expect(unlabelled.functions).toEqual([]);
      expect(unlabelled.error).toBeUndefined();
    });

    it('reports a swaggerUrl without a document even on an unlabelled upstream', async () => {
      const found = await discover(
        settings({ fdsMode: 'blacklist' }) + upstream({ labels: {}, swaggerUrl: '/spec.json' }),
      );
      expect(found.error).toBe(
        `no OpenAPI document at ${server.url('/spec.json')} (probing again in 10 min or when the upstream changes)`,
      );
    });
  });

  describe('change detection', () => {
    it('re-reads only the found document each poll, and does not parse it again when unchanged', async () => {
      server.serve(LAST_DEFAULT_PATH, oasExample('2.0/json/petstore.json'));
      const first = await discover(upstream());
      const probes = server.count();
      const second = await discover(upstream(), first);
      expect(second.error).toBeUndefined();
      expect(second.functions).toBe(first.functions);
      expect(server.paths().slice(probes)).toEqual([LAST_DEFAULT_PATH]);
    });

    it('asks with If-None-Match and keeps the functions on 304', async () => {
      server.useEtags();
      server.serve('/openapi.yaml', oasExample('3.1/yaml/petstore.yaml'));
      const first = await discover(upstream());
      const second = await discover(upstream(), first);
      expect(second.functions).toBe(first.functions);
      const reads = server.requests.filter((request) => request.path === '/openapi.yaml');
      expect(reads.map((request) => request.status)).toEqual([200, 304]);
      expect(reads[0].headers['if-none-match']).toBeUndefined();
      expect(reads[1].headers['if-none-match']).toMatch(/^"[0-9a-f]{40}"$/);
    });

    it('picks up added, removed and renamed operations', async () => {
      server.useEtags();
      const document = oasExampleJson('3.0/json/petstore.json') as {
        paths: Record<string, Record<string, { operationId?: string }>>;
      };
      server.serve('/openapi.json', JSON.stringify(document));
      const first = await discover(upstream());
      delete document.paths['/store/inventory'];
      document.paths['/pet'].post.operationId = 'createPet';
      document.paths['/pet/{petId}/vaccinations'] = {
        get: { operationId: 'listVaccinations', responses: { 200: { description: 'OK' } } } as never,
      };
      server.serve('/openapi.json', JSON.stringify(document));
      const second = await discover(upstream(), first);
      expect(second.error).toBeUndefined();
      const expected = PETSTORE_OPERATIONS.filter((name) => name !== 'getInventory').map((name) =>
        name === 'addPet' ? 'createPet' : name,
      );
      expect(names(second)).toEqual([...expected, 'listVaccinations']);
      expect(functionNamed(second, 'listVaccinations')).toEqual({
        name: 'listVaccinations',
        method: 'GET',
        path: '/pet/{petId}/vaccinations',
        basePath: '/v2',
      });
    });

    it('probes again when the found path stops serving the document', async () => {
      server.serve(LAST_DEFAULT_PATH, oasExample('2.0/json/petstore.json'));
      const first = await discover(upstream());
      expect(names(first)).toEqual(PETSTORE_OPERATIONS);
      server.remove(LAST_DEFAULT_PATH);
      server.serve('/v3/api-docs', oasExample('3.0/json/petstore-simple.json'));
      const probes = server.count();
      const second = await discover(upstream(), first);
      expect(second.error).toBeUndefined();
      expect(names(second)).toEqual(['get_pet_id', 'put_pet_id']);
      expect(server.paths()[probes]).toBe(LAST_DEFAULT_PATH);
      expect(server.count('/openapi.json')).toBe(2);
      expect(server.count('/v3/api-docs')).toBe(2);
    });
  });

  describe('failures', () => {
    it("keeps the last known functions and reports swagger-parser's message for an invalid document", async () => {
      server.useEtags();
      const good = oasExample('3.0/json/petstore.json');
      server.serve('/openapi.json', good);
      const first = await discover(upstream());
      const url = server.url('/openapi.json');

      const broken = JSON.parse(good) as {
        paths: Record<string, Record<string, { parameters?: unknown[] }>>;
      };
      broken.paths['/pet/{petId}'].get.parameters = [{ $ref: '#/components/parameters/PetId' }];
      server.serve('/openapi.json', JSON.stringify(broken));
      const brokenRef = `the OpenAPI document at ${url} is invalid: Missing $ref pointer "#/components/parameters/PetId". Token "parameters" does not exist.`;
      const second = await discover(upstream(), first);
      expect(second).toMatchObject({ error: brokenRef, updatedAt: first.updatedAt });
      expect(second.functions).toEqual(first.functions);
      // The same invalid document again (a 304 now) is still invalid.
      const third = await discover(upstream(), second);
      expect(third.error).toBe(brokenRef);
      expect(third.functions).toEqual(first.functions);

      server.serve('/openapi.json', good.replace('"openapi": "3.0.0"', '"openapi": "4.0.0"'));
      const unsupported = await discover(upstream(), third);
      expect(unsupported.error).toMatch(
        new RegExp(`^the OpenAPI document at ${url} is invalid: Unsupported OpenAPI version: 4\\.0\\.0\\.`),
      );
      expect(unsupported.functions).toEqual(first.functions);

      server.serve('/openapi.json', good);
      const recovered = await discover(upstream(), unsupported);
      expect(recovered.error).toBeUndefined();
      expect(names(recovered)).toEqual(PETSTORE_OPERATIONS);
    });

    it('keeps the functions while the found document answers a server error, and reads it again next time', async () => {
      const blacklist = settings({ fdsMode: 'blacklist' });
      server.serve(LAST_DEFAULT_PATH, oasExample('3.0/json/petstore.json'));
      const first = await discover(blacklist + upstream({ labels: {} }));
      server.answer(LAST_DEFAULT_PATH, 503, 'restarting');
      const failing = await discover(blacklist + upstream({ labels: {} }), first);
      expect(failing.error).toBe(`${server.url(LAST_DEFAULT_PATH)}: HTTP 503`);
      expect(failing.functions).toEqual(first.functions);
      server.serve(LAST_DEFAULT_PATH, oasExample('3.0/json/petstore.json'));
      const recovered = await discover(blacklist + upstream({ labels: {} }), failing);
      expect(recovered.error).toBeUndefined();
      expect(names(recovered)).toEqual(PETSTORE_OPERATIONS);
      expect(server.count(LAST_DEFAULT_PATH)).toBe(3);
    });

    it('does not take a service answering server errors for one without a document', async () => {
      const onePath = settings({ openApiPaths: ['/openapi.json'] });
      server.answer('/openapi.json', 500, 'starting');
      const starting = await discover(onePath + upstream());
      expect(starting.error).toBe(`cannot reach the service: ${server.url('/openapi.json')}: HTTP 500`);
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      expect(names(await discover(onePath + upstream(), starting))).toEqual(PETSTORE_OPERATIONS);
    });

    it('reports an unreachable service and keeps the last known functions', async () => {
      server.serve('/openapi.json', oasExample('3.0/json/petstore.json'));
      const first = await discover(upstream());
      const port = await closedPort();
      const unreachable = await discover(upstream({ port }), first);
      expect(unreachable.error).toMatch(
        new RegExp(
          `^cannot reach the service: http://127\\.0\\.0\\.1:${port}/openapi\\.json: .*ECONNREFUSED`,
        ),
      );
      expect(unreachable.functions).toEqual(first.functions);
    });

    it('does not follow external $refs, to a file or over HTTP', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-openapi-'));
      try {
        const file = path.join(dir, 'parameters.json');
        fs.writeFileSync(
          file,
          JSON.stringify({ fromFile: { name: 'fromFile', in: 'query', required: true } }),
        );
        server.serve(
          '/shared/parameters.json',
          JSON.stringify({ fromHttp: { name: 'fromHttp', in: 'query', required: true } }),
        );
        const document = oasExampleJson('3.0/json/petstore.json') as {
          paths: Record<string, Record<string, { parameters?: unknown[] }>>;
        };
        document.paths['/store/inventory'].get.parameters = [
          { $ref: `${file}#/fromFile` },
          { $ref: `${server.url('/shared/parameters.json')}#/fromHttp` },
          { name: 'region', in: 'query' },
        ];
        server.serve('/openapi.json', JSON.stringify(document));
        const found = await discover(upstream());
        expect(found.error).toBeUndefined();
        expect(functionNamed(found, 'getInventory')?.parameters).toEqual([{ name: 'region', in: 'query' }]);
        expect(server.count('/shared/parameters.json')).toBe(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('stops waiting for a service that does not answer when discovery is cancelled', async () => {
      server.hold('/spec.json', new Promise<void>(() => undefined));
      const cancel = new AbortController();
      const pending = discover(upstream({ swaggerUrl: '/spec.json' }), undefined, cancel.signal);
      await waitFor('the request to arrive', () => (server.count('/spec.json') === 1 ? true : undefined));
      cancel.abort();
      const found = await pending;
      expect(found.error).toMatch(
        /^cannot reach the service: http:\/\/127\.0\.0\.1:\d+\/spec\.json: .*abort/i,
      );
    });
    // The request timeout and the size limit: test/security/hostile-upstreams.test.ts.
  });

  it('never has more than 8 probe requests in flight over all upstreams', async () => {
    const upstreams = 10;
    const requests = upstreams * DEFAULT_OPENAPI_PATHS.length;
    server.serve(LAST_DEFAULT_PATH, oasExample('3.0/json/petstore-simple.json'));
    server.answerInBatches(8, requests);
    const yaml = Array.from({ length: upstreams }, (_, index) => upstream({ name: `service-${index}` })).join(
      '',
    );
    const found = await discoverAll(loadSnapshot(contentsOf(yaml)).snapshot, new Map(), logger, upstreams);
    expect([...found.values()].map((result) => result.functions.length)).toEqual(
      Array.from({ length: upstreams }, () => 2),
    );
    expect(server.count()).toBe(requests);
    expect(server.maxInFlight).toBe(8);
  });
});

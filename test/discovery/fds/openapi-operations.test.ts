import SwaggerParser from '@apidevtools/swagger-parser';
import { parse as parseYaml } from 'yaml';
import type { RestFunctionSpec } from '../../../src/api/types';
import { operationsOf, type ApiDocument } from '../../../src/discovery/fds/openapi/operations';
import { oasExample, oasExampleJson } from '../../helpers/openapi-probe-server';

const DOCUMENT_URL = 'http://10.0.0.12:8080/docs/openapi.json';

/** Dereferenced as discovery does it, then turned into functions. */
async function functionsOf(document: object): Promise<RestFunctionSpec[]> {
  const dereferenced = await SwaggerParser.dereference(document as never, { resolve: { external: false } });
  return operationsOf(dereferenced as ApiDocument, DOCUMENT_URL);
}

const example = (relativePath: string) =>
  functionsOf(
    relativePath.endsWith('.json')
      ? oasExampleJson(relativePath)
      : (parseYaml(oasExample(relativePath)) as object),
  );

const byName = (functions: RestFunctionSpec[]) => new Map(functions.map((fn) => [fn.name, fn]));

/** An example document with its operations reachable for editing. */
interface EditableDocument {
  servers?: unknown[];
  paths: Record<
    string,
    Record<string, { operationId?: string; parameters?: Array<Record<string, unknown>> }>
  >;
}

const editable = (relativePath: string) => oasExampleJson(relativePath) as unknown as EditableDocument;

describe('operationsOf', () => {
  it('turns Swagger 2.0 operations into functions under basePath, with form and consumes media types', async () => {
    const functions = byName(await example('2.0/json/petstore.json'));
    expect(functions.get('updatePetWithForm')).toEqual({
      name: 'updatePetWithForm',
      method: 'POST',
      path: '/pet/{petId}',
      basePath: '/v2',
      parameters: [{ name: 'petId', in: 'path', required: true }],
      requestContentType: 'application/x-www-form-urlencoded',
    });
    expect(functions.get('uploadFile')?.requestContentType).toBe('multipart/form-data');
    expect(functions.get('deletePet')?.parameters).toEqual([
      { name: 'api_key', in: 'header' },
      { name: 'petId', in: 'path', required: true },
    ]);
    // JSON or XML: no single media type to send.
    expect(functions.get('addPet')).not.toHaveProperty('requestContentType');
    // A body without consumes anywhere says nothing about its media type.
    expect(functions.get('placeOrder')).not.toHaveProperty('requestContentType');
  });

  it("takes a Swagger 2.0 body's media type from the document's consumes", async () => {
    const functions = byName(await example('2.0/yaml/petstore-expanded.yaml'));
    expect(functions.get('addPet')).toMatchObject({
      basePath: '/api',
      requestContentType: 'application/json',
    });
    expect(functions.get('findPets')).not.toHaveProperty('requestContentType');
  });

  it('takes OpenAPI 3 request bodies with exactly one media type, through $ref too', async () => {
    const functions = byName(await example('3.0/json/petstore.json'));
    expect(functions.get('createUsersWithArrayInput')?.requestContentType).toBe('application/json');
    expect(functions.get('addPet')).not.toHaveProperty('requestContentType');
    expect((await example('3.0/json/form-data.json'))[0].requestContentType).toBe(
      'application/x-www-form-urlencoded',
    );
    expect((await example('3.0/yaml/file-uploads.yaml')).map((fn) => fn.requestContentType)).toEqual([
      'image/png',
      'multipart/form-data',
      'multipart/form-data',
    ]);
  });

  it('merges path-level parameters, the operation redefining one winning, and keeps cookies', async () => {
    const functions = await example('3.0/json/parameters-common.json');
    expect(functions.map((fn) => [fn.name, fn.parameters])).toEqual([
      [
        'get_anything_id',
        [
          { name: 'id', in: 'path', required: true },
          { name: 'x-extra-id', in: 'header' },
        ],
      ],
      [
        'post_anything_id',
        [
          { name: 'id', in: 'path', required: true },
          { name: 'x-extra-id', in: 'header' },
          { name: 'limit', in: 'query' },
        ],
      ],
      [
        'get_anything_id_action',
        [
          { name: 'id', in: 'path', required: true },
          { name: 'action', in: 'path', required: true },
        ],
      ],
      [
        'get_anything_id_action_id',
        [
          { name: 'id', in: 'path', required: true },
          { name: 'action', in: 'path', required: true },
        ],
      ],
      ['get_anything_id_override', [{ name: 'id', in: 'path', required: true }]],
    ]);
    expect((await example('3.0/json/parameters-cookies.json'))[0].parameters).toEqual([
      { name: 'foo', in: 'cookie' },
      { name: 'bar', in: 'cookie' },
    ]);
  });

  it('fixes a required parameter that allows one value (Swagger enum, schema enum, schema const)', async () => {
    const swagger = editable('2.0/json/petstore.json');
    swagger.paths['/pet/findByStatus'].get.parameters = [
      { name: 'status', in: 'query', required: true, type: 'string', enum: ['available'] },
    ];
    expect(byName(await functionsOf(swagger)).get('findPetsByStatus')?.parameters).toEqual([
      { name: 'status', in: 'query', required: true, fixedValue: 'available' },
    ]);

    const common = editable('3.0/json/parameters-common.json');
    const [id, action] = common.paths['/anything/{id}/{action}'].parameters as unknown as Array<
      Record<string, { enum?: unknown[] }>
    >;
    action.schema.enum = ['lists'];
    id.schema.enum = [42];
    expect((await functionsOf(common))[2].parameters).toEqual([
      { name: 'id', in: 'path', required: true, fixedValue: '42' },
      { name: 'action', in: 'path', required: true, fixedValue: 'lists' },
    ]);

    const openapi31 = editable('3.1/json/petstore.json');
    openapi31.paths['/user/login'].get.parameters = [
      { name: 'username', in: 'query', required: true, schema: { const: 'guest' } },
      { name: 'password', in: 'query', schema: { const: 'guest' } },
      { name: 'mode', in: 'query', required: true, schema: { enum: ['basic', 'token'] } },
    ];
    expect(byName(await functionsOf(openapi31)).get('loginUser')?.parameters).toEqual([
      { name: 'username', in: 'query', required: true, fixedValue: 'guest' },
      { name: 'password', in: 'query' },
      { name: 'mode', in: 'query', required: true },
    ]);
  });

  it('derives names from method and path, and keeps every name unique', async () => {
    const document = editable('3.0/json/petstore-simple.json');
    document.paths['/pet/id'] = { get: { responses: { 200: { description: 'OK' } } } as never };
    expect((await functionsOf(document)).map((fn) => fn.name)).toEqual([
      'get_pet_id',
      'put_pet_id',
      'get_pet_id_2',
    ]);
    const petstore = editable('3.0/json/petstore.json');
    petstore.paths['/pet/{petId}'].delete.operationId = 'getPetById';
    const functions = await functionsOf(petstore);
    expect(functions.filter((fn) => fn.path === '/pet/{petId}').map((fn) => fn.name)).toEqual([
      'getPetById',
      'updatePetWithForm',
      'getPetById_2',
    ]);
  });

  it('takes the base path from the operation, path or root servers, variables at their defaults', async () => {
    const functions = await example('3.0/yaml/server-path-level.yaml');
    expect(functions.map((fn) => [fn.path, fn.basePath])).toEqual([
      ['/relative-path-server', '/v2'],
      ['/relative-operation-server', '/v3'],
      ['/operation-server-variables', '/v3'],
      ['/path-item-ref-server', undefined],
      ['/path-item-server-source', undefined],
      // An empty servers array is no servers: the next level applies.
      ['/empty-operation-servers', undefined],
      ['/empty-path-item-servers', '/v2'],
    ]);
  });

  it('resolves relative server URLs against the document URL, and drops a root base path', async () => {
    const document = editable('3.1/json/petstore.json');
    document.servers = [{ url: '../api/{version}/', variables: { version: { default: 'v3' } } }];
    document.paths['/store/inventory'].get = {
      ...document.paths['/store/inventory'].get,
      servers: [{ url: '/' }],
    } as never;
    const functions = byName(await functionsOf(document));
    expect(functions.get('getPetById')?.basePath).toBe('/api/v3');
    expect(functions.get('getInventory')).not.toHaveProperty('basePath');
  });

  it('finds no operations in a document that only has webhooks', async () => {
    expect(await example('3.1/yaml/webhooks.yaml')).toEqual([]);
  });
});

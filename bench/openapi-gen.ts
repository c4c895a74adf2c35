/**
 * Synthetic OpenAPI 3.0 documents for the OpenAPI benchmark: a CRUD-style service whose resources each
 * have ten operations (list, create, search, get, replace, patch, delete, history, an action, an export),
 * so literal segments next to variables (`/orders/search` beside `/orders/{orderId}`), every method, path,
 * query and header parameters (shared ones by $ref), request bodies and component schemas by $ref, a
 * required one-value query parameter (a fixed value) and a segment mixing literal and variable
 * (`export.{format}`). Documents differ per service index (resources, server path, schema fields).
 */

const NOUNS = [
  'account',
  'invoice',
  'order',
  'payment',
  'customer',
  'product',
  'shipment',
  'ticket',
  'user',
  'team',
  'project',
  'task',
  'comment',
  'document',
  'report',
  'subscription',
  'plan',
  'coupon',
  'refund',
  'webhook',
  'event',
  'device',
  'session',
  'token',
  'role',
  'group',
  'warehouse',
  'vendor',
  'contract',
  'campaign',
  'lead',
  'note',
] as const;
const ACTIONS = ['archive', 'restore', 'approve', 'cancel', 'resend'] as const;
export const OPERATIONS_PER_RESOURCE = 10;

type Json = Record<string, unknown>;

const capitalised = (word: string): string => word[0].toUpperCase() + word.slice(1);
const ref = (section: string, name: string): Json => ({ $ref: `#/components/${section}/${name}` });
const jsonBody = (schema: Json, mediaType = 'application/json'): Json => ({
  required: true,
  content: { [mediaType]: { schema } },
});
const jsonResponse = (description: string, schema: Json): Json => ({
  description,
  content: { 'application/json': { schema } },
});

function resourceSchema(noun: string, service: number): Json {
  const extra: Json = {};
  for (let field = 0; field < 3 + (service % 5); field++)
    extra[`${noun}Attribute${field}`] = { type: field % 2 ? 'integer' : 'string' };
  return {
    type: 'object',
    required: ['id', 'name'],
    properties: {
      id: { type: 'string', format: 'uuid', readOnly: true },
      name: { type: 'string', maxLength: 200 },
      status: { type: 'string', enum: ['active', 'archived', 'pending'] },
      createdAt: { type: 'string', format: 'date-time', readOnly: true },
      owner: ref('schemas', 'Owner'),
      ...extra,
    },
  };
}

/** The ten path items of one resource; `name` is unique in the document (noun, or noun + number). */
function resourcePaths(name: string, action: string): Record<string, Json> {
  const Name = capitalised(name);
  const id = `${name}Id`;
  const item = ref('schemas', Name);
  const errors = { '404': ref('responses', 'NotFound'), default: ref('responses', 'Error') };
  const collection = `/${name}s`;
  const member = `${collection}/{${id}}`;
  const idParameter = { name: id, in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  return {
    [collection]: {
      get: {
        operationId: `list${Name}s`,
        parameters: [
          ref('parameters', 'Limit'),
          ref('parameters', 'Cursor'),
          { name: 'sort', in: 'query', schema: { type: 'string', enum: ['name', '-name', 'createdAt'] } },
          { name: 'status', in: 'query', schema: { type: 'string' } },
        ],
        responses: { '200': jsonResponse('a page', { type: 'array', items: item }), ...errors },
      },
      post: {
        operationId: `create${Name}`,
        parameters: [ref('parameters', 'IdempotencyKey')],
        requestBody: jsonBody(item),
        responses: { '201': jsonResponse('created', item), ...errors },
      },
    },
    [`${collection}/search`]: {
      get: {
        operationId: `search${Name}s`,
        parameters: [
          { name: 'q', in: 'query', required: true, schema: { type: 'string' } },
          ref('parameters', 'Limit'),
        ],
        responses: { '200': jsonResponse('matches', { type: 'array', items: item }), ...errors },
      },
    },
    [member]: {
      parameters: [idParameter],
      get: { operationId: `get${Name}`, responses: { '200': jsonResponse('found', item), ...errors } },
      put: {
        operationId: `replace${Name}`,
        parameters: [ref('parameters', 'IfMatch')],
        requestBody: jsonBody(item),
        responses: { '200': jsonResponse('replaced', item), ...errors },
      },
      patch: {
        operationId: `update${Name}`,
        requestBody: jsonBody({ type: 'object' }, 'application/merge-patch+json'),
        responses: { '200': jsonResponse('updated', item), ...errors },
      },
      delete: { operationId: `delete${Name}`, responses: { '204': { description: 'deleted' }, ...errors } },
    },
    [`${member}/history`]: {
      parameters: [idParameter],
      get: {
        operationId: `get${Name}History`,
        parameters: [{ name: 'since', in: 'query', schema: { type: 'string', format: 'date-time' } }],
        responses: {
          '200': jsonResponse('changes', { type: 'array', items: ref('schemas', 'Change') }),
          ...errors,
        },
      },
    },
    [`${member}/actions/${action}`]: {
      parameters: [idParameter],
      post: {
        operationId: `${action}${Name}`,
        parameters: [
          {
            name: 'api-version',
            in: 'query',
            required: true,
            schema: { type: 'string', enum: ['2024-06-01'] },
          },
        ],
        responses: { '202': { description: 'accepted' }, ...errors },
      },
    },
    [`${member}/export.{format}`]: {
      parameters: [idParameter],
      get: {
        operationId: `export${Name}`,
        parameters: [
          { name: 'format', in: 'path', required: true, schema: { type: 'string', enum: ['csv', 'json'] } },
        ],
        responses: {
          '200': { description: 'the export', content: { 'text/csv': {}, 'application/json': {} } },
          ...errors,
        },
      },
    },
  };
}

/** Service `service`'s document with `operations` operations (a multiple of ten). */
export function serviceDocument(service: number, operations: number): Json {
  const resources = Math.ceil(operations / OPERATIONS_PER_RESOURCE);
  const paths: Json = {};
  const schemas: Json = {
    Owner: {
      type: 'object',
      properties: { id: { type: 'string' }, email: { type: 'string', format: 'email' } },
    },
    Change: {
      type: 'object',
      properties: { at: { type: 'string', format: 'date-time' }, field: { type: 'string' } },
    },
    Error: {
      type: 'object',
      required: ['message'],
      properties: { message: { type: 'string' }, code: { type: 'integer' } },
    },
  };
  for (let k = 0; k < resources; k++) {
    const noun = NOUNS[(service * 7 + k) % NOUNS.length];
    // Past the noun list, the same noun again with a number keeps names and paths unique.
    const name = k < NOUNS.length ? noun : `${noun}${Math.floor(k / NOUNS.length) + 1}`;
    Object.assign(paths, resourcePaths(name, ACTIONS[(service + k) % ACTIONS.length]));
    schemas[capitalised(name)] = resourceSchema(name, service);
  }
  const error = (description: string): Json => jsonResponse(description, ref('schemas', 'Error'));
  return {
    openapi: '3.0.3',
    info: { title: `Service ${service}`, version: `1.${service}.0` },
    servers: [{ url: `https://service-${service}.internal.example/api/v${1 + (service % 3)}` }],
    paths,
    components: {
      schemas,
      parameters: {
        Limit: {
          name: 'limit',
          in: 'query',
          schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
        },
        Cursor: { name: 'cursor', in: 'query', schema: { type: 'string' } },
        IdempotencyKey: { name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } },
        IfMatch: { name: 'If-Match', in: 'header', required: true, schema: { type: 'string' } },
      },
      responses: { NotFound: error('not found'), Error: error('error') },
    },
  };
}

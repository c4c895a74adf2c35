import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Reader } from 'protobufjs';
import { FileDescriptorSet } from 'protobufjs/ext/descriptor';
import { loadSnapshot } from '../../../src/api/load';
import type { GrpcMethodSpec, GrpcServiceSpec } from '../../../src/api/types';
import { discoverTarget, discoveryTargets } from '../../../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { DISCOVERY_LABEL } from '../../../src/discovery/fds/discoverer';
import { MemoryDiscoveryState } from '../../../src/discovery/fds/discovery-state';
import { FdsService } from '../../../src/discovery/fds/fds-service';
import { grpcReflectionDiscoverer } from '../../../src/discovery/fds/grpc-reflection';
import { reflectServices } from '../../../src/discovery/fds/grpc-reflection/reflect';
import {
  CATALOG_PROTO,
  compileProtos,
  decodeDescriptor,
  encodeDescriptor,
  HEALTH_PROTO,
  ORDERS_PROTO,
  SHIPPING_PROTO,
  startDescriptorReflectionServer,
  startGrpcBackend,
  type DescriptorObject,
  type RunningServer,
} from '../../helpers/grpc-reflection-server';
import { contentsOf } from '../../helpers/translate-yaml';
import { waitFor } from '../../helpers/wait';

const logger = pino({ level: 'silent' });
const ENABLED = { [DISCOVERY_LABEL]: 'enabled' };

const method = (
  name: string,
  streaming: GrpcMethodSpec['streaming'],
  inputType: string,
  outputType: string,
): GrpcMethodSpec => ({ name, streaming, inputType, outputType });

const service = (name: string, ...methods: GrpcMethodSpec[]): GrpcServiceSpec => ({ name, methods });

const CATALOG = service(
  'catalog.v1.Catalog',
  method('GetItem', 'unary', 'catalog.v1.GetItemRequest', 'catalog.v1.Item'),
  method('ItemsOfOrder', 'server-streaming', 'orders.v1.Order', 'catalog.v1.Item'),
  method('Ping', 'unary', 'google.protobuf.Empty', 'google.protobuf.Empty'),
);
const ORDERS = service(
  'orders.v1.Orders',
  method('PlaceOrder', 'unary', 'orders.v1.Order', 'orders.v1.Order'),
  method('UploadItems', 'client-streaming', 'catalog.v1.Item', 'orders.v1.Order'),
  method('Track', 'bidi-streaming', 'orders.v1.OrderEvent', 'orders.v1.OrderEvent'),
);
const SHIPPING = service(
  'shipping.v1.Shipping',
  method('Ship', 'unary', 'orders.v1.Order', 'shipping.v1.Shipment'),
);

/** One resource as a YAML document (JSON is YAML). */
function resource(kind: string, metadata: Record<string, unknown>, spec: Record<string, unknown>): string {
  return `---\n${JSON.stringify({ apiVersion: 'sluice.dev/v1', kind, metadata, spec })}\n`;
}

function upstream(name: string, spec: Record<string, unknown>, labels: Record<string, string> = ENABLED) {
  return resource('Upstream', { name, namespace: 'default', labels }, spec);
}

const shopUpstream = (port: number) =>
  upstream('shop', { static: { hosts: [{ address: '127.0.0.1', port }], http2: true } });

const settings = (discovery: Record<string, unknown>) =>
  resource('Settings', { name: 'default', namespace: 'default' }, { discovery });

async function discover(
  port: number,
  previous?: DiscoveredFunctions,
  signal?: AbortSignal,
): Promise<DiscoveredFunctions> {
  const { snapshot } = loadSnapshot(contentsOf(shopUpstream(port)));
  const targets = discoveryTargets(snapshot);
  expect(targets.map((target) => target.discoverer)).toEqual([grpcReflectionDiscoverer]);
  return discoverTarget(targets[0], snapshot, previous, logger, signal);
}

interface DecodedFile {
  name: string;
  package?: string;
  dependency: string[];
  messageType: DecodedMessage[];
  service: Array<{ name: string }>;
}

interface DecodedMessage {
  name: string;
  nestedType: DecodedMessage[];
}

/** The descriptor set's files, decoded as Envoy's transcoder reads them. */
function descriptorFiles(found: DiscoveredFunctions): DecodedFile[] {
  const set = FileDescriptorSet.decode(Buffer.from(found.descriptorSet ?? '', 'base64'));
  return (FileDescriptorSet.toObject(set, { arrays: true }) as { file: DecodedFile[] }).file;
}

/** The descriptor set's files as the bytes it holds. */
function rawDescriptorFiles(found: DiscoveredFunctions): Buffer[] {
  const reader = Reader.create(Buffer.from(found.descriptorSet ?? '', 'base64'));
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    expect(reader.uint32()).toBe((1 << 3) | 2);
    files.push(Buffer.from(reader.bytes()));
  }
  return files;
}

/** Imports that are not in the set ahead of the file that imports them: none, in a usable set. */
function importsNotBefore(files: readonly DecodedFile[]): string[] {
  return files.flatMap((file, index) => {
    const before = new Set(files.slice(0, index).map((earlier) => earlier.name));
    return file.dependency.filter((name) => !before.has(name)).map((name) => `${file.name} -> ${name}`);
  });
}

function definedMessages(files: readonly DecodedFile[]): Set<string> {
  const names = new Set<string>();
  const visit = (scope: string, messages: readonly DecodedMessage[]) => {
    for (const message of messages) {
      names.add(`${scope}${message.name}`);
      visit(`${scope}${message.name}.`, message.nestedType);
    }
  };
  for (const file of files) visit(file.package ? `${file.package}.` : '', file.messageType);
  return names;
}

const serviceNames = (found: DiscoveredFunctions) => found.functions.map((service) => service.name);

function httpRule(descriptor: DescriptorObject, service: string, method: string): unknown {
  const described = descriptor.service?.find((candidate) => candidate.name === service);
  const options = described?.method?.find((candidate) => candidate.name === method)?.options as
    Record<string, unknown> | undefined;
  return options?.['.google.api.http'];
}

describe('gRPC reflection discovery', () => {
  const servers: RunningServer[] = [];

  afterEach(() => {
    for (const server of servers.splice(0)) server.stop();
  });

  async function started<T extends RunningServer>(starting: Promise<T>): Promise<T> {
    const server = await starting;
    servers.push(server);
    return server;
  }

  const backend = (options: Parameters<typeof startGrpcBackend>[0]) => started(startGrpcBackend(options));
  const reflectionServer = (...args: Parameters<typeof startDescriptorReflectionServer>) =>
    started(startDescriptorReflectionServer(...args));

  describe('a @grpc/grpc-js server with @grpc/reflection', () => {
    it('lists its services with their methods, types and streaming kinds, but not grpc.health.v1.Health', async () => {
      const { port } = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO, HEALTH_PROTO] });
      const found = await discover(port);
      expect(found.error).toBeUndefined();
      expect(found.discoverer).toBe('grpc-reflection');
      expect(found.functions).toEqual([CATALOG, ORDERS]);
      const files = descriptorFiles(found);
      expect(
        files.flatMap((file) => file.service.map((service) => `${file.package}.${service.name}`)),
      ).toEqual(expect.arrayContaining([CATALOG.name, ORDERS.name]));
      const messages = definedMessages(files);
      const types = [CATALOG, ORDERS].flatMap((service) =>
        (service.methods ?? []).flatMap((method) => [method.inputType, method.outputType]),
      );
      expect(types.filter((type) => !messages.has(type as string))).toEqual([]);
      expect([...messages]).toEqual(
        expect.arrayContaining([
          'google.protobuf.Timestamp',
          'google.protobuf.Struct',
          'catalog.v1.Item.Price',
        ]),
      );
      expect(importsNotBefore(files)).toEqual([]);
    });

    it('is read through grpc.reflection.v1alpha when the server has no v1', async () => {
      const { port } = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO], reflection: ['v1alpha'] });
      const found = await discover(port);
      expect(found.error).toBeUndefined();
      expect(found.functions).toEqual([CATALOG, ORDERS]);
    });

    it('keeps the last known functions of a server without reflection, and says it has none', async () => {
      const reflecting = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO] });
      const first = await discover(reflecting.port);
      const bare = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO], reflection: [] });
      const failed = await discover(bare.port, first);
      expect(failed.error).toMatch(
        /^12 UNIMPLEMENTED: .*\/grpc\.reflection\.v1alpha\.ServerReflection\/ServerReflectionInfo$/,
      );
      expect(failed.functions).toEqual([CATALOG, ORDERS]);
      expect(failed.descriptorSet).toBe(first.descriptorSet);
      expect(failed.updatedAt).toBe(first.updatedAt);
    });

    it('finds a service added to the backend on the next poll, without a restart of discovery', async () => {
      let running = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO] });
      const { port } = running;
      const found: DiscoveredFunctions[] = [];
      const fds = new FdsService({
        state: new MemoryDiscoveryState(),
        logger,
        onChange: (discovered) => {
          const shop = discovered.get('default/shop');
          if (shop) found.push(shop);
        },
      });
      try {
        const yaml = settings({ pollIntervals: { grpc: '1s' } }) + shopUpstream(port);
        fds.update(loadSnapshot(contentsOf(yaml)).snapshot);
        const first = await waitFor('the first discovery', () => found.at(-1));
        expect(first.functions).toEqual([CATALOG, ORDERS]);
        running.stop();
        running = await backend({ protos: [CATALOG_PROTO, ORDERS_PROTO, SHIPPING_PROTO], port });
        const next = await waitFor(
          'the shipping service',
          () => found.find((result) => serviceNames(result).includes(SHIPPING.name)),
          { timeoutMs: 20_000 },
        );
        expect(next.error).toBeUndefined();
        expect(next.functions).toEqual([CATALOG, ORDERS, SHIPPING]);
        expect(descriptorFiles(next).some((file) => file.package === 'shipping.v1')).toBe(true);
      } finally {
        fds.stop();
      }
    });
  });

  describe('a server sending descriptors as protoc builds them, one file at a time', () => {
    const files = compileProtos([CATALOG_PROTO, ORDERS_PROTO, HEALTH_PROTO]);

    it('asks only about the application services, fetches every import once, puts imports first and keeps the files byte for byte, google.api.http included', async () => {
      const server = await reflectionServer(files);
      const found = await discover(server.port);
      expect(found.error).toBeUndefined();
      expect(found.functions).toEqual([CATALOG, ORDERS]);

      const decoded = descriptorFiles(found);
      expect(importsNotBefore(decoded)).toEqual([]);
      const names = decoded.map((file) => file.name);
      expect([...names].sort()).toEqual([...files.keys()].filter((name) => name !== HEALTH_PROTO).sort());
      // Files keep the bytes the server sent; Sluice only appends the imports a file lacks (here
      // descriptor.proto, whose MethodOptions, as protobufjs describes it, has google.api.http as a field).
      const sent = names.map((name) => files.get(name) as Buffer);
      expect(rawDescriptorFiles(found).map((raw, index) => raw.subarray(0, sent[index].length))).toEqual(
        sent,
      );
      expect(decoded.find((file) => file.name === 'google/protobuf/descriptor.proto')?.dependency).toEqual([
        'google/api/http.proto',
      ]);
      const raw = (name: string) => rawDescriptorFiles(found)[names.indexOf(name)];
      expect(httpRule(decodeDescriptor(raw(CATALOG_PROTO)), 'Catalog', 'GetItem')).toEqual({
        get: '/v1/items/{id}',
        additionalBindings: [],
      });
      expect(httpRule(decodeDescriptor(raw(ORDERS_PROTO)), 'Orders', 'PlaceOrder')).toEqual({
        post: '/v1/orders',
        body: '*',
        additionalBindings: [],
      });

      const asked = (kind: string) =>
        server.requests.filter((request) => request.kind === kind).map((request) => request.value);
      expect(server.requests.every((request) => request.version === 'v1')).toBe(true);
      expect(asked('list_services')).toEqual(['']);
      expect(asked('file_containing_symbol')).toEqual([CATALOG.name, ORDERS.name]);
      expect(asked('file_by_filename').sort()).toEqual(
        names.filter((name) => name !== CATALOG_PROTO && name !== ORDERS_PROTO).sort(),
      );
    });

    it('is read through grpc.reflection.v1alpha when the server has no v1', async () => {
      const server = await reflectionServer(files, { versions: ['v1alpha'] });
      const found = await discover(server.port);
      expect(found.error).toBeUndefined();
      expect(found.functions).toEqual([CATALOG, ORDERS]);
      expect(new Set(server.requests.map((request) => request.version))).toEqual(new Set(['v1alpha']));
    });

    it('names an import the server does not have, and keeps the last known functions', async () => {
      const first = await discover((await reflectionServer(files)).port);
      const incomplete = new Map(files);
      incomplete.delete('google/protobuf/timestamp.proto');
      const server = await reflectionServer(incomplete);
      const broken = await discover(server.port, first);
      expect(broken.error).toBe(
        'broken descriptor: catalog/v1/item.proto imports google/protobuf/timestamp.proto, which the server did not include',
      );
      expect(broken.functions).toEqual(first.functions);
      expect(broken.descriptorSet).toBe(first.descriptorSet);
    });

    it('asks for an import once when the server answers with another file', async () => {
      // A server built from protos compiled with another include path names the file differently.
      const renamed = new Map(files);
      const timestamp = decodeDescriptor(files.get('google/protobuf/timestamp.proto') as Buffer);
      renamed.set(
        'google/protobuf/timestamp.proto',
        encodeDescriptor({ ...timestamp, name: 'timestamp.proto' }),
      );
      const server = await reflectionServer(renamed);
      const broken = await discover(server.port);
      expect(broken.error).toBe(
        'broken descriptor: catalog/v1/item.proto imports google/protobuf/timestamp.proto, which the server did not include',
      );
      const timestampRequests = server.requests.filter(
        (request) => request.value === 'google/protobuf/timestamp.proto',
      );
      expect(timestampRequests).toHaveLength(1);
    });

    it('names a method type that no file defines', async () => {
      const catalog = decodeDescriptor(files.get(CATALOG_PROTO) as Buffer);
      const getItem = catalog.service?.[0].method?.find((method) => method.name === 'GetItem');
      if (getItem) getItem.inputType = '.catalog.v1.Nowhere';
      const server = await reflectionServer(new Map(files).set(CATALOG_PROTO, encodeDescriptor(catalog)));
      const broken = await discover(server.port);
      expect(broken.error).toBe(
        'broken descriptor: catalog.v1.Catalog/GetItem uses catalog.v1.Nowhere, which no file defines',
      );
      expect(broken.functions).toEqual([]);
      expect(broken.descriptorSet).toBeUndefined();
    });

    it('names an import cycle', async () => {
      const item = decodeDescriptor(files.get('catalog/v1/item.proto') as Buffer);
      const cyclic = { ...item, dependency: [...(item.dependency as string[]), CATALOG_PROTO] };
      const server = await reflectionServer(
        new Map(files).set('catalog/v1/item.proto', encodeDescriptor(cyclic)),
      );
      const broken = await discover(server.port);
      expect(broken.error).toBe(
        'broken descriptor: import cycle catalog/v1/catalog.proto -> catalog/v1/item.proto -> catalog/v1/catalog.proto',
      );
    });

    it('gives up on a server that never answers at the deadline', async () => {
      const server = await reflectionServer(files, { silent: true });
      const reflecting = reflectServices({
        address: `127.0.0.1:${server.port}`,
        credentials: grpc.credentials.createInsecure(),
        timeoutMs: 200,
      });
      await expect(reflecting).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    });

    it('stops waiting for a server that never answers when discovery is cancelled', async () => {
      const server = await reflectionServer(files, { silent: true });
      const cancel = new AbortController();
      const pending = discover(server.port, undefined, cancel.signal);
      await waitFor('the list request', () => (server.requests.length > 0 ? true : undefined));
      cancel.abort();
      const found = await pending;
      expect(found.error).toMatch(/^1 CANCELLED: /);
      expect(server.requests).toEqual([{ version: 'v1', kind: 'list_services', value: '' }]);
    });

    it('does not start when discovery is already cancelled', async () => {
      const server = await reflectionServer(files, { silent: true });
      const found = await discover(server.port, undefined, AbortSignal.abort());
      expect(found.error).toBe('This operation was aborted');
      expect(server.requests).toEqual([]);
    });
  });

  describe('which upstreams', () => {
    const grpcHost = { hosts: [{ address: '10.0.0.1', port: 50051 }], http2: true };
    const upstreams = [
      upstream('grpc-static', { static: grpcHost }),
      upstream('grpc-kube', { kube: { serviceName: 'shop', servicePort: 50051, http2: true } }),
      upstream('rest-static', { static: { hosts: [{ address: '10.0.0.2', port: 8080 }] } }),
      upstream('grpc-unlabelled', { static: grpcHost }, {}),
      upstream('grpc-disabled', { static: grpcHost }, { [DISCOVERY_LABEL]: 'disabled' }),
    ].join('');

    const discoverers = (yaml: string) =>
      discoveryTargets(loadSnapshot(contentsOf(yaml)).snapshot)
        .map((target) => `${target.id} ${target.discoverer.name}`)
        .sort();

    it('reflects on HTTP/2 upstreams and leaves the others to OpenAPI', () => {
      expect(discoverers(upstreams)).toEqual([
        'default/grpc-kube grpc-reflection',
        'default/grpc-static grpc-reflection',
        'default/rest-static openapi',
      ]);
      expect(discoverers(settings({ fdsMode: 'blacklist' }) + upstreams)).toEqual([
        'default/grpc-kube grpc-reflection',
        'default/grpc-static grpc-reflection',
        'default/grpc-unlabelled grpc-reflection',
        'default/rest-static openapi',
      ]);
    });
  });
});

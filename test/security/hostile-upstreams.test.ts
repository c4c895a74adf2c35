import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { loadSnapshot } from '../../src/api/load';
import { discoverTarget, discoveryTargets } from '../../src/discovery/fds/discover-upstream';
import type { FunctionDiscoverer } from '../../src/discovery/fds/discoverer';
import { reflectServices } from '../../src/discovery/fds/grpc-reflection/reflect';
import { DEFAULT_REFLECTION_LIMITS } from '../../src/discovery/fds/grpc-reflection/reflection-client';
import { createOpenApiDiscoverer, DEFAULT_OPENAPI_PATHS } from '../../src/discovery/fds/openapi';
import {
  CATALOG_PROTO,
  compileProtos,
  decodeDescriptor,
  encodeDescriptor,
  startDescriptorReflectionServer,
  type RunningServer,
} from '../helpers/grpc-reflection-server';
import { oasExample, OpenApiProbeServer } from '../helpers/openapi-probe-server';
import { contentsOf } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';

/**
 * Hostile upstreams: services that answer slowly or never finish, send far more than a document, redirect
 * discovery elsewhere, or describe themselves with endless descriptors. Each costs discovery a bounded
 * time and memory, and none holds up the discovery of the others. The limits are made small here; the
 * defaults are in src/discovery/fds/openapi/fetch-document.ts and grpc-reflection/reflection-client.ts.
 */

const logger = pino({ level: 'silent' });
const MEBIBYTE = 1024 * 1024;

function upstreamYaml(name: string, port: number, swaggerUrl?: string): string {
  const serviceSpec = swaggerUrl ? `, serviceSpec: {rest: {swaggerUrl: "${swaggerUrl}"}}` : '';
  return `---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: ${name}, namespace: default, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec: {static: {hosts: [{address: 127.0.0.1, port: ${port}}]${serviceSpec}}}
`;
}

/** One discovery of each upstream in `yaml`, by `discoverer`, all at once. */
function discoverEach(yaml: string, discoverer: FunctionDiscoverer, signal?: AbortSignal) {
  const { snapshot } = loadSnapshot(contentsOf(yaml));
  return discoveryTargets(snapshot, [discoverer]).map((target) =>
    discoverTarget(target, snapshot, undefined, logger, signal),
  );
}

describe('hostile upstreams', () => {
  describe('OpenAPI documents', () => {
    const servers: OpenApiProbeServer[] = [];

    async function startServer(): Promise<OpenApiProbeServer> {
      const server = new OpenApiProbeServer();
      await server.start();
      servers.push(server);
      return server;
    }

    afterEach(async () => {
      await Promise.all(servers.splice(0).map((server) => server.stop()));
    });

    it('discovers healthy upstreams while one trickles every body forever, its requests held to its share', async () => {
      const slow = await startServer();
      for (const path of DEFAULT_OPENAPI_PATHS) slow.trickle(path);
      const healthy = await startServer();
      healthy.serve('/openapi.json', oasExample('3.0/json/petstore-simple.json'));
      // Far longer than the test: only the fairness of the permits can let the healthy ones through.
      const discoverer = createOpenApiDiscoverer({ timeoutMs: 10 * 60 * 1000 });
      const stopSlow = new AbortController();
      const [slowDiscovery] = discoverEach(upstreamYaml('slow', slow.port), discoverer, stopSlow.signal);
      await waitFor('the slow upstream to hold its share', () => (slow.trickling === 2 ? true : undefined));

      const names = Array.from({ length: 6 }, (_, index) => `healthy-${index}`);
      const found = await Promise.all(
        discoverEach(names.map((name) => upstreamYaml(name, healthy.port)).join(''), discoverer),
      );
      expect(found.map((result) => [result.error, result.functions.length])).toEqual(
        names.map(() => [undefined, 2]),
      );
      expect(slow.trickling).toBe(2);
      expect(slow.count()).toBe(2);

      stopSlow.abort();
      expect((await slowDiscovery).error).toMatch(/aborted/i);
    });

    it('cuts off a body that trickles forever at the request timeout', async () => {
      const slow = await startServer();
      slow.trickle('/openapi.json');
      const [found] = await Promise.all(
        discoverEach(
          upstreamYaml('slow', slow.port, '/openapi.json'),
          createOpenApiDiscoverer({ timeoutMs: 200 }),
        ),
      );
      expect(found.error).toMatch(
        /^cannot reach the service: http:\/\/127\.0\.0\.1:\d+\/openapi\.json: .*timeout/i,
      );
      await waitFor('the connection to close', () => (slow.trickling === 0 ? true : undefined));
    });

    it.each([
      ['streamed', false],
      ['announced by content-length', true],
    ])(
      'stops reading a 100 MB body (%s) at the size limit, and does not fetch it again',
      async (_, announce) => {
        const server = await startServer();
        server.oversized('/openapi.json', 100 * MEBIBYTE, { announce });
        const discoverer = createOpenApiDiscoverer({ maxBytes: MEBIBYTE });
        const yaml = upstreamYaml('big', server.port, '/openapi.json');
        const [found] = await Promise.all(discoverEach(yaml, discoverer));
        expect(found.error).toBe(
          `no OpenAPI document at ${server.url('/openapi.json')}: the response is larger than 1 MB, the most ` +
            'discovery reads (probing again in 10 min or when the upstream changes)',
        );
        expect(server.bytesSent).toBeLessThan(100 * MEBIBYTE);
        const [again] = await Promise.all(discoverEach(yaml, discoverer));
        expect(again.error).toBe(found.error);
        expect(server.count('/openapi.json')).toBe(1);
      },
    );

    it('does not follow a redirect to another origin', async () => {
      const redirecting = await startServer();
      const elsewhere = await startServer();
      elsewhere.serve('/openapi.json', oasExample('3.0/json/petstore-simple.json'));
      redirecting.redirect('/openapi.json', elsewhere.url('/openapi.json'));
      const [found] = await Promise.all(
        discoverEach(
          upstreamYaml('redirecting', redirecting.port, '/openapi.json'),
          createOpenApiDiscoverer(),
        ),
      );
      expect(found.error).toBe(
        `no OpenAPI document at ${redirecting.url('/openapi.json')}: it redirects to ${elsewhere.url('/openapi.json')}, ` +
          'and discovery does not follow redirects (probing again in 10 min or when the upstream changes)',
      );
      expect(elsewhere.count()).toBe(0);
    });
  });

  describe('reflection descriptors', () => {
    const files = compileProtos([CATALOG_PROTO]);
    let server: RunningServer | undefined;

    afterEach(() => server?.stop());

    const reflect = (port: number, limits = DEFAULT_REFLECTION_LIMITS) =>
      reflectServices({
        address: `127.0.0.1:${port}`,
        credentials: grpc.credentials.createInsecure(),
        timeoutMs: 10000,
        limits,
      });

    it('refuses a response larger than the message limit', async () => {
      const catalog = decodeDescriptor(files.get(CATALOG_PROTO) as Buffer);
      const bloated = {
        ...catalog,
        messageType: [...((catalog.messageType as unknown[]) ?? []), { name: 'X'.repeat(MEBIBYTE) }],
      };
      server = await startDescriptorReflectionServer(
        new Map(files).set(CATALOG_PROTO, encodeDescriptor(bloated)),
      );
      await expect(
        reflect(server.port, { ...DEFAULT_REFLECTION_LIMITS, messageBytes: 64 * 1024 }),
      ).rejects.toMatchObject({
        code: grpc.status.RESOURCE_EXHAUSTED,
      });
    });

    it('stops once the descriptors of one conversation exceed the byte budget', async () => {
      server = await startDescriptorReflectionServer(files);
      const size = (files.get(CATALOG_PROTO) as Buffer).length;
      await expect(
        reflect(server.port, { ...DEFAULT_REFLECTION_LIMITS, totalBytes: size - 1 }),
      ).rejects.toThrow(
        `the server's descriptors are larger than ${size - 1} bytes, the most one discovery reads`,
      );
      expect((await reflect(server.port)).services.map((service) => service.name)).toEqual([
        'catalog.v1.Catalog',
      ]);
    });
  });
});

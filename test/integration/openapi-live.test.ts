import { serveDirectory } from '../helpers/serve-directory';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { type RunningSluice } from '../../src/control-plane/sluice-server';
import type { Status } from '../../src/api/resource';
import { decodeToJson } from '../../src/xds/proto-json';
import { messageNameOf, TYPE_URLS } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient, type SotwResponse } from '../xds/ads-client';
import {
  operationKeys,
  petstoreDocument,
  routeKeys,
  SpecServer,
  withOperation,
  type OpenApiDocument,
  type RouteJson,
} from '../helpers/openapi-live-spec-server';
import { waitFor } from '../helpers/wait';

const ROUTES = 'listener-::-8080-routes';
const UPSTREAM_STATUS = 'Upstream/default/petstore';

function configYaml(specPort: number): string {
  return `apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: petstore, namespace: default, labels: {discovery.sluice.dev/function-discovery: enabled}}
spec: {static: {hosts: [{address: 127.0.0.1, port: ${specPort}}]}}
---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: default, namespace: default}
spec:
  virtualHost:
    domains: ["*"]
    routes:
    - matchers: [{prefix: /petstore}]
      routeAction: {functions: {upstream: {name: petstore, namespace: default}}}
---
apiVersion: sluice.dev/v1
kind: Settings
metadata: {name: default, namespace: default}
spec: {discovery: {pollIntervals: {openapi: 1s}}}
`;
}

/** Petstore with one operation added, one removed and one renamed. */
function editedPetstore(): OpenApiDocument {
  const document = withOperation(petstoreDocument(), 'get', '/pet/{petId}/owner', 'getPetOwner');
  delete document.paths['/pet/{petId}'].delete;
  document.paths['/pet/{petId}'].get.operationId = 'fetchPetById';
  return document;
}

/** Edited petstore whose request body points at a component that does not exist. */
function brokenPetstore(): OpenApiDocument {
  const document = editedPetstore();
  document.paths['/pet'].post.requestBody = { $ref: '#/components/requestBodies/Missing' };
  return document;
}

type RouteConfigurationJson = { virtualHosts: Array<{ routes: RouteJson[] }> };

/** The routes of an RDS push, as routeKeys. */
function pushedRouteKeys(response: SotwResponse): string[] {
  const config = decodeToJson(messageNameOf(TYPE_URLS.route), response.resources[0].value);
  return routeKeys((config as RouteConfigurationJson).virtualHosts[0].routes);
}

async function swaggerParserError(document: OpenApiDocument): Promise<string> {
  try {
    await SwaggerParser.dereference(structuredClone(document) as never, { resolve: { external: false } });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the document was expected to be invalid');
}

describe('serve: OpenAPI operations discovered and routed live over ADS', () => {
  let specServer: SpecServer;
  let dir: string;
  let sluice: RunningSluice;
  let client: SotwClient;

  beforeAll(async () => {
    specServer = new SpecServer(petstoreDocument());
    const specPort = await specServer.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-openapi-'));
    fs.writeFileSync(path.join(dir, 'petstore.yaml'), configYaml(specPort));
    sluice = await serveDirectory(dir, {});
    client = new SotwClient(sluice.xdsPort);
    client.send({ node: nodeWithRole('envoy-1'), typeUrl: TYPE_URLS.route, resourceNames: [ROUTES] });
  });

  afterAll(async () => {
    client?.close();
    await sluice?.stop();
    await specServer?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Reads RDS pushes (ACKing each) until the routes are exactly `expected` (as routeKeys). */
  async function pushedRoutes(expected: string[]): Promise<string[]> {
    let last: string[] = [];
    return waitFor(
      `a RouteConfiguration with ${expected.length} routes`,
      async () => {
        const response = await client.next(10000);
        client.ack(response, [ROUTES]);
        last = pushedRouteKeys(response);
        return JSON.stringify(last) === JSON.stringify(expected) ? last : undefined;
      },
      { timeoutMs: 20000, intervalMs: 0 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last pushed: ${JSON.stringify(last)}`);
    });
  }

  async function upstreamStatus(state: Status['state']): Promise<Status> {
    return waitFor(
      `${UPSTREAM_STATUS} to be ${state}`,
      async () => {
        const response = await fetch(`http://127.0.0.1:${sluice.adminPort}/resources`);
        const { statuses } = (await response.json()) as { statuses: Record<string, Status> };
        return statuses[UPSTREAM_STATUS]?.state === state ? statuses[UPSTREAM_STATUS] : undefined;
      },
      { timeoutMs: 20000 },
    );
  }

  it('pushes one route per operation of the served document', async () => {
    const routes = await pushedRoutes(operationKeys(petstoreDocument(), '/petstore'));
    expect(routes).toHaveLength(20);
    expect(routes).toContain('GET /petstore/pet/{petId} getPetById');
    expect(routes).toContain('POST /petstore/store/order placeOrder');
    expect((await upstreamStatus('Accepted')).reasons).toBeUndefined();
  });

  it('follows an added, a removed and a renamed operation without a restart', async () => {
    specServer.serve(editedPetstore());
    const routes = await pushedRoutes(operationKeys(editedPetstore(), '/petstore'));
    expect(routes).toHaveLength(20);
    expect(routes).toContain('GET /petstore/pet/{petId}/owner getPetOwner');
    expect(routes).toContain('GET /petstore/pet/{petId} fetchPetById');
    expect(routes.filter((route) => / (getPetById|deletePet)$/.test(route))).toEqual([]);
  });

  it("keeps the last good routes and warns with swagger-parser's message when the document turns invalid", async () => {
    const lastGood = operationKeys(editedPetstore(), '/petstore');
    specServer.serve(brokenPetstore());
    const warned = await upstreamStatus('Warning');
    expect(warned.reasons).toEqual([expect.stringContaining(await swaggerParserError(brokenPetstore()))]);
    expect(warned.reasons?.[0]).toMatch(/^function discovery failed: .*; serving the last known functions$/);
    // Statuses are computed after the snapshot of the same translation: this is what Envoy now has.
    const config = sluice.controlPlane
      .currentSnapshots()
      .get('default~gateway-proxy')
      ?.get(TYPE_URLS.route)
      ?.get(ROUTES)?.json as RouteConfigurationJson;
    expect(routeKeys(config.virtualHosts[0].routes)).toEqual(lastGood);
    expect(pushedRouteKeys(client.received[client.received.length - 1])).toEqual(lastGood);
  });

  it('keeps the warning while the invalid document is still served (its ETag is not taken for the last good one)', async () => {
    const polled = specServer.documentRequests;
    // A poll starts only after the previous one's result is recorded, so two more polls settle one.
    await waitFor(
      'two more polls of the document',
      () => (specServer.documentRequests >= polled + 2 ? true : undefined),
      { timeoutMs: 20000 },
    );
    const message = await swaggerParserError(brokenPetstore());
    expect(sluice.fds.current().get('default/petstore')?.error).toContain(message);
    expect((await upstreamStatus('Warning')).reasons).toEqual([expect.stringContaining(message)]);
  });

  it('clears the warning once the document is valid again', async () => {
    specServer.serve(editedPetstore());
    expect((await upstreamStatus('Accepted')).reasons).toBeUndefined();
  });
});

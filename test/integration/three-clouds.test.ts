import { serveDirectory } from '../helpers/serve-directory';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { type RunningSluice } from '../../src/control-plane/sluice-server';
import { FileDiscoveryState } from '../../src/discovery/fds/discovery-state';
import type { Json } from '../../src/translator/plugin';
import { decodeToJson } from '../../src/xds/proto-json';
import type { XdsResource } from '../../src/xds/resources';
import { messageNameOf, TYPE_URLS, type TypeUrl } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient, type SotwResponse } from '../xds/ads-client';
import { envoyRouter } from '../helpers/envoy-routes';
import { GcfApiServer } from '../helpers/gcf-api-server';
import { giveGaxiosNodeFetch } from '../helpers/gcf-fetch';
import {
  AZURE_APP,
  AZURE_FUNCTION,
  GCF_HELLO,
  GCF_SERVICE_ACCOUNT,
  LAMBDA_FUNCTION,
  ThreeClouds,
} from '../helpers/three-clouds';
import { waitFor } from '../helpers/wait';
import { strictXdsProblems } from '../helpers/xds-strict';

giveGaxiosNodeFetch();

const PROXY = 'default~gateway-proxy';
const LAMBDA_FILTER = 'envoy.filters.http.aws_lambda';
const GCF_URL = GcfApiServer.functionUrl(GCF_HELLO);
const GCF_HOST = new URL(GCF_URL).host;
const AZURE_HOST = `${AZURE_APP}.azurewebsites.net`;

/** The parts of a Route (proto3 JSON) the assertions read. */
interface RouteJson {
  route?: { cluster?: string };
  requestHeadersToAdd?: Array<{ header: { key: string; value: string }; appendAction?: string }>;
  typedPerFilterConfig?: Record<string, Json>;
}

interface ListenerJson {
  filterChains: Array<{ filters: Array<{ typedConfig?: { rds?: { routeConfigName?: string } } }> }>;
}

/** A resource as it came over ADS: its bytes, decoded strictly against Envoy's protos. */
function pushedResources(response: SotwResponse): XdsResource[] {
  return response.resources.map((any) => {
    const json = decodeToJson(messageNameOf(response.typeUrl), any.value);
    return {
      name: String(json.name ?? json.clusterName),
      typeUrl: response.typeUrl as TypeUrl,
      version: response.versionInfo,
      json,
      bytes: any.value,
    };
  });
}

/**
 * Talks ADS the way Envoy does: CDS and LDS as wildcards, then EDS for the EDS clusters and RDS for the
 * route configurations the listeners name, ACKing every response, until `ready` likes the latest
 * resources of each type.
 */
async function subscribeAsEnvoy(
  client: SotwClient,
  ready: (latest: ReadonlyMap<string, XdsResource[]>) => boolean,
): Promise<ReadonlyMap<string, XdsResource[]>> {
  const latest = new Map<string, XdsResource[]>();
  const subscribed = new Map<string, string[]>([
    [TYPE_URLS.cluster, []],
    [TYPE_URLS.listener, []],
  ]);
  client.send({ node: nodeWithRole('envoy-1', PROXY), typeUrl: TYPE_URLS.cluster, resourceNames: [] });
  client.send({ typeUrl: TYPE_URLS.listener, resourceNames: [] });
  const follow = (typeUrl: string, names: string[]) => {
    if (JSON.stringify(subscribed.get(typeUrl)) === JSON.stringify(names)) return;
    subscribed.set(typeUrl, names);
    client.send({ typeUrl, resourceNames: names });
  };
  return waitFor(
    'the three routes with their credentials',
    async () => {
      const response = await client.next(10000);
      const resources = pushedResources(response);
      latest.set(response.typeUrl, resources);
      client.ack(response, subscribed.get(response.typeUrl) ?? []);
      if (response.typeUrl === TYPE_URLS.cluster)
        follow(
          TYPE_URLS.endpoint,
          resources.filter((cluster) => cluster.json.type === 'EDS').map((cluster) => cluster.name),
        );
      if (response.typeUrl === TYPE_URLS.listener)
        follow(
          TYPE_URLS.route,
          resources.flatMap((listener) => routeConfigNames(listener.json)),
        );
      return ready(latest) ? latest : undefined;
    },
    { timeoutMs: 20000, intervalMs: 0 },
  );
}

/** The RDS names an HTTP connection manager of the listener asks for. */
function routeConfigNames(listener: Json): string[] {
  return (listener as unknown as ListenerJson).filterChains.flatMap((chain) =>
    chain.filters
      .map((filter) => filter.typedConfig?.rds?.routeConfigName)
      .filter((name): name is string => name !== undefined),
  );
}

function routesOf(latest: ReadonlyMap<string, XdsResource[]>): RouteJson[] {
  const [routeConfiguration] = latest.get(TYPE_URLS.route) ?? [];
  const virtualHosts = routeConfiguration?.json.virtualHosts as Array<{ routes: RouteJson[] }> | undefined;
  return virtualHosts?.[0]?.routes ?? [];
}

/** Each route has what only discovery and the token service give it: a function key, an ID token, an ARN. */
function everyRouteHasItsCredentials(latest: ReadonlyMap<string, XdsResource[]>): boolean {
  const headerKeys = routesOf(latest).flatMap((route) =>
    (route.requestHeadersToAdd ?? []).map((option) => option.header.key),
  );
  return (
    headerKeys.includes('authorization') &&
    headerKeys.includes('x-functions-key') &&
    routesOf(latest).some((route) => route.typedPerFilterConfig?.[LAMBDA_FILTER])
  );
}

describe('serve: one VirtualService routing to Cloud Functions, Azure Functions and Lambda over ADS', () => {
  const clouds = new ThreeClouds();
  let dir: string;
  let sluice: RunningSluice;
  let client: SotwClient;
  let envoy: ReadonlyMap<string, XdsResource[]>;

  beforeAll(async () => {
    await clouds.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-three-clouds-'));
    fs.writeFileSync(path.join(dir, 'gateway.yaml'), clouds.configYaml());
    sluice = await serveDirectory(dir, {
      discoveryState: new FileDiscoveryState(dir),
      // Azure's discoverer trusts the test CA.
      discoverers: clouds.discoverers(),
    });
    client = new SotwClient(sluice.xdsPort);
    envoy = await subscribeAsEnvoy(client, everyRouteHasItsCredentials);
  });

  afterAll(async () => {
    client?.close();
    await sluice?.stop();
    await clouds.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pushes the three routes in one RouteConfiguration, each to its own cluster with its own credentials', () => {
    expect(envoy.get(TYPE_URLS.route)?.map((config) => config.name)).toEqual(['listener-::-8080-routes']);
    const [routeConfiguration] = envoy.get(TYPE_URLS.route) as XdsResource[];
    const route = envoyRouter(routeConfiguration.json);
    const sent = (requestPath: string) => {
      const decision = route({ method: 'GET', path: requestPath });
      const action = decision?.route.route as RouteJson['route'];
      return { cluster: action?.cluster, forwardedPath: decision?.forwardedPath };
    };
    expect(sent('/gcf/hello/a?b=1')).toEqual({
      cluster: `gcf_default~${GCF_HOST}:443`,
      forwardedPath: '/a?b=1',
    });
    expect(sent('/azure/hello?name=x')).toEqual({
      cluster: `${AZURE_APP}_default_${AZURE_HOST}`,
      forwardedPath: '/api/hello?name=x',
    });
    expect(sent('/lambda')).toEqual({ cluster: 'aws-east_default', forwardedPath: '/lambda' });
    expect(
      envoy
        .get(TYPE_URLS.cluster)
        ?.map((cluster) => cluster.name)
        .sort(),
    ).toEqual(
      ['aws-east_default', `gcf_default~${GCF_HOST}:443`, `${AZURE_APP}_default_${AZURE_HOST}`].sort(),
    );

    const [gcf, azure, lambda] = routesOf(envoy);
    const token = clouds.gcf.issuedIdTokens(GCF_URL).at(-1);
    expect(clouds.gcf.verifyIdToken(token ?? '')).toMatchObject({
      aud: GCF_URL,
      email: GCF_SERVICE_ACCOUNT,
    });
    expect(gcf).toMatchObject({
      route: { autoHostRewrite: true },
      requestHeadersToAdd: [
        {
          header: { key: 'authorization', value: `Bearer ${token}` },
          appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
        },
      ],
    });
    expect(azure).toMatchObject({
      route: { hostRewriteLiteral: AZURE_HOST, prefixRewrite: '/api/hello' },
      requestHeadersToAdd: [
        {
          header: {
            key: 'x-functions-key',
            value: clouds.azure.functionKeys(AZURE_APP, AZURE_FUNCTION).default,
          },
          appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD',
        },
      ],
    });
    expect(lambda.typedPerFilterConfig?.[LAMBDA_FILTER]).toMatchObject({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.PerRouteConfig',
      invokeConfig: { arn: `arn:aws:lambda:us-east-2:123456789012:function:${LAMBDA_FUNCTION}:1` },
    });
  });

  it('pushes only resources that decode strictly, meet the PGV rules and are what was translated', () => {
    // The three clusters carry their endpoints inline (DNS): Envoy asks for no EDS, and none is pushed.
    expect(envoy.get(TYPE_URLS.cluster)?.map((cluster) => cluster.json.type)).toEqual([
      'LOGICAL_DNS',
      'LOGICAL_DNS',
      'LOGICAL_DNS',
    ]);
    const pushed = client.received.flatMap(pushedResources);
    expect(new Set(pushed.map((resource) => resource.typeUrl))).toEqual(
      new Set([TYPE_URLS.cluster, TYPE_URLS.listener, TYPE_URLS.route]),
    );
    expect(
      pushed.map((resource) => ({ name: resource.name, problems: strictXdsProblems(resource) })),
    ).toEqual(pushed.map((resource) => ({ name: resource.name, problems: [] })));
    // What Envoy holds now is, byte for byte, what Sluice translated, and means what its JSON says.
    const translated = sluice.controlPlane.currentSnapshots().get(PROXY);
    const latest = [...envoy.values()].flat();
    const translatedAs = (resource: XdsResource) => translated?.get(resource.typeUrl)?.get(resource.name);
    expect(latest.filter((resource) => !translatedAs(resource)).map((resource) => resource.name)).toEqual([]);
    expect(
      latest.map((resource) => ({
        name: resource.name,
        problems: strictXdsProblems({ ...(translatedAs(resource) as XdsResource), bytes: resource.bytes }),
      })),
    ).toEqual(latest.map((resource) => ({ name: resource.name, problems: [] })));
  });

  it('accepts every resource, and shows the token, the key and the AWS secret redacted in /snapshot', async () => {
    const admin = async (request: string) =>
      (await fetch(`http://127.0.0.1:${sluice.adminPort}${request}`)).json() as Promise<Json>;
    const { statuses } = (await admin('/resources')) as { statuses: Record<string, { state: string }> };
    const states = Object.fromEntries(Object.entries(statuses).map(([id, status]) => [id, status.state]));
    expect(states).toEqual({
      'Secret/default/aws-creds': 'Accepted',
      'Secret/default/gcp-key': 'Accepted',
      'Secret/default/azure-creds': 'Accepted',
      'Upstream/default/aws-east': 'Accepted',
      'Upstream/default/gcf': 'Accepted',
      [`Upstream/default/${AZURE_APP}`]: 'Accepted',
      'VirtualService/default/vs': 'Accepted',
    });

    const dump = (await admin(`/snapshot?proxy=${PROXY}`)) as Record<
      string,
      Record<string, Array<{ resource: { virtualHosts: Array<{ routes: RouteJson[] }> } }>>
    >;
    const [routeConfiguration] = dump[PROXY][TYPE_URLS.route];
    const [gcf, azure, lambda] = routeConfiguration.resource.virtualHosts[0].routes;
    expect(gcf.requestHeadersToAdd?.map((option) => option.header)).toEqual([
      { key: 'authorization', value: '[redacted]' },
    ]);
    expect(azure.requestHeadersToAdd?.map((option) => option.header)).toEqual([
      { key: 'x-functions-key', value: '[redacted]' },
    ]);
    expect(lambda.typedPerFilterConfig?.[LAMBDA_FILTER]).toMatchObject({
      invokeConfig: { credentials: { secretAccessKey: '[redacted]' } },
    });
    const secrets = [
      ...clouds.gcf.issuedIdTokens(GCF_URL),
      clouds.azure.functionKeys(AZURE_APP, AZURE_FUNCTION).default,
      clouds.lambda.credentials().secretAccessKey,
    ];
    const dumped = JSON.stringify(dump);
    expect(secrets.filter((secret) => dumped.includes(secret))).toEqual([]);
  });
});

import * as path from 'path';
import { translateOnce, type OneTranslation } from '../../src/control-plane/translate-once';
import { PACKAGE_ROOT } from '../../src/package-root';
import { FileStore } from '../../src/store/file-store';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { envoyRouter, type EnvoyRequest } from '../helpers/envoy-routes';
import { strictXdsProblems, xdsResourcesOf } from '../helpers/xds-strict';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The mixed gateway of the README's "Kubernetes" walkthrough, loaded the way `sluice translate` loads it. */
const DIR = path.join(PACKAGE_ROOT, 'examples', 'mixed');
const HOST = 'shop.example.com';
const PROXY = 'default~gateway-proxy';
const LAMBDA_FILTER = 'envoy.filters.http.aws_lambda';

describe('examples/mixed', () => {
  let result: OneTranslation;
  const resources = (typeUrl: string): Json[] =>
    [
      ...(result.snapshots
        .get(PROXY)
        ?.get(typeUrl as never)
        ?.values() ?? []),
    ].map((resource) => resource.json);

  beforeAll(async () => {
    const contents = await new FileStore(DIR).load();
    expect(contents.errors).toEqual([]);
    result = translateOnce(contents);
  });

  it('is accepted whole: every resource, no warning', () => {
    const reports = result.translation.reports.all().map((report) => ({
      resource: `${report.key.kind}/${report.key.namespace}/${report.key.name}`,
      errors: report.errors,
      warnings: report.warnings,
    }));
    expect(reports).toEqual(
      [
        'Secret/shop/aws-creds',
        'Secret/shop/azure-hello-key',
        'Upstream/shop/aws-east',
        'Upstream/shop/azure-demo',
        'Upstream/shop/checkout',
        'Upstream/shop/petstore',
        'VirtualService/shop/mixed',
      ].map((resource) => ({ resource, errors: [], warnings: [] })),
    );
  });

  it('sends each path where the walkthrough says', () => {
    const [routeConfiguration] = resources(TYPE_URLS.route);
    const route = envoyRouter(routeConfiguration);
    const to = (request: EnvoyRequest) => {
      const decision = route({ authority: HOST, ...request });
      return {
        route: decision?.route.route as Json,
        forwardedPath: decision?.forwardedPath,
        json: decision?.route as Json | undefined,
      };
    };
    const lambdaArn = (perFilter: Json | undefined) => perFilter?.[LAMBDA_FILTER]?.invokeConfig?.arn;

    // /pets: every petstore operation, under the Service's /api/v3.
    for (const [method, path, forwarded] of [
      ['GET', '/pets/pet/7', '/api/v3/pet/7'],
      ['DELETE', '/pets/pet/7', '/api/v3/pet/7'],
      ['GET', '/pets/pet/findByStatus?status=sold', '/api/v3/pet/findByStatus?status=sold'],
      ['POST', '/pets/pet', '/api/v3/pet'],
    ]) {
      const { route: action, forwardedPath } = to({ method, path });
      expect({ method, path, cluster: action?.cluster, forwardedPath }).toEqual({
        method,
        path,
        cluster: 'petstore_shop',
        forwardedPath: forwarded,
      });
    }
    expect(to({ method: 'PATCH', path: '/pets/pet/7' }).route).toBeUndefined();
    expect(to({ method: 'GET', path: '/pets/pet/7', authority: 'other.example.com' }).route).toBeUndefined();

    // /lambda: version 1 of hello-world.
    const lambda = to({ method: 'GET', path: '/lambda' });
    expect(lambda.route.cluster).toBe('aws-east_shop');
    expect(lambdaArn(lambda.json?.typedPerFilterConfig)).toBe(
      'arn:aws:lambda:us-east-2:123456789012:function:hello-world:1',
    );

    // /azure: the function hello of the app sluice-demo, with its key.
    const azure = to({ method: 'GET', path: '/azure' });
    expect(azure.route).toMatchObject({
      cluster: 'azure-demo_shop_sluice-demo.azurewebsites.net',
      hostRewriteLiteral: 'sluice-demo.azurewebsites.net',
    });
    expect(azure.forwardedPath).toBe('/api/hello');
    expect(azure.json?.requestHeadersToAdd).toEqual([
      expect.objectContaining({
        header: { key: 'x-functions-key', value: 'fake-azure-function-key-replace-me' },
      }),
    ]);

    // /checkout: 90 to the checkout Service, 10 to the Lambda function checkout-canary.
    const checkout = to({ method: 'POST', path: '/checkout' });
    const split = (checkout.route.weightedClusters.clusters as Json[]).map((cluster) => ({
      name: cluster.name,
      weight: cluster.weight,
      arn: lambdaArn(cluster.typedPerFilterConfig),
    }));
    expect(split).toEqual([
      { name: 'checkout_shop', weight: 90, arn: undefined },
      {
        name: 'aws-east_shop',
        weight: 10,
        arn: 'arn:aws:lambda:us-east-2:123456789012:function:checkout-canary',
      },
    ]);
  });

  it('has a cluster for every destination, the cloud ones over TLS to the cloud', () => {
    const clusters = new Map(
      resources(TYPE_URLS.cluster).map((cluster) => [cluster.name as string, cluster]),
    );
    expect([...clusters.keys()].sort()).toEqual([
      'aws-east_shop',
      'azure-demo_shop_sluice-demo.azurewebsites.net',
      'checkout_shop',
      'petstore_shop',
    ]);
    const target = (name: string) => {
      const cluster = clusters.get(name) as Json;
      const socket = cluster.loadAssignment.endpoints[0].lbEndpoints[0].endpoint.address.socketAddress;
      return { host: `${socket.address}:${socket.portValue}`, tls: cluster.transportSocket?.name };
    };
    expect(target('aws-east_shop')).toEqual({
      host: 'lambda.us-east-2.amazonaws.com:443',
      tls: 'envoy.transport_sockets.tls',
    });
    expect(target('azure-demo_shop_sluice-demo.azurewebsites.net')).toEqual({
      host: 'sluice-demo.azurewebsites.net:443',
      tls: 'envoy.transport_sockets.tls',
    });
  });

  it('decodes strictly against Envoy’s protos and meets their protoc-gen-validate rules', () => {
    const all = xdsResourcesOf(result.snapshots);
    expect(new Set(all.map((resource) => resource.typeUrl))).toEqual(
      new Set([TYPE_URLS.listener, TYPE_URLS.route, TYPE_URLS.cluster]),
    );
    expect(all.map((resource) => ({ name: resource.name, problems: strictXdsProblems(resource) }))).toEqual(
      all.map((resource) => ({ name: resource.name, problems: [] })),
    );
  });
});

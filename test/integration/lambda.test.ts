import { serveDirectory } from '../helpers/serve-directory';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { type RunningSluice } from '../../src/control-plane/sluice-server';
import { FileDiscoveryState } from '../../src/discovery/fds/discovery-state';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient, sotwResources, type SotwResponse } from '../xds/ads-client';
import { awsUpstreamYaml } from '../helpers/aws-config';
import { LambdaApiServer } from '../helpers/lambda-api-server';
import { waitFor } from '../helpers/wait';

const ROUTES = 'listener-::-8080-routes';

function writeAtomically(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function virtualService(fn: string): string {
  return `
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: default, namespace: default}
spec:
  virtualHost:
    domains: ["*"]
    routes:
    - matchers: [{prefix: /lambda}]
      routeAction: {single: {upstream: {name: aws-east, namespace: default}, function: "${fn}"}}
    - matchers: [{prefix: /later}]
      routeAction: {single: {upstream: {name: aws-east, namespace: default}, function: "not-yet"}}
`;
}

describe('serve: Lambda functions discovered and routed over ADS', () => {
  let lambda: LambdaApiServer;
  let dir: string;
  let sluice: RunningSluice;
  let client: SotwClient;

  beforeAll(async () => {
    lambda = new LambdaApiServer({ region: 'us-east-2', accountId: '123456789012' });
    await lambda.start();
    lambda.addFunction('hello-world');
    lambda.publishVersion('hello-world');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lambda-'));
    fs.writeFileSync(
      path.join(dir, 'aws.yaml'),
      `${awsUpstreamYaml(lambda)}---
apiVersion: sluice.dev/v1
kind: Settings
metadata: {name: default, namespace: default}
spec: {discovery: {pollIntervals: {aws: 1s}}}
`,
    );
    fs.writeFileSync(path.join(dir, 'vs.yaml'), virtualService('hello-world:1'));
    sluice = await serveDirectory(dir, {
      discoveryState: new FileDiscoveryState(dir),
    });
    client = new SotwClient(sluice.xdsPort);
  });

  afterAll(async () => {
    client?.close();
    await sluice?.stop();
    await lambda?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Reads RDS responses (ACKing each) until `accept` likes the route configuration. */
  async function routeConfigMatching(
    accept: (routes: Array<Record<string, unknown>>) => boolean,
  ): Promise<Array<Record<string, unknown>>> {
    return waitFor(
      'a matching RouteConfiguration',
      async () => {
        const response: SotwResponse = await client.next(10000);
        client.ack(response, [ROUTES]);
        const config = sotwResources(response).get(ROUTES) as
          { virtualHosts: Array<{ routes: Array<Record<string, unknown>> }> } | undefined;
        const routes = config?.virtualHosts[0].routes;
        return routes && accept(routes) ? routes : undefined;
      },
      { timeoutMs: 15000, intervalMs: 0 },
    );
  }

  const hasLambdaConfig = (route: Record<string, unknown>) =>
    (route.typedPerFilterConfig as Record<string, unknown> | undefined)?.['envoy.filters.http.aws_lambda'] !==
    undefined;

  it('pushes the /lambda route with the ARN of hello-world:1 once discovery has run', async () => {
    client.send({ node: nodeWithRole('envoy-1'), typeUrl: TYPE_URLS.route, resourceNames: [ROUTES] });
    const routes = await routeConfigMatching((list) => hasLambdaConfig(list[0]));
    expect(routes[0].match).toEqual({ prefix: '/lambda' });
    const status = await waitFor('the status of the VirtualService', () =>
      sluice.controlPlane
        .currentStatuses()
        .get('VirtualService/default/default')
        ?.reasons?.[0]?.includes('known: hello-world')
        ? sluice.controlPlane.currentStatuses().get('VirtualService/default/default')
        : undefined,
    );
    expect(status?.reasons).toEqual([
      'spec.virtualHost.routes[1]: route rejected: upstream default/aws-east has no Lambda function "not-yet" (known: hello-world, hello-world:1)',
    ]);
    const perRoute = sluice.controlPlane
      .currentSnapshots()
      .get('default~gateway-proxy')
      ?.get(TYPE_URLS.route)
      ?.get(ROUTES)?.json as {
      virtualHosts: Array<{
        routes: Array<{ typedPerFilterConfig?: Record<string, { invokeConfig: { arn: string } }> }>;
      }>;
    };
    expect(
      perRoute.virtualHosts[0].routes[0].typedPerFilterConfig?.['envoy.filters.http.aws_lambda'].invokeConfig
        .arn,
    ).toBe('arn:aws:lambda:us-east-2:123456789012:function:hello-world:1');
    const saved = await waitFor('discovered functions saved to disk', () => {
      const file = path.join(dir, '.sluice', 'discovered.json');
      return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
    });
    expect(saved['default/aws-east'].functions).toHaveLength(2);
  });

  it('pushes hello-world:2 live after it is published and the route points at it', async () => {
    lambda.publishVersion('hello-world');
    writeAtomically(path.join(dir, 'vs.yaml'), virtualService('hello-world:2'));
    await routeConfigMatching(() => {
      const json = sluice.controlPlane
        .currentSnapshots()
        .get('default~gateway-proxy')
        ?.get(TYPE_URLS.route)
        ?.get(ROUTES)?.json as {
        virtualHosts: Array<{
          routes: Array<{ typedPerFilterConfig?: Record<string, { invokeConfig: { arn: string } }> }>;
        }>;
      };
      return (
        json.virtualHosts[0].routes[0].typedPerFilterConfig?.['envoy.filters.http.aws_lambda']?.invokeConfig
          .arn === 'arn:aws:lambda:us-east-2:123456789012:function:hello-world:2'
      );
    });
  });

  it('accepts a route to a missing function as soon as discovery finds it, with no other change', async () => {
    lambda.addFunction('not-yet');
    const status = await waitFor(
      'the VirtualService to be Accepted',
      () => {
        const current = sluice.controlPlane.currentStatuses().get('VirtualService/default/default');
        return current?.state === 'Accepted' ? current : undefined;
      },
      { timeoutMs: 15000 },
    );
    expect(status.reasons).toBeUndefined();
    const routes = await routeConfigMatching(
      (list) => list[1].directResponse === undefined || list[1].directResponse === null,
    );
    expect(routes[1].match).toEqual({ prefix: '/later' });
  });

  it('keeps the last known functions and warns when AWS refuses, then recovers', async () => {
    lambda.failWith(403, 'AccessDeniedException', 'denied by test', 1000, 'ListFunctions');
    const warned = await waitFor(
      'a discovery warning on the upstream',
      () => {
        const current = sluice.controlPlane.currentStatuses().get('Upstream/default/aws-east');
        return current?.state === 'Warning' ? current : undefined;
      },
      { timeoutMs: 15000 },
    );
    expect(warned.reasons?.[0]).toMatch(
      /^function discovery failed: AccessDeniedException: denied by test \(HTTP 403\); serving the last known functions$/,
    );
    expect(sluice.controlPlane.currentStatuses().get('VirtualService/default/default')?.state).toBe(
      'Accepted',
    );
    lambda.clearFaults();
  });
});

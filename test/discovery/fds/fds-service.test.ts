import { serveDirectory } from '../../helpers/serve-directory';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { type RunningSluice } from '../../../src/control-plane/sluice-server';
import { FileDiscoveryState } from '../../../src/discovery/fds/discovery-state';
import { TYPE_URLS } from '../../../src/xds/type-urls';
import { awsUpstreamYaml } from '../../helpers/aws-config';
import { LambdaApiServer } from '../../helpers/lambda-api-server';
import { waitFor } from '../../helpers/wait';

const ARN = 'arn:aws:lambda:us-east-2:123456789012:function:hello-world';

describe('function discovery inside serve', () => {
  let lambda: LambdaApiServer;
  let dir: string;
  let sluice: RunningSluice | undefined;

  beforeEach(async () => {
    lambda = new LambdaApiServer({ region: 'us-east-2', accountId: '123456789012' });
    await lambda.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fds-'));
    fs.writeFileSync(
      path.join(dir, 'aws.yaml'),
      `${awsUpstreamYaml(lambda)}---
apiVersion: sluice.dev/v1
kind: VirtualService
metadata: {name: default, namespace: default}
spec: {virtualHost: {domains: ["*"], routes: [{matchers: [{prefix: /lambda}], routeAction: {single: {upstream: {name: aws-east}, function: "hello-world:1"}}}]}}
`,
    );
  });

  afterEach(async () => {
    await sluice?.stop();
    sluice = undefined;
    await lambda.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<RunningSluice> {
    sluice = await serveDirectory(dir, {
      discoveryState: new FileDiscoveryState(dir),
    });
    return sluice;
  }

  const lambdaArn = (running: RunningSluice) => {
    const json = running.controlPlane
      .currentSnapshots()
      .get('default~gateway-proxy')
      ?.get(TYPE_URLS.route)
      ?.get('listener-::-8080-routes')?.json as {
      virtualHosts: Array<{
        routes: Array<{ typedPerFilterConfig?: Record<string, { invokeConfig: { arn: string } }> }>;
      }>;
    };
    return json?.virtualHosts[0].routes[0].typedPerFilterConfig?.['envoy.filters.http.aws_lambda']
      ?.invokeConfig.arn;
  };

  it('serves the functions discovered before a restart while AWS is unreachable, with a warning', async () => {
    await new FileDiscoveryState(dir).save(
      new Map([
        [
          'default/aws-east',
          {
            discoverer: 'aws-lambda',
            functions: [{ logicalName: 'hello-world:1', functionName: ARN, qualifier: '1' }],
            updatedAt: '2026-11-01T00:00:00.000Z',
          },
        ],
      ]),
    );
    lambda.failWith(503, 'ServiceException', 'Lambda is down', 1000);
    const running = await start();
    expect(lambdaArn(running)).toBe(`${ARN}:1`);
    const warned = await waitFor('the discovery warning', () => {
      const status = running.controlPlane.currentStatuses().get('Upstream/default/aws-east');
      return status?.state === 'Warning' ? status : undefined;
    });
    expect(warned.reasons?.[0]).toContain(
      'ServiceException: Lambda is down (HTTP 503); serving the last known functions',
    );
    expect(lambdaArn(running)).toBe(`${ARN}:1`);
    expect(running.controlPlane.currentStatuses().get('VirtualService/default/default')?.state).toBe(
      'Accepted',
    );
  });

  it('forgets the functions of an upstream that is deleted', async () => {
    lambda.addFunction('hello-world');
    lambda.publishVersion('hello-world');
    const running = await start();
    await waitFor('discovery', () => (lambdaArn(running) === `${ARN}:1` ? true : undefined));
    const file = path.join(dir, 'aws.yaml');
    fs.writeFileSync(
      file,
      fs
        .readFileSync(file, 'utf8')
        .replace(/kind: Upstream[\s\S]*?---/, 'kind: Settings\nmetadata: {name: default}\nspec: {}\n---'),
    );
    await waitFor('the discovered functions to be forgotten', async () => {
      const saved = await new FileDiscoveryState(dir).load();
      return saved.has('default/aws-east') ? undefined : true;
    });
    // The state file and the statuses are written by different steps: wait for the statuses too.
    const reason = await waitFor('the route to report its missing upstream', () =>
      running.controlPlane
        .currentStatuses()
        .get('VirtualService/default/default')
        ?.reasons?.find((text) => text.includes('upstream default/aws-east not found')),
    );
    expect(reason).toMatch(/route rejected/);
  });
});

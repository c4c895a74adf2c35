import * as fs from 'fs';
import { parse } from 'yaml';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { LambdaApiServer } from '../helpers/lambda-api-server';
import { sluice, tempConfigDir } from '../helpers/sluice-cli';

describe('sluice CLI with AWS Lambda', () => {
  let lambda: LambdaApiServer;
  let dir: string;

  beforeAll(async () => {
    lambda = new LambdaApiServer({ region: 'us-east-2', accountId: '123456789012' });
    await lambda.start();
    lambda.addFunction('hello-world');
    lambda.publishVersion('hello-world');
    lambda.addAlias('hello-world', 'prod', '1');
    dir = tempConfigDir();
  });

  afterAll(async () => {
    await lambda.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the secret from the environment without ever printing it', async () => {
    const { accessKeyId, secretAccessKey } = lambda.credentials();
    const created = await sluice(['create', 'secret', 'aws', '--name', 'aws-creds', '--config-dir', dir], {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
    });
    expect(created.code).toBe(0);
    expect(created.stdout + created.stderr).not.toContain(secretAccessKey);
    const listed = await sluice(['get', 'secret', 'aws-creds', '--config-dir', dir, '-o', 'yaml']);
    expect(parse(listed.stdout)).toMatchObject({
      type: 'aws',
      data: { accessKeyId: '<redacted>', secretAccessKey: '<redacted>' },
    });
    const missing = await sluice(['create', 'secret', 'aws', '--name', 'x', '--config-dir', dir], {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('give --access-key-id and --secret-access-key');
  });

  it('creates the upstream and the route, discovers, and routes /lambda to hello-world:1', async () => {
    const upstream = await sluice([
      'create',
      'upstream',
      'aws',
      '--name',
      'aws-east',
      '--region',
      'us-east-2',
      '--secret-name',
      'aws-creds',
      '--endpoint',
      lambda.endpoint(),
      '--config-dir',
      dir,
    ]);
    expect(upstream.code).toBe(0);
    const badRegion = await sluice([
      'create',
      'upstream',
      'aws',
      '--name',
      'x',
      '--region',
      'moon-1',
      '--config-dir',
      dir,
    ]);
    expect(badRegion.code).toBe(1);
    expect(badRegion.stderr).toContain(
      'spec.aws.region: invalid value (expected an AWS region such as us-east-2)',
    );
    const route = await sluice([
      'add',
      'route',
      '--path-prefix',
      '/lambda',
      '--dest-name',
      'aws-east',
      '--function',
      'hello-world:1',
      '--config-dir',
      dir,
    ]);
    expect(route.code).toBe(0);

    const discovered = await sluice(['discover', '--config-dir', dir, '-o', 'json']);
    expect(discovered.code).toBe(0);
    expect(
      JSON.parse(discovered.stdout)['default/aws-east'].functions.map(
        (fn: { logicalName: string }) => fn.logicalName,
      ),
    ).toEqual(['hello-world', 'hello-world:1', 'hello-world:prod']);

    const table = await sluice(['get', 'upstream', 'aws-east', '--config-dir', dir]);
    expect(table.stdout).toMatch(/aws-east\s+aws\s+Accepted\s+us-east-2, 3 functions/);
    expect(table.stdout).toMatch(
      /hello-world:prod\s+prod\s+discovered\s+arn:aws:lambda:us-east-2:123456789012:function:hello-world/,
    );

    const output = JSON.parse((await sluice(['translate', '--config-dir', dir])).stdout);
    const [lambdaRoute] = output.xds[TYPE_URLS.route][0].virtualHosts[0].routes;
    const invoke = lambdaRoute.typedPerFilterConfig['envoy.filters.http.aws_lambda'].invokeConfig;
    expect(invoke.arn).toBe('arn:aws:lambda:us-east-2:123456789012:function:hello-world:1');
    expect(invoke.credentials).toEqual({
      accessKeyId: lambda.credentials().accessKeyId,
      secretAccessKey: '[redacted]',
    });
    expect(output.reports.filter((report: { state: string }) => report.state !== 'Accepted')).toEqual([]);
  });

  it('translate --discover picks up a newly published version', async () => {
    lambda.publishVersion('hello-world');
    await sluice([
      'add',
      'route',
      '--path-prefix',
      '/v2',
      '--dest-name',
      'aws-east',
      '--function',
      'hello-world:2',
      '--config-dir',
      dir,
    ]);
    const stale = JSON.parse((await sluice(['translate', '--config-dir', dir])).stdout);
    expect(stale.reports.find((report: { kind: string }) => report.kind === 'VirtualService').state).toBe(
      'Warning',
    );
    const fresh = JSON.parse((await sluice(['translate', '--discover', '--config-dir', dir])).stdout);
    expect(fresh.reports.find((report: { kind: string }) => report.kind === 'VirtualService').state).toBe(
      'Accepted',
    );
    const [v2] = fresh.xds[TYPE_URLS.route][0].virtualHosts[0].routes;
    expect(v2.typedPerFilterConfig['envoy.filters.http.aws_lambda'].invokeConfig.arn).toBe(
      'arn:aws:lambda:us-east-2:123456789012:function:hello-world:2',
    );
  });
});

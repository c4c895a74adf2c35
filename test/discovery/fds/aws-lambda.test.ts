import pino from 'pino';
import { loadSnapshot } from '../../../src/api/load';
import { createAwsLambdaDiscoverer } from '../../../src/discovery/fds/aws-lambda';
import { discoverTarget, discoveryTargets } from '../../../src/discovery/fds/discover-upstream';
import type { FunctionDiscoverer } from '../../../src/discovery/fds/discoverer';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { contentsOf } from '../../helpers/translate-yaml';
import { LambdaApiServer } from '../../helpers/lambda-api-server';

const logger = pino({ level: 'silent' });

describe('AWS Lambda discovery against the Lambda API', () => {
  let server: LambdaApiServer;
  let endpoint: string;

  beforeEach(async () => {
    server = new LambdaApiServer({ region: 'us-east-2', accountId: '210987654321' });
    await server.start();
    endpoint = server.endpoint();
  });

  afterEach(() => server.stop());

  function config(aws: string, secretData?: string): string {
    const { accessKeyId, secretAccessKey } = server.credentials();
    return `
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: aws-creds, namespace: default}
type: aws
data: ${secretData ?? `{accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}"}`}
---
apiVersion: sluice.dev/v1
kind: Upstream
metadata: {name: aws-east, namespace: default}
spec: {aws: {region: us-east-2, endpoint: "${endpoint}", ${aws}}}
`;
  }

  async function discover(
    yaml: string,
    previous?: DiscoveredFunctions,
    discoverers?: FunctionDiscoverer[],
  ): Promise<DiscoveredFunctions> {
    const { snapshot } = loadSnapshot(contentsOf(yaml));
    const [target] = discoveryTargets(snapshot, discoverers);
    expect(target?.id).toBe('default/aws-east');
    return discoverTarget(target, snapshot, previous, logger);
  }

  const names = (found: DiscoveredFunctions) => found.functions.map((fn) => fn.logicalName);

  it('finds every function, version and alias across pages, with full ARNs', async () => {
    for (let index = 0; index < 60; index++) server.addFunction(`fn-${String(index).padStart(2, '0')}`);
    server.addFunction('hello-world');
    server.publishVersion('hello-world');
    server.publishVersion('hello-world');
    server.addAlias('hello-world', 'live', '2');
    const found = await discover(config('secretRef: {name: aws-creds}'));
    expect(found.error).toBeUndefined();
    expect(found.functions).toHaveLength(61 + 3);
    expect(found.functions.filter((fn) => String(fn.logicalName).startsWith('hello-world'))).toEqual([
      {
        logicalName: 'hello-world',
        functionName: 'arn:aws:lambda:us-east-2:210987654321:function:hello-world',
      },
      {
        logicalName: 'hello-world:1',
        functionName: 'arn:aws:lambda:us-east-2:210987654321:function:hello-world',
        qualifier: '1',
      },
      {
        logicalName: 'hello-world:2',
        functionName: 'arn:aws:lambda:us-east-2:210987654321:function:hello-world',
        qualifier: '2',
      },
      {
        logicalName: 'hello-world:live',
        functionName: 'arn:aws:lambda:us-east-2:210987654321:function:hello-world',
        qualifier: 'live',
      },
    ]);
    expect(server.count('ListFunctions')).toBe(2);
    expect(server.count('ListVersionsByFunction')).toBe(61);
    expect(server.count('ListAliases')).toBe(61);
    expect(server.requests.every((request) => request.validSignature)).toBe(true);
  });

  it('retries throttling with backoff and still succeeds', async () => {
    server.addFunction('hello-world');
    server.throttle(2, 'ListFunctions', { retryAfterSeconds: 0 });
    const found = await discover(config('secretRef: {name: aws-creds}'));
    expect(found.error).toBeUndefined();
    expect(names(found)).toEqual(['hello-world']);
    expect(
      server.requests
        .filter((request) => request.operation === 'ListFunctions')
        .map((request) => request.status),
    ).toEqual([429, 429, 200]);
  });

  it('keeps the last known functions and reports the AWS error when access is denied or the answer is garbage', async () => {
    server.addFunction('hello-world');
    const first = await discover(config('secretRef: {name: aws-creds}'));
    server.failWith(
      403,
      'AccessDeniedException',
      'User is not authorized to perform: lambda:ListFunctions',
      1,
      'ListFunctions',
    );
    const denied = await discover(config('secretRef: {name: aws-creds}'), first);
    expect(denied.error).toBe(
      'AccessDeniedException: User is not authorized to perform: lambda:ListFunctions (HTTP 403)',
    );
    expect(denied.functions).toEqual(first.functions);
    server.malformed(1, 'ListFunctions');
    const garbled = await discover(config('secretRef: {name: aws-creds}'), first);
    expect(garbled.error).toMatch(/Deserialization error/);
    expect(garbled.functions).toEqual(first.functions);
  });

  it('gives up on a hung endpoint after the request timeout and keeps the last known functions', async () => {
    server.addFunction('hello-world');
    const first = await discover(config('secretRef: {name: aws-creds}'));
    server.stall(10, 'ListFunctions');
    const impatient = [createAwsLambdaDiscoverer({ requestTimeoutMs: 200 })];
    const hung = await discover(config('secretRef: {name: aws-creds}'), first, impatient);
    expect(hung.error).toMatch(/TimeoutError: .*200 ms/);
    expect(hung.functions).toEqual(first.functions);
    expect(server.requests.filter((request) => request.fault === 'stall').length).toBeGreaterThan(1);
  });

  it('names the secret problem, and reports a wrong secret key as AWS does', async () => {
    const missing = await discover(config('secretRef: {name: nowhere}'));
    expect(missing.error).toBe('spec.aws.secretRef: Secret default/nowhere not found');
    const incomplete = await discover(config('secretRef: {name: aws-creds}', '{accessKeyId: AKIA}'));
    expect(incomplete.error).toBe(
      'spec.aws.secretRef: Secret default/aws-creds has no secretAccessKey in data',
    );
    const wrong = await discover(
      config(
        'secretRef: {name: aws-creds}',
        `{accessKeyId: ${server.credentials().accessKeyId}, secretAccessKey: wrong}`,
      ),
    );
    expect(wrong.error).toMatch(/^InvalidSignatureException: .* \(HTTP 403\)$/);
  });

  it('drops functions deleted in AWS on the next run', async () => {
    server.addFunction('stays');
    server.addFunction('goes');
    server.publishVersion('goes');
    const before = await discover(config('secretRef: {name: aws-creds}'));
    expect(names(before)).toEqual(['goes', 'goes:1', 'stays']);
    server.deleteFunction('goes');
    const after = await discover(config('secretRef: {name: aws-creds}'), before);
    expect(names(after)).toEqual(['stays']);
  });

  it('assumes roleArn through STS, with the external id', async () => {
    server.addFunction('cross-account');
    server.addRole('arn:aws:iam::210987654321:role/discovery', { externalId: 'sluice-42' });
    const assumed = await discover(
      config(
        'secretRef: {name: aws-creds}, roleArn: "arn:aws:iam::210987654321:role/discovery", externalId: sluice-42',
      ),
    );
    expect(assumed.error).toBeUndefined();
    expect(names(assumed)).toEqual(['cross-account']);
    expect(server.count('AssumeRole')).toBe(1);
    const listing = server.requests.find((request) => request.operation === 'ListFunctions');
    expect(listing?.signedWith).toMatch(/^ASIA/);
    const refused = await discover(
      config(
        'secretRef: {name: aws-creds}, roleArn: "arn:aws:iam::210987654321:role/discovery", externalId: wrong',
      ),
    );
    expect(refused.error).toMatch(/AccessDenied/);
  });

  it('uses the SDK default credential chain without a secret', async () => {
    server.addFunction('from-env');
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: server.credentials().accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials().secretAccessKey,
    });
    delete process.env.AWS_PROFILE;
    try {
      const found = await discover(config(''));
      expect(found.error).toBeUndefined();
      expect(names(found)).toEqual(['from-env']);
    } finally {
      process.env = saved;
    }
  });

  it('discovers cloud upstreams unless disabled by label', () => {
    const yaml = config('secretRef: {name: aws-creds}').replace(
      'metadata: {name: aws-east, namespace: default}',
      'metadata: {name: aws-east, namespace: default, labels: {discovery.sluice.dev/function-discovery: disabled}}',
    );
    expect(discoveryTargets(loadSnapshot(contentsOf(yaml)).snapshot)).toEqual([]);
  });
});

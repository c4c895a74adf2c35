import {
  LambdaClient,
  LambdaServiceException,
  ListAliasesCommand,
  ListFunctionsCommand,
  ListVersionsByFunctionCommand,
  ResourceNotFoundException,
  ServiceException,
  TooManyRequestsException,
  paginateListAliases,
  paginateListFunctions,
  paginateListVersionsByFunction,
  type FunctionConfiguration,
} from '@aws-sdk/client-lambda';
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  STSServiceException,
} from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
// @smithy/util-retry is not installed; the clients themselves take their retry strategies from here.
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import * as http from 'node:http';
import { LambdaApiServer } from '../helpers/lambda-api-server';

/**
 * The fake Lambda/STS endpoint, exercised only through the real AWS SDK v3 clients: if these pass,
 * the server speaks the wire protocol the SDK expects (paths, query binding, SigV4, error shapes).
 */

const REGION = 'eu-west-1';
const ACCOUNT = '210987654321';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/sluice-discovery`;

let server: LambdaApiServer;
const clients: Array<{ destroy(): void }> = [];

beforeEach(async () => {
  server = new LambdaApiServer({ region: REGION, accountId: ACCOUNT });
  await server.start();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  await server.stop();
});

interface ClientOverrides {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region?: string;
  maxAttempts?: number;
}

/** A real LambdaClient; retries use the SDK's own strategy with a 1 ms backoff so throttling tests are fast. */
function lambda(overrides: ClientOverrides = {}): LambdaClient {
  const client = new LambdaClient({
    endpoint: server.endpoint(),
    region: overrides.region ?? REGION,
    credentials: overrides.credentials ?? server.credentials(),
    retryStrategy: new ConfiguredRetryStrategy(overrides.maxAttempts ?? 3, 1),
  });
  clients.push(client);
  return client;
}

function sts(overrides: ClientOverrides = {}): STSClient {
  const client = new STSClient({
    endpoint: server.endpoint(),
    region: overrides.region ?? REGION,
    credentials: overrides.credentials ?? server.credentials(),
    retryStrategy: new ConfiguredRetryStrategy(overrides.maxAttempts ?? 3, 1),
  });
  clients.push(client);
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

function metadata(error: Record<string, unknown>): {
  httpStatusCode?: number;
  attempts?: number;
  requestId?: string;
} {
  return error.$metadata as { httpStatusCode?: number; attempts?: number; requestId?: string };
}

const fnName = (i: number) => `fn-${String(i).padStart(3, '0')}`;

describe('ListFunctions', () => {
  it('pages more than 50 functions through paginateListFunctions (50 per page at most)', async () => {
    for (let i = 0; i < 120; i++) server.addFunction(fnName(i));
    const client = lambda();

    const pageSizes: number[] = [];
    const names: string[] = [];
    for await (const page of paginateListFunctions({ client }, {})) {
      pageSizes.push(page.Functions?.length ?? 0);
      names.push(...(page.Functions ?? []).map((f) => f.FunctionName as string));
    }
    expect(pageSizes).toEqual([50, 50, 20]);
    expect(names).toEqual(Array.from({ length: 120 }, (_, i) => fnName(i)));

    const calls = server.requests.filter((r) => r.operation === 'ListFunctions');
    expect(calls).toHaveLength(3);
    expect(calls.every((r) => r.validSignature && r.signedWith === server.accessKeyId)).toBe(true);
    expect(calls[0].query.Marker).toBeUndefined();
    expect(calls[1].query.Marker).toEqual(expect.any(String));

    // A larger MaxItems is still capped at 50; a smaller one is honoured.
    const big = await client.send(new ListFunctionsCommand({ MaxItems: 500 }));
    expect(big.Functions).toHaveLength(50);
    let pages = 0;
    let items = 0;
    for await (const page of paginateListFunctions({ client, pageSize: 7 }, {})) {
      pages += 1;
      items += page.Functions?.length ?? 0;
    }
    expect(pages).toBe(Math.ceil(120 / 7));
    expect(items).toBe(120);
  });

  it('returns the unqualified $LATEST configuration, without the fields ListFunctions omits', async () => {
    server.addFunction('orders', { runtime: 'python3.12', description: 'order service' });
    server.publishVersion('orders');
    const out = await lambda().send(new ListFunctionsCommand({}));

    expect(out.NextMarker).toBeUndefined();
    expect(out.Functions).toHaveLength(1);
    const [fn] = out.Functions as FunctionConfiguration[];
    expect(fn).toMatchObject({
      FunctionName: 'orders',
      FunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:orders`,
      Version: '$LATEST',
      Runtime: 'python3.12',
      Description: 'order service',
      PackageType: 'Zip',
    });
    expect(fn.LastModified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    expect(fn.State).toBeUndefined();
    expect(out.$metadata.requestId).toEqual(expect.any(String));
  });

  it('with FunctionVersion=ALL lists every published version with its qualified ARN', async () => {
    server.addFunction('a', { description: 'v1' });
    server.publishVersion('a');
    server.updateFunction('a', { description: 'v2' });
    expect(server.publishVersion('a')).toBe('2');
    server.addFunction('b');

    const out = await lambda().send(new ListFunctionsCommand({ FunctionVersion: 'ALL' }));
    expect(out.Functions?.map((f) => [f.FunctionArn, f.Version, f.Description])).toEqual([
      [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:a:$LATEST`, '$LATEST', 'v2'],
      [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:a:1`, '1', 'v1'],
      [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:a:2`, '2', 'v2'],
      [`arn:aws:lambda:${REGION}:${ACCOUNT}:function:b:$LATEST`, '$LATEST', ''],
    ]);

    // Paging cuts across functions and versions without losing or repeating entries.
    const seen: string[] = [];
    for await (const page of paginateListFunctions(
      { client: lambda(), pageSize: 3 },
      { FunctionVersion: 'ALL' },
    )) {
      seen.push(...(page.Functions ?? []).map((f) => f.FunctionArn as string));
    }
    expect(seen).toEqual(out.Functions?.map((f) => f.FunctionArn));

    // MasterRegion only matches Lambda@Edge replicas (none here) and requires FunctionVersion=ALL.
    const edge = await lambda().send(
      new ListFunctionsCommand({ FunctionVersion: 'ALL', MasterRegion: 'us-east-1' }),
    );
    expect(edge.Functions).toEqual([]);
    const bad = await rejection(lambda().send(new ListFunctionsCommand({ MasterRegion: 'us-east-1' })));
    expect(bad.name).toBe('InvalidParameterValueException');
    expect(metadata(bad).httpStatusCode).toBe(400);
  });
});

describe('ListVersionsByFunction and ListAliases', () => {
  beforeEach(() => {
    server.addFunction('api');
    for (let i = 0; i < 7; i++) server.publishVersion('api');
    server.addAlias('api', 'live', '7', { description: 'prod', additionalVersionWeights: { '6': 0.1 } });
    server.addAlias('api', 'canary', '7');
    server.addAlias('api', 'old', '3');
  });

  it('lists $LATEST first, then versions, paged with Marker/MaxItems', async () => {
    const versions: string[] = [];
    let pages = 0;
    for await (const page of paginateListVersionsByFunction(
      { client: lambda(), pageSize: 3 },
      { FunctionName: 'api' },
    )) {
      pages += 1;
      versions.push(...(page.Versions ?? []).map((v) => v.Version as string));
    }
    expect(pages).toBe(3);
    expect(versions).toEqual(['$LATEST', '1', '2', '3', '4', '5', '6', '7']);

    const out = await lambda().send(new ListVersionsByFunctionCommand({ FunctionName: 'api' }));
    expect(out.Versions?.[3].FunctionArn).toBe(`arn:aws:lambda:${REGION}:${ACCOUNT}:function:api:3`);
    expect(server.requests.at(-1)?.path).toBe('/2015-03-31/functions/api/versions');
  });

  it('accepts a full or partial ARN as FunctionName', async () => {
    const client = lambda();
    const full = await client.send(
      new ListVersionsByFunctionCommand({ FunctionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:api` }),
    );
    const partial = await client.send(
      new ListVersionsByFunctionCommand({ FunctionName: `${ACCOUNT}:function:api` }),
    );
    expect(full.Versions).toHaveLength(8);
    expect(partial.Versions).toHaveLength(8);
    // The SDK percent-encodes the ':' of the ARN label.
    expect(server.requests.at(-2)?.path).toContain('arn%3Aaws%3Alambda%3A');
  });

  it('404s unknown functions as ResourceNotFoundException', async () => {
    const error = await rejection(lambda().send(new ListVersionsByFunctionCommand({ FunctionName: 'nope' })));
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(metadata(error).httpStatusCode).toBe(404);
    expect(metadata(error).attempts).toBe(1);
    expect(error.message).toBe(`Function not found: arn:aws:lambda:${REGION}:${ACCOUNT}:function:nope`);
    expect(error.Type).toBe('User');

    const otherAccount = await rejection(
      lambda().send(
        new ListAliasesCommand({ FunctionName: `arn:aws:lambda:${REGION}:000000000000:function:api` }),
      ),
    );
    expect(otherAccount).toBeInstanceOf(ResourceNotFoundException);

    server.deleteFunction('api');
    const deleted = await rejection(lambda().send(new ListAliasesCommand({ FunctionName: 'api' })));
    expect(deleted).toBeInstanceOf(ResourceNotFoundException);
  });

  it('lists aliases with ARNs, weights and an optional FunctionVersion filter', async () => {
    const out = await lambda().send(new ListAliasesCommand({ FunctionName: 'api' }));
    expect(out.Aliases?.map((a) => a.Name)).toEqual(['canary', 'live', 'old']);
    expect(out.Aliases?.[1]).toEqual({
      AliasArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:api:live`,
      Name: 'live',
      FunctionVersion: '7',
      Description: 'prod',
      RoutingConfig: { AdditionalVersionWeights: { '6': 0.1 } },
      RevisionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });

    const seven = await lambda().send(new ListAliasesCommand({ FunctionName: 'api', FunctionVersion: '7' }));
    expect(seven.Aliases?.map((a) => a.Name)).toEqual(['canary', 'live']);

    server.updateAlias('api', 'old', '4');
    const names: string[] = [];
    for await (const page of paginateListAliases(
      { client: lambda(), pageSize: 1 },
      { FunctionName: 'api' },
    )) {
      names.push(...(page.Aliases ?? []).map((a) => `${a.Name}->${a.FunctionVersion}`));
    }
    expect(names).toEqual(['canary->7', 'live->7', 'old->4']);
    expect(server.count('ListAliases')).toBe(5);
  });
});

describe('fault injection', () => {
  beforeEach(() => server.addFunction('f'));

  it('surfaces 429 as TooManyRequestsException once the retry budget is spent', async () => {
    server.throttle(3, undefined, { retryAfterSeconds: 0 });
    const error = await rejection(lambda({ maxAttempts: 3 }).send(new ListFunctionsCommand({})));

    expect(error).toBeInstanceOf(TooManyRequestsException);
    expect(metadata(error)).toMatchObject({ httpStatusCode: 429, attempts: 3 });
    expect(error).toMatchObject({ Reason: 'CallerRateLimitExceeded', Type: 'User', retryAfterSeconds: '0' });
    expect(error.message).toBe('Rate exceeded');
    expect(server.requests.map((r) => [r.attempt, r.status, r.fault])).toEqual([
      [1, 429, 'throttle'],
      [2, 429, 'throttle'],
      [3, 429, 'throttle'],
    ]);
  });

  it('succeeds when throttling clears within the retry budget', async () => {
    server.throttle(2, 'ListFunctions', { retryAfterSeconds: 0 });
    const out = await lambda({ maxAttempts: 3 }).send(new ListFunctionsCommand({}));
    expect(out.Functions?.map((f) => f.FunctionName)).toEqual(['f']);
    expect(out.$metadata.attempts).toBe(3);
    expect(server.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('only throttles the named operation, and the SDK honours Retry-After', async () => {
    server.throttle(1, 'ListAliases', { retryAfterSeconds: 1 });
    const client = lambda();
    expect((await client.send(new ListFunctionsCommand({}))).$metadata.attempts).toBe(1);

    const started = Date.now();
    const out = await client.send(new ListAliasesCommand({ FunctionName: 'f' }));
    expect(out.$metadata.attempts).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(out.$metadata.totalRetryDelay).toBeGreaterThanOrEqual(900);
  });

  it('403 AccessDeniedException is not retried and has no dedicated class in client-lambda', async () => {
    const message = `User: arn:aws:iam::${ACCOUNT}:user/x is not authorized to perform: lambda:ListFunctions on resource: *`;
    server.failWith(403, 'AccessDeniedException', message, 1);
    const error = await rejection(lambda().send(new ListFunctionsCommand({})));

    expect(error).toBeInstanceOf(LambdaServiceException);
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(message);
    expect(metadata(error)).toMatchObject({ httpStatusCode: 403, attempts: 1 });
    expect(error.$fault).toBe('client');
  });

  it('500 ServiceException is retried, and raised as ServiceException when it persists', async () => {
    server.failWith(500, 'ServiceException', 'internal', 1);
    expect((await lambda().send(new ListFunctionsCommand({}))).$metadata.attempts).toBe(2);

    server.failWith(500, 'ServiceException', 'internal', 5);
    const error = await rejection(lambda({ maxAttempts: 2 }).send(new ListFunctionsCommand({})));
    expect(error).toBeInstanceOf(ServiceException);
    expect(metadata(error)).toMatchObject({ httpStatusCode: 500, attempts: 2 });
    expect(error.$fault).toBe('server');
  });

  it('a 200 with a non-JSON body becomes an SDK deserialization error', async () => {
    server.malformed(1, 'ListFunctions');
    const error = await rejection(lambda().send(new ListFunctionsCommand({})));
    expect(error.name).toBe('SyntaxError');
    expect(error.message).toContain('Deserialization error');
    expect(error.$response).toBeDefined();
    expect(metadata(error)).toMatchObject({ httpStatusCode: 200, attempts: 1 });
    // The fault is used up: the next call works.
    expect((await lambda().send(new ListFunctionsCommand({}))).Functions).toHaveLength(1);
  });
});

describe('SigV4 authentication', () => {
  beforeEach(() => server.addFunction('f'));

  it('rejects a wrong secret with InvalidSignatureException', async () => {
    const client = lambda({
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    const error = await rejection(client.send(new ListFunctionsCommand({})));
    expect(error).toBeInstanceOf(LambdaServiceException);
    expect(error.name).toBe('InvalidSignatureException');
    expect(error.message).toMatch(
      /^The request signature we calculated does not match the signature you provided/,
    );
    expect(metadata(error)).toMatchObject({ httpStatusCode: 403, attempts: 1 });
    expect(server.requests[0]).toMatchObject({
      operation: 'ListFunctions',
      signedWith: server.accessKeyId,
      validSignature: false,
      status: 403,
    });
  });

  it('rejects an unknown access key with UnrecognizedClientException', async () => {
    const client = lambda({ credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' } });
    const error = await rejection(client.send(new ListFunctionsCommand({})));
    expect(error.name).toBe('UnrecognizedClientException');
    expect(error.message).toBe('The security token included in the request is invalid.');
    expect(metadata(error).httpStatusCode).toBe(403);
  });

  it('rejects a signature scoped to another region', async () => {
    const error = await rejection(lambda({ region: 'us-west-2' }).send(new ListFunctionsCommand({})));
    expect(error.name).toBe('InvalidSignatureException');
    expect(error.message).toContain("Credential should be scoped to a valid region, not 'us-west-2'");
  });

  it('rejects a request altered after it was signed', async () => {
    const client = lambda({ maxAttempts: 1 });
    // The deserialize step runs after signing, right before the request goes on the wire.
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { query: Record<string, string> };
        request.query.MaxItems = '1';
        return next(args);
      },
      { step: 'deserialize', name: 'tamperAfterSigning' },
    );
    const error = await rejection(client.send(new ListFunctionsCommand({ MaxItems: 2 })));
    expect(error.name).toBe('InvalidSignatureException');
    expect(server.requests[0]).toMatchObject({ query: { MaxItems: '1' }, validSignature: false });
  });

  it('rejects a stale x-amz-date, which the SDK corrects from the Date header and retries', async () => {
    const client = new LambdaClient({
      endpoint: server.endpoint(),
      region: REGION,
      credentials: server.credentials(),
      systemClockOffset: -10 * 60 * 1000,
      retryStrategy: new ConfiguredRetryStrategy(3, 1),
    });
    clients.push(client);
    const out = await client.send(new ListFunctionsCommand({}));
    expect(out.$metadata.attempts).toBe(2);
    expect(server.requests.map((r) => [r.status, r.validSignature])).toEqual([
      [403, false],
      [200, true],
    ]);
  });

  it('does not let injected faults consume unauthenticated requests', async () => {
    server.throttle(1, undefined, { retryAfterSeconds: 0 });
    const bad = lambda({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'nope' } });
    expect((await rejection(bad.send(new ListFunctionsCommand({})))).name).toBe('InvalidSignatureException');
    const out = await lambda().send(new ListFunctionsCommand({}));
    expect(out.$metadata.attempts).toBe(2);
  });
});

describe('STS AssumeRole', () => {
  beforeEach(() => {
    server.addFunction('f');
    server.addRole(ROLE_ARN, { externalId: 'sluice-ext-1' });
  });

  it('issues temporary credentials that the Lambda API then accepts with their session token', async () => {
    const out = await sts().send(
      new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'discovery', ExternalId: 'sluice-ext-1' }),
    );
    const creds = out.Credentials;
    expect(creds?.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(creds?.SessionToken).toEqual(expect.any(String));
    expect(creds?.Expiration).toBeInstanceOf(Date);
    expect((creds?.Expiration as Date).getTime() - Date.now()).toBeGreaterThan(3500 * 1000);
    expect(out.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/sluice-discovery/discovery`);
    expect(server.requests[0]).toMatchObject({
      service: 'sts',
      operation: 'AssumeRole',
      validSignature: true,
    });
    expect(server.requests[0].query).toMatchObject({ RoleArn: ROLE_ARN, ExternalId: 'sluice-ext-1' });

    const temporary = {
      accessKeyId: creds?.AccessKeyId as string,
      secretAccessKey: creds?.SecretAccessKey as string,
      sessionToken: creds?.SessionToken as string,
    };
    const listed = await lambda({ credentials: temporary }).send(new ListFunctionsCommand({}));
    expect(listed.Functions?.map((f) => f.FunctionName)).toEqual(['f']);
    expect(server.requests.at(-1)).toMatchObject({
      signedWith: temporary.accessKeyId,
      validSignature: true,
      assumedRole: ROLE_ARN,
    });

    const who = await sts({ credentials: temporary }).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/sluice-discovery/discovery`);

    // Without (or with a wrong) session token the temporary key is not recognised.
    const noToken = await rejection(
      lambda({ credentials: { ...temporary, sessionToken: undefined } }).send(new ListFunctionsCommand({})),
    );
    expect(noToken.name).toBe('UnrecognizedClientException');

    server.expireIssuedCredentials();
    const expired = await rejection(lambda({ credentials: temporary }).send(new ListFunctionsCommand({})));
    expect(expired.name).toBe('ExpiredTokenException');
  });

  it('works through fromTemporaryCredentials, the provider a discovery loop would use', async () => {
    const client = new LambdaClient({
      endpoint: server.endpoint(),
      region: REGION,
      retryStrategy: new ConfiguredRetryStrategy(2, 1),
      credentials: fromTemporaryCredentials({
        masterCredentials: server.credentials(),
        params: { RoleArn: ROLE_ARN, RoleSessionName: 'sluice', ExternalId: 'sluice-ext-1' },
        clientConfig: { endpoint: server.endpoint(), region: REGION },
      }),
    });
    clients.push(client);
    const out = await client.send(new ListFunctionsCommand({}));
    expect(out.Functions).toHaveLength(1);
    expect(server.requests.map((r) => r.operation)).toEqual(['AssumeRole', 'ListFunctions']);
    expect(server.requests[1].signedWith).toMatch(/^ASIA/);
  });

  it('denies a wrong or missing ExternalId, and unknown roles, with AccessDenied', async () => {
    const client = sts();
    for (const input of [
      { RoleArn: ROLE_ARN, RoleSessionName: 'discovery', ExternalId: 'wrong' },
      { RoleArn: ROLE_ARN, RoleSessionName: 'discovery' },
      { RoleArn: `arn:aws:iam::${ACCOUNT}:role/other`, RoleSessionName: 'discovery' },
    ]) {
      const error = await rejection(client.send(new AssumeRoleCommand(input)));
      expect(error).toBeInstanceOf(STSServiceException);
      expect(error.name).toBe('AccessDenied');
      expect(error.message).toBe(
        `User: arn:aws:iam::${ACCOUNT}:user/sluice-test is not authorized to perform: sts:AssumeRole on resource: ${input.RoleArn}`,
      );
      expect(metadata(error)).toMatchObject({ httpStatusCode: 403, attempts: 1 });
    }
  });

  it('throttles STS the way STS does (400 Throttling), which the SDK retries', async () => {
    server.throttle(1, 'AssumeRole');
    const out = await sts().send(
      new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: 'discovery', ExternalId: 'sluice-ext-1' }),
    );
    expect(out.$metadata.attempts).toBe(2);
    expect(server.requests.map((r) => r.status)).toEqual([400, 200]);

    server.malformed(1, 'AssumeRole');
    const error = await rejection(
      sts().send(
        new AssumeRoleCommand({
          RoleArn: ROLE_ARN,
          RoleSessionName: 'discovery',
          ExternalId: 'sluice-ext-1',
        }),
      ),
    );
    expect(metadata(error).httpStatusCode).toBe(200);
    expect(error.message).toContain('Deserialization error');
  });

  it('checks the STS signature too', async () => {
    const error = await rejection(
      sts({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'wrong' } }).send(
        new AssumeRoleCommand({
          RoleArn: ROLE_ARN,
          RoleSessionName: 'discovery',
          ExternalId: 'sluice-ext-1',
        }),
      ),
    );
    expect(error.name).toBe('SignatureDoesNotMatch');
    expect(metadata(error).httpStatusCode).toBe(403);
  });
});

describe('raw SigV4 clients', () => {
  /** Signs and sends a request the way any SigV4 client would, without the SDK's protocol layer. */
  async function signedGet(
    path: string,
    query: Record<string, string>,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    const port = Number(new URL(server.endpoint()).port);
    const signer = new SignatureV4({
      service: 'lambda',
      region: REGION,
      credentials: server.credentials(),
      sha256: Sha256,
    });
    const signed = await signer.sign({
      method: 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port,
      path,
      query,
      headers: { host: `127.0.0.1:${port}` },
    });
    const search = new URLSearchParams(query).toString().replace(/\+/g, '%20');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'GET',
          path: search ? `${path}?${search}` : path,
          headers: signed.headers,
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('accepts the documented trailing-slash path and reports unknown operations', async () => {
    server.addFunction('f');
    const listed = await signedGet('/2015-03-31/functions/', { MaxItems: '5' });
    expect(listed.status).toBe(200);
    expect(listed.headers['content-type']).toBe('application/json');
    expect(listed.headers['x-amzn-requestid']).toEqual(expect.any(String));
    expect(JSON.parse(listed.body)).toEqual({ Functions: [expect.objectContaining({ FunctionName: 'f' })] });

    const unknown = await signedGet('/2015-03-31/functions/f/configuration', {});
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-amzn-errortype']).toMatch(/^UnknownOperationException:/);
    expect(server.requests.map((r) => [r.operation, r.validSignature])).toEqual([
      ['ListFunctions', true],
      ['Unknown', true],
    ]);
  });
});

describe('lifecycle', () => {
  it('stop() does not wait for kept-alive connections, and the port refuses afterwards', async () => {
    const endpoint = server.endpoint();
    await lambda().send(new ListFunctionsCommand({})); // leaves an idle keep-alive socket
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(1000);

    const fresh = new LambdaClient({
      endpoint,
      region: REGION,
      credentials: server.credentials(),
      maxAttempts: 1,
    });
    clients.push(fresh);
    const error = await rejection(fresh.send(new ListFunctionsCommand({})));
    // The SDK wraps non-Error throwables: 'AWS SDK error wrapper for Error: connect ECONNREFUSED ...'.
    expect(error.message).toContain('ECONNREFUSED');
  });
});

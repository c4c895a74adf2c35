import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { nodeWithRole, SotwClient } from '../xds/ads-client';
import { AzureArmServer } from '../helpers/azure-arm-server';
import { GcfApiServer } from '../helpers/gcf-api-server';
import { LambdaApiServer } from '../helpers/lambda-api-server';
import {
  SecretScanner,
  TEST_AWS_ACCESS_KEY_ID,
  TEST_SECRETS,
  TEST_TLS_CERTIFICATE,
  testGcpServiceAccount,
} from '../helpers/test-secrets';
import { GCF_HELLO } from '../helpers/three-clouds';
import { tlsGatewayYaml } from '../helpers/tls-gateway';
import { UPSTREAMS, virtualService } from '../helpers/translate-yaml';
import { waitFor } from '../helpers/wait';
import { CLI_MAIN, startNode, startServe, type Printed } from './processes';

/**
 * Secret hygiene: the fake credentials of test/helpers/test-secrets.ts sit in a config directory whose
 * resources use them, some of them wrongly (a Secret of the wrong type, a malformed key, a route to a
 * function that does not exist, Secret files YAML cannot parse). Every CLI command and `sluice serve` at
 * trace level run on it against loopback cloud APIs; everything they print, the statuses they write
 * and what the admin endpoint answers is searched for any 16 characters of a secret (as is, base64 or
 * URL-encoded). Only DIR/.sluice/discovered.json (mode 0600) may hold one: the function keys discovery read.
 */

const PROXY = 'default~gateway-proxy';
const GCF_AUDIENCE = GcfApiServer.functionUrl(GCF_HELLO);
/** A key's base64 with its line breaks lost, pasted right after `|` (YAML then quotes it in its error). */
const ONE_LINE_TLS_KEY = TEST_SECRETS.tlsPrivateKey
  .split('\n')
  .filter((line) => !line.startsWith('-----'))
  .join('');

/** What AWS answers a request signed with a wrong key: the canonical request it expected, session token and all. */
const AWS_SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret ' +
  'Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String ' +
  "for this request should have been\n'GET\n/2015-03-31/functions/\n\nhost:lambda.us-east-2.amazonaws.com\n" +
  `x-amz-date:20260101T000000Z\nx-amz-security-token:${TEST_SECRETS.awsSessionToken}\n\n` +
  "host;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'";

/** Runs each argument list through the CLI's `main`, one process for speed; marks where each ends. */
const CLI_DRIVER = `
const { main } = require(process.argv[1]);
(async () => {
  for (const args of JSON.parse(process.argv[2])) {
    await main(['node', 'sluice', ...args]);
    const mark = '\\n@@ exit ' + (process.exitCode ?? 0) + '\\n';
    process.stdout.write(mark);
    process.stderr.write(mark);
    process.exitCode = undefined;
  }
  process.exit(0);
})();
`;

interface CommandOutput {
  args: string[];
  exit: number;
  stdout: string;
  stderr: string;
}

function splitByCommand(commands: string[][], { stdout, stderr }: Printed): CommandOutput[] {
  const outs = stdout.split(/\n@@ exit \d+\n/);
  const errs = stderr.split(/\n@@ exit \d+\n/);
  const exits = [...stdout.matchAll(/\n@@ exit (\d+)\n/g)].map((match) => Number(match[1]));
  return commands.map((args, index) => ({
    args,
    exit: exits[index],
    stdout: outs[index],
    stderr: errs[index],
  }));
}

describe('secret hygiene', () => {
  const lambda = new LambdaApiServer({
    region: 'us-east-2',
    accessKeyId: TEST_AWS_ACCESS_KEY_ID,
    secretAccessKey: TEST_SECRETS.awsSecretAccessKey,
  });
  const lambdaDenied = new LambdaApiServer({
    region: 'us-east-2',
    accessKeyId: TEST_AWS_ACCESS_KEY_ID,
    secretAccessKey: TEST_SECRETS.awsSecretAccessKey,
  });
  const azure = new AzureArmServer({ clientSecret: TEST_SECRETS.azureClientSecret });
  const gcf = new GcfApiServer();
  let dir: string;
  let inputs: string;
  let env: NodeJS.ProcessEnv;
  /** A key the loopback Google API made (to mint real ID tokens with); secret as well. */
  let liveServiceAccount: string;

  beforeAll(async () => {
    await Promise.all([lambda.start(), lambdaDenied.start(), azure.start(), gcf.start()]);
    lambda.addFunction('hello-world');
    lambdaDenied.failWith(403, 'InvalidSignatureException', AWS_SIGNATURE_MISMATCH, Number.MAX_SAFE_INTEGER);
    azure.addFunctionApp('orders', { resourceGroup: 'shop' });
    azure.addFunction('orders', 'hello', { keys: { default: TEST_SECRETS.azureFunctionKey } });
    azure.addFunction('orders', 'status');
    gcf.addFunction(GCF_HELLO);
    liveServiceAccount = gcf.createServiceAccount('gateway@shop.iam.gserviceaccount.com');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-secrets-'));
    inputs = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-secret-inputs-'));
    writeConfig();
    fs.writeFileSync(path.join(inputs, 'key.json'), testGcpServiceAccount(`${gcf.endpoint()}/token`));
    fs.writeFileSync(
      path.join(inputs, 'truncated.json'),
      testGcpServiceAccount(`${gcf.endpoint()}/token`).slice(0, 900),
    );
    fs.writeFileSync(path.join(inputs, 'tls.crt'), TEST_TLS_CERTIFICATE);
    fs.writeFileSync(path.join(inputs, 'tls.key'), TEST_SECRETS.tlsPrivateKey);
    env = {
      ...process.env,
      SLUICE_LOG_LEVEL: 'trace',
      NODE_EXTRA_CA_CERTS: azure.caFile(),
      // Nothing from this machine: only the secrets of the directory are used.
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AZURE_TENANT_ID: '',
      AZURE_CLIENT_ID: '',
      AZURE_CLIENT_SECRET: '',
      GOOGLE_APPLICATION_CREDENTIALS: '',
    };
  });

  afterAll(async () => {
    await Promise.all([lambda.stop(), lambdaDenied.stop(), azure.stop(), gcf.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(inputs, { recursive: true, force: true });
  });

  function write(name: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }

  function secretYaml(name: string, type: string, data: Record<string, string>): string {
    return `---
apiVersion: sluice.dev/v1
kind: Secret
metadata: {name: ${name}, namespace: default}
type: ${type}
data: ${JSON.stringify(data)}
`;
  }

  function writeConfig(): void {
    const { tenantId, clientId } = azure.credentials();
    const tokenUri = `${gcf.endpoint()}/token`;
    const malformedKey = JSON.parse(testGcpServiceAccount(tokenUri)) as Record<string, string>;
    malformedKey.private_key = TEST_SECRETS.gcpPrivateKey.replace(/\n/g, '');
    write(
      'secrets/clouds.yaml',
      secretYaml('aws-creds', 'aws', {
        accessKeyId: TEST_AWS_ACCESS_KEY_ID,
        secretAccessKey: TEST_SECRETS.awsSecretAccessKey,
        sessionToken: TEST_SECRETS.awsSessionToken,
      }) +
        secretYaml('azure-creds', 'azure', {
          tenantId,
          clientId,
          clientSecret: TEST_SECRETS.azureClientSecret,
        }) +
        secretYaml('status-key', 'generic', { key: TEST_SECRETS.genericSecret }) +
        secretYaml('gcp-key', 'gcp', { serviceAccount: testGcpServiceAccount(tokenUri) }) +
        secretYaml('gcp-malformed', 'gcp', { serviceAccount: JSON.stringify(malformedKey) }) +
        secretYaml('gcp-not-json', 'gcp', { serviceAccount: testGcpServiceAccount(tokenUri).slice(0, 900) }) +
        secretYaml('gcp-live', 'gcp', { serviceAccount: liveServiceAccount }),
    );
    write(
      'secrets/tls.yaml',
      UPSTREAMS +
        tlsGatewayYaml(JSON.stringify(TEST_TLS_CERTIFICATE), JSON.stringify(TEST_SECRETS.tlsPrivateKey)),
    );
    write(
      'secrets/broken-tls.yaml',
      `apiVersion: sluice.dev/v1\nkind: Secret\nmetadata: {name: broken-tls}\ntype: tls\ndata:\n  certChain: x\n  privateKey: |${ONE_LINE_TLS_KEY}\n`,
    );
    write(
      'secrets/broken-generic.yaml',
      `apiVersion: sluice.dev/v1\nkind: Secret\nmetadata: {name: broken-generic}\ntype: generic\ndata: {key: *${TEST_SECRETS.genericSecret}}\n---\n? [${TEST_SECRETS.genericSecret}]\n: left over from a paste\n`,
    );
    write(
      'secrets/broken-azure.yaml',
      `apiVersion: sluice.dev/v1\nkind: Secret\nmetadata: {name: broken-azure}\ntype: azure\ndata:\n  clientSecret: >${TEST_SECRETS.azureClientSecret}\n`,
    );
    const upstream = (name: string, spec: string) =>
      `---\napiVersion: sluice.dev/v1\nkind: Upstream\nmetadata: {name: ${name}, namespace: default}\nspec: ${spec}\n`;
    const azureSpec = [
      `subscriptionId: ${azure.subscriptionId}`,
      'functionAppName: orders',
      'resourceGroup: shop',
      `managementEndpoint: "${azure.endpoint()}"`,
      `authorityHost: "${azure.endpoint()}"`,
      'secretRef: {name: azure-creds}',
      'functions: [{functionName: status, keySecretRef: {name: status-key}}]',
    ].join(', ');
    const gcp = (secret: string) =>
      `{gcp: {project: shop, apiEndpoint: "${gcf.endpoint()}", secretRef: {name: ${secret}}}}`;
    write(
      'upstreams.yaml',
      upstream(
        'aws-east',
        `{aws: {region: us-east-2, endpoint: "${lambda.endpoint()}", secretRef: {name: aws-creds}}}`,
      ) +
        upstream(
          'aws-denied',
          `{aws: {region: us-east-2, endpoint: "${lambdaDenied.endpoint()}", secretRef: {name: aws-creds}}}`,
        ) +
        upstream(
          'aws-wrong-type',
          `{aws: {region: us-east-2, endpoint: "${lambda.endpoint()}", secretRef: {name: cert}}}`,
        ) +
        upstream('orders', `{azure: {${azureSpec}}}`) +
        upstream('gcf', gcp('gcp-key')) +
        upstream('gcf-malformed', gcp('gcp-malformed')) +
        upstream('gcf-not-json', gcp('gcp-not-json')) +
        upstream('gcf-live', gcp('gcp-live')),
    );
    const route = (prefix: string, upstreamName: string, fn: string) =>
      `\n    - matchers: [{prefix: ${prefix}}]\n      routeAction: {single: {upstream: {name: ${upstreamName}}, function: "${fn}"}}`;
    write(
      'routes.yaml',
      `apiVersion: sluice.dev/v1\nkind: Gateway\nmetadata: {name: http, namespace: default}\nspec: {bindPort: 8080}\n` +
        virtualService(
          route('/lambda', 'aws-east', 'hello-world') +
            route('/lambda-missing', 'aws-east', 'no-such-function') +
            route('/lambda-wrong-type', 'aws-wrong-type', 'hello-world') +
            route('/lambda-denied', 'aws-denied', 'hello-world') +
            route('/azure/hello', 'orders', 'hello') +
            route('/azure/status', 'orders', 'status') +
            route('/gcf/hello', 'gcf-live', 'hello') +
            route('/gcf-fixed', 'gcf', 'hello') +
            route('/gcf-malformed', 'gcf-malformed', 'hello') +
            route('/gcf-not-json', 'gcf-not-json', 'hello'),
        ),
    );
  }

  /** Every secret, those the loopback Google API made included. */
  function scanner(): SecretScanner {
    const live = JSON.parse(liveServiceAccount) as { private_key: string };
    const tokens = Object.fromEntries(
      gcf.issuedIdTokens(GCF_AUDIENCE).map((token, index) => [`gcpIdToken${index}`, token]),
    );
    return new SecretScanner({ gcpLivePrivateKey: live.private_key, ...tokens });
  }

  it('no CLI command prints a secret, in any output format, nor in its errors', async () => {
    const inDir = (...args: string[]) => [...args, '--config-dir', dir];
    const createSecret = (type: string, ...flags: string[][]) =>
      inDir('create', 'secret', type, '--name', `typed-${type}`, ...flags.flat());
    const commands = [
      ...['table', 'json', 'yaml'].map((format) => inDir('discover', '-o', format)),
      inDir('check'),
      ...['json', 'yaml'].map((format) => inDir('translate', '-o', format)),
      ...['upstreams', 'virtualservices', 'gateways', 'routetables', 'proxies', 'secrets'].flatMap((kind) =>
        ['table', 'json', 'yaml'].map((format) => inDir('get', kind, '-o', format)),
      ),
      inDir('get', 'secret', 'aws-creds', '-o', 'yaml'),
      inDir('get', 'upstream', 'orders', '-o', 'json'),
      createSecret(
        'aws',
        ['--access-key-id', TEST_AWS_ACCESS_KEY_ID, '--secret-access-key', TEST_SECRETS.awsSecretAccessKey],
        ['--session-token', TEST_SECRETS.awsSessionToken, '--dry-run'],
      ),
      createSecret(
        'azure',
        ['--tenant-id', 'tenant', '--client-id', 'client', '--client-secret', TEST_SECRETS.azureClientSecret],
        ['--dry-run'],
      ),
      createSecret('gcp', ['--service-account-file', path.join(inputs, 'key.json'), '--dry-run']),
      createSecret('gcp', ['--service-account-file', path.join(inputs, 'truncated.json')]),
      createSecret(
        'tls',
        ['--cert-file', path.join(inputs, 'tls.crt'), '--key-file', path.join(inputs, 'tls.key')],
        ['--dry-run'],
      ),
    ];
    const finished = await startNode(['-e', CLI_DRIVER, CLI_MAIN, JSON.stringify(commands)], env).exited;
    expect(finished.code).toBe(0);
    const printed = splitByCommand(commands, finished);
    const output = (...args: string[]) => {
      const found = printed.find((command) => command.args.join(' ') === inDir(...args).join(' '));
      if (!found) throw new Error(`no command ${args.join(' ')}`);
      return found;
    };

    // Each command ran and said what the test is about, so that nothing is vacuously clean.
    expect(printed.filter((command) => command.exit === 2)).toEqual([]);
    const check = output('check');
    expect(check.stdout + check.stderr).toEqual(
      expect.stringContaining('broken-tls.yaml:7: YAML syntax error'),
    );
    for (const problem of [
      'broken-generic.yaml',
      'broken-azure.yaml',
      'Secret default/cert has type tls, not aws',
      'no-such-function',
      'is not JSON',
      'is not a PEM private key',
      'x-amz-security-token:[redacted]',
    ]) {
      expect(check.stdout + check.stderr).toContain(problem);
    }
    expect(output('get', 'secrets', '-o', 'table').stdout).toMatch(
      /aws-creds\s+aws\s+accessKeyId, secretAccessKey, sessionToken/,
    );
    expect(output('translate', '-o', 'json').stdout).toContain('[redacted]');
    expect(output('discover', '-o', 'json').stdout).toContain('hello-world');
    const truncatedKey = printed.find((command) =>
      command.args.includes(path.join(inputs, 'truncated.json')),
    );
    expect(truncatedKey?.stderr).toContain('is not JSON');

    const found = scanner();
    const leaks = Object.fromEntries(
      printed
        .map((command) => [command.args.join(' '), found.leaks(command.stdout + command.stderr)] as const)
        .filter(([, secrets]) => secrets.length > 0),
    );
    expect(leaks).toEqual({});
  }, 60000);

  it('sluice serve at trace level logs no secret and writes none into statuses, even from a NACK', async () => {
    const server = await startServe(dir, env);
    const answers: string[] = [];
    let client: SotwClient | undefined;
    try {
      const admin = async (pathname: string) => {
        const text = await (await fetch(`${server.admin}${pathname}`)).text();
        answers.push(text);
        return text;
      };
      // Discovery has run for every cloud: the Lambda route, the Azure key and the minted token are in.
      await waitFor(
        'every cloud discovered',
        async () => {
          const snapshot = await admin(`/snapshot?proxy=${PROXY}`);
          return ['hello-world', 'x-functions-key', 'authorization'].every((text) => snapshot.includes(text))
            ? true
            : undefined;
        },
        { timeoutMs: 20000 },
      );
      for (const pathname of ['/snapshot', '/resources', '/proxies', '/readyz', '/metrics'])
        await admin(pathname);

      client = new SotwClient(server.xdsPort, { ownConnection: true });
      const node = nodeWithRole('leak-test', PROXY);
      client.send({ node, typeUrl: TYPE_URLS.cluster });
      const clusters = await client.next(10000);
      client.ack(clusters, []);
      const dump = JSON.parse(await admin(`/snapshot?proxy=${PROXY}`)) as Record<
        string,
        Record<string, Array<{ resource: { name: string } }>>
      >;
      const routeNames = dump[PROXY][TYPE_URLS.route].map((route) => route.resource.name);
      client.send({ node, typeUrl: TYPE_URLS.route, resourceNames: routeNames });
      const routes = await client.next(10000);
      // What Envoy answers when validation fails: the message's debug string, credentials and all.
      client.send({
        typeUrl: TYPE_URLS.route,
        versionInfo: '',
        responseNonce: routes.nonce,
        resourceNames: routeNames,
        errorDetail: {
          code: 3,
          message:
            `Proto constraint validation failed (RouteValidationError.RequestHeadersToAdd[0]: value length must be at most 16384 bytes): ` +
            `request_headers_to_add { header { key: "x-functions-key" value: "${TEST_SECRETS.azureFunctionKey}" } } ` +
            `request_headers_to_add { header { key: "x-functions-key" value: "${TEST_SECRETS.genericSecret}" } } ` +
            `credentials { access_key_id: "${TEST_AWS_ACCESS_KEY_ID}" secret_access_key: "${TEST_SECRETS.awsSecretAccessKey}" session_token: "${TEST_SECRETS.awsSessionToken}" }`,
        },
      });
      const statusFile = path.join(dir, '.sluice', 'status.json');
      await waitFor(
        'the NACK in the statuses',
        () =>
          fs.readFileSync(statusFile, 'utf8').includes('rejected RouteConfiguration') ? true : undefined,
        { timeoutMs: 20000 },
      );
      await admin('/resources');
    } finally {
      client?.close();
      server.child.kill('SIGTERM');
    }
    const printed = await server.exited;
    expect(printed.code).toBe(0);
    expect(printed.stderr).toContain('xDS config rejected (NACK)');
    expect(gcf.issuedIdTokens(GCF_AUDIENCE)).not.toEqual([]);

    const found = scanner();
    expect(found.leaks(printed.stdout)).toEqual([]);
    expect(found.leaks(printed.stderr)).toEqual([]);
    expect(answers.flatMap((answer) => found.leaks(answer))).toEqual([]);
    const statuses = fs.readFileSync(path.join(dir, '.sluice', 'status.json'), 'utf8');
    // The NACK and the refused AWS request are reported, with the credentials they quoted taken out.
    expect(statuses).toContain('secret_access_key: \\"[redacted]\\" session_token: \\"[redacted]\\"');
    expect(statuses).toContain('x-amz-security-token:[redacted]');
    expect(found.leaks(statuses)).toEqual([]);
    // Discovered function keys are kept for restarts, readable by the owner only; nothing else is there.
    const discoveredFile = path.join(dir, '.sluice', 'discovered.json');
    expect(fs.statSync(discoveredFile).mode & 0o777).toBe(0o600);
    expect(found.leaks(fs.readFileSync(discoveredFile, 'utf8'))).toEqual([
      expect.stringMatching(/^azureFunctionKey in /),
    ]);
  }, 60000);
});

import { generateKeyPairSync } from 'crypto';
import pino from 'pino';
import { loadSnapshot } from '../../../src/api/load';
import { discoverTarget, discoveryTargets } from '../../../src/discovery/fds/discover-upstream';
import type { DiscoveredFunctions } from '../../../src/discovery/fds/discovered';
import { GcfApiServer, type FunctionFixture } from '../../helpers/gcf-api-server';
import { gcpUpstreamYaml } from '../../helpers/gcf-config';
import { giveGaxiosNodeFetch } from '../../helpers/gcf-fetch';
import { contentsOf } from '../../helpers/translate-yaml';

const logger = pino({ level: 'silent' });
giveGaxiosNodeFetch();

const HELLO: FunctionFixture = { project: 'shop', region: 'us-central1', name: 'hello', generation: 2 };
const FIXTURES: FunctionFixture[] = [
  HELLO,
  { project: 'shop', region: 'europe-west1', name: 'checkout', generation: 2, state: 'DEPLOYING' },
  {
    project: 'shop',
    region: 'us-central1',
    name: 'on-upload',
    generation: 2,
    eventType: 'google.cloud.storage.object.v1.finalized',
  },
  { project: 'shop', region: 'us-central1', name: 'legacy', generation: 1, public: true },
  { project: 'shop', region: 'europe-west1', name: 'legacy-private', generation: 1 },
  {
    project: 'shop',
    region: 'europe-west1',
    name: 'legacy-events',
    generation: 1,
    eventType: 'google.pubsub.topic.publish',
  },
  { project: 'elsewhere', region: 'us-central1', name: 'not-ours', generation: 2 },
];

describe('Google Cloud Functions discovery against the Cloud Functions API', () => {
  let server: GcfApiServer;
  let key: string;

  beforeEach(async () => {
    server = new GcfApiServer({ pageSize: 2 });
    await server.start();
    key = server.createServiceAccount('discovery@shop.iam.gserviceaccount.com');
    for (const fixture of FIXTURES) server.addFunction(fixture);
  });

  afterEach(() => server.stop());

  const config = (gcp: string, serviceAccount = key, apiEndpoint = server.endpoint()) =>
    gcpUpstreamYaml(serviceAccount, `apiEndpoint: "${apiEndpoint}", ${gcp}`);

  async function discover(yaml: string, previous?: DiscoveredFunctions): Promise<DiscoveredFunctions> {
    const { snapshot } = loadSnapshot(contentsOf(yaml));
    const [target] = discoveryTargets(snapshot);
    expect(target?.id).toBe('default/gcf');
    expect(target.discoverer.name).toBe('gcp-functions');
    return discoverTarget(target, snapshot, previous, logger);
  }

  it('finds the functions of every region across pages: 2nd gen through v2, 1st gen through v1 with its IAM policy', async () => {
    const found = await discover(config('secretRef: {name: gcp-key}'));
    expect(found.error).toBeUndefined();
    expect(found.functions).toEqual([
      {
        name: 'checkout',
        region: 'europe-west1',
        state: 'DEPLOYING',
        environment: 'GEN_2',
        url: GcfApiServer.functionUrl(FIXTURES[1]),
      },
      {
        name: 'hello',
        region: 'us-central1',
        state: 'ACTIVE',
        environment: 'GEN_2',
        url: GcfApiServer.functionUrl(HELLO),
      },
      {
        name: 'legacy',
        region: 'us-central1',
        state: 'ACTIVE',
        environment: 'GEN_1',
        url: 'https://us-central1-shop.cloudfunctions.net/legacy',
        allowUnauthenticated: true,
      },
      {
        name: 'legacy-events',
        region: 'europe-west1',
        state: 'ACTIVE',
        environment: 'GEN_1',
        eventType: 'google.pubsub.topic.publish',
      },
      {
        name: 'legacy-private',
        region: 'europe-west1',
        state: 'ACTIVE',
        environment: 'GEN_1',
        url: 'https://europe-west1-shop.cloudfunctions.net/legacy-private',
      },
      {
        name: 'on-upload',
        region: 'us-central1',
        state: 'ACTIVE',
        environment: 'GEN_2',
        eventType: 'google.cloud.storage.object.v1.finalized',
      },
    ]);
    // 6 functions at 2 a page; 3 1st gen at 2 a page; the IAM policy of each 1st gen HTTP function.
    expect(server.count('list-v2')).toBe(3);
    expect(server.count('list-v1')).toBe(2);
    expect(
      server.requests
        .filter((request) => request.kind === 'iam')
        .map((request) => request.path)
        .sort(),
    ).toEqual([
      '/v1/projects/shop/locations/europe-west1/functions/legacy-private:getIamPolicy',
      '/v1/projects/shop/locations/us-central1/functions/legacy:getIamPolicy',
    ]);
    const api = server.requests.filter((request) => request.kind !== 'token');
    expect(api.every((request) => request.status === 200)).toBe(true);
    expect(new Set(api.map((request) => request.account))).toEqual(
      new Set(['discovery@shop.iam.gserviceaccount.com']),
    );
    expect(api[0].query.$alt).toBe('json;enum-encoding=int');
  });

  it('lists one region only, and skips the v1 API when the region has no 1st gen function', async () => {
    server.addFunction({ project: 'shop', region: 'asia-east1', name: 'hello', generation: 2 });
    const found = await discover(config('secretRef: {name: gcp-key}, region: asia-east1'));
    expect(found.functions).toEqual([
      {
        name: 'hello',
        region: 'asia-east1',
        state: 'ACTIVE',
        environment: 'GEN_2',
        url: GcfApiServer.functionUrl({
          project: 'shop',
          region: 'asia-east1',
          name: 'hello',
          generation: 2,
        }),
      },
    ]);
    expect(server.requests.map((request) => request.path)).toEqual([
      '/v2/projects/shop/locations/asia-east1/functions',
    ]);
  });

  it('keeps the last known functions and reports PERMISSION_DENIED with what was denied', async () => {
    const first = await discover(config('secretRef: {name: gcp-key}'));
    server.deny('shop');
    const denied = await discover(config('secretRef: {name: gcp-key}'), first);
    expect(denied.error).toBe(
      "PERMISSION_DENIED: Permission 'cloudfunctions.functions.list' denied on 'projects/shop/locations/-/functions'",
    );
    expect(denied.functions).toEqual(first.functions);
  });

  it('reports a key Google does not know as UNAUTHENTICATED', async () => {
    const stranger = JSON.parse(key);
    stranger.private_key = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const found = await discover(config('secretRef: {name: gcp-key}', JSON.stringify(stranger)));
    expect(found.error).toMatch(/^UNAUTHENTICATED: Request had invalid authentication credentials/);
    expect(server.requests.map((request) => request.status)).toEqual([401]);
  });

  it('says what to fix in a malformed key or secret, without repeating the key', async () => {
    const parsed = JSON.parse(key);
    const cases: Array<[string, string]> = [
      [
        '{"type": "service_account", "client_email": ',
        'is not JSON: give the service-account key file as downloaded',
      ],
      [
        JSON.stringify({ ...parsed, type: 'authorized_user' }),
        'has "type" "authorized_user", not "service_account"',
      ],
      [JSON.stringify({ ...parsed, private_key: undefined }), 'has no "private_key"'],
      [JSON.stringify({ ...parsed, client_email: '' }), 'has no "client_email"'],
      [
        JSON.stringify({ ...parsed, private_key: parsed.private_key.replace(/\n/g, '\\n') }),
        'has a "private_key" that is not a PEM private key (were its "\\n" line breaks lost?)',
      ],
    ];
    for (const [serviceAccount, problem] of cases) {
      const found = await discover(config('secretRef: {name: gcp-key}', serviceAccount));
      expect(found.error).toContain(
        `spec.gcp.secretRef: Secret default/gcp-key: data.serviceAccount ${problem}`,
      );
      expect(found.error).not.toContain('PRIVATE KEY');
    }
    const missing = await discover(config('secretRef: {name: nowhere}'));
    expect(missing.error).toBe('spec.gcp.secretRef: Secret default/nowhere not found');
    const badEndpoint = await discover(config('secretRef: {name: gcp-key}', key, 'ftp://x/'));
    expect(badEndpoint.error).toBe(
      'spec.gcp.apiEndpoint "ftp://x/": give host[:port] or an http(s) URL without a path',
    );
    expect(server.requests).toEqual([]);
  });
});

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Lease } from '../../src/store/kube/leader-election';
import { registerEnvoyProtoFiles } from '../../src/xds/envoy-protos';
import { TYPE_URLS } from '../../src/xds/type-urls';
import { KubeApiServer, type KubeObject } from '../helpers/kube-api-server';
import { servingLine, spawnKubeServe, type ServeProcess } from '../helpers/kube-serve';
import { LambdaApiServer } from '../helpers/lambda-api-server';
import { waitFor } from '../helpers/wait';
import { decodeAny, nodeWithRole, SotwClient, sotwResources, type AnyMessage } from '../xds/ads-client';

const ROUTES = 'listener-::-8080-routes';
const LEASE_NAMESPACE = 'sluice-system';
const LAMBDA_FILTER = 'envoy.filters.http.aws_lambda';
// To decode the Lambda filter's per-route config, which routes carry as an Any.
registerEnvoyProtoFiles(['envoy/extensions/filters/http/aws_lambda/v3/aws_lambda.proto']);

interface Route {
  match: { prefix?: string };
  typedPerFilterConfig?: Record<string, AnyMessage>;
}

interface RouteConfiguration {
  virtualHosts: Array<{ domains: string[]; routes: Route[] }>;
}

interface Replica extends ServeProcess {
  name: string;
  adminPort: number;
  ads: SotwClient;
}

/** `domain prefix -> Lambda ARN, or the upstream route` for every route served. */
function servedRoutes(config: RouteConfiguration): Record<string, string> {
  const served: Record<string, string> = {};
  for (const host of config.virtualHosts) {
    for (const route of host.routes) {
      const lambda = route.typedPerFilterConfig?.[LAMBDA_FILTER];
      const arn = lambda && (decodeAny(lambda) as { invokeConfig: { arn: string } }).invokeConfig.arn;
      served[`${host.domains.join()} ${route.match.prefix}`] = arn ?? 'upstream';
    }
  }
  return served;
}

const sorted = (routes: Record<string, string>) => Object.entries(routes).sort();

/** A sluice.dev object in `default`. */
function sluiceObject(kind: string, name: string, spec: unknown): KubeObject {
  return { apiVersion: 'sluice.dev/v1', kind, metadata: { name, namespace: 'default' }, spec };
}

/** A VirtualService for `NAME.example.com` with one route per `[prefix, destination]`. */
function virtualService(name: string, routes: Array<[prefix: string, destination: unknown]>): KubeObject {
  return sluiceObject('VirtualService', name, {
    virtualHost: {
      domains: [`${name}.example.com`],
      routes: routes.map(([prefix, single]) => ({ matchers: [{ prefix }], routeAction: { single } })),
    },
  });
}

const petstore = sluiceObject('Upstream', 'petstore', {
  static: { hosts: [{ address: '10.0.0.12', port: 8080 }] },
});
const toPetstore = { upstream: { name: 'petstore' } };
const toLambda = (fn: string) => ({ upstream: { name: 'aws-east' }, function: fn });

/**
 * Two `sluice serve --kube` processes against the loopback API server, each with a Kubernetes user of
 * its own (so that every request says which replica sent it), and a loopback Lambda API: both serve the
 * same routes over ADS, including the Lambda functions that only the leader discovers; only the leader
 * writes statuses; after the leader is killed (no release: SIGKILL), the other takes the Lease once it
 * expires, and what is created afterwards is discovered, served and gets its status.
 */
describe('sluice serve --kube: two replicas, one leader', () => {
  let server: KubeApiServer;
  let lambda: LambdaApiServer;
  let dir: string;
  const replicas: Replica[] = [];

  beforeEach(async () => {
    server = new KubeApiServer();
    await server.start();
    lambda = new LambdaApiServer({ region: 'us-east-2', accountId: '123456789012' });
    await lambda.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kube-ha-'));
  });

  afterEach(async () => {
    for (const replica of replicas.splice(0)) {
      replica.ads.close();
      replica.child.kill('SIGKILL');
      await replica.exited;
    }
    await lambda.stop();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startReplica(name: string, args: string[]): Promise<Replica> {
    const kubeconfig = server.writeKubeconfig(path.join(dir, `${name}.kubeconfig`), name);
    // POD_NAME and POD_NAMESPACE: what the install's downward API gives each pod.
    const serve = spawnKubeServe(kubeconfig, args, {
      POD_NAME: name,
      POD_NAMESPACE: LEASE_NAMESPACE,
    });
    const { xdsPort, adminPort } = await servingLine(serve).catch((error: Error) => {
      serve.child.kill('SIGKILL');
      throw error;
    });
    const ads = new SotwClient(xdsPort);
    ads.send({ node: nodeWithRole(`envoy-of-${name}`), typeUrl: TYPE_URLS.route, resourceNames: [ROUTES] });
    const replica = { name, ...serve, adminPort, ads };
    replicas.push(replica);
    return replica;
  }

  /** Reads (and ACKs) `replica`'s route pushes until one serves `expected`. */
  function serving(replica: Replica, expected: Record<string, string>): Promise<Record<string, string>> {
    return waitFor(
      `${replica.name} to serve ${JSON.stringify(expected)}`,
      async () => {
        const response = await replica.ads.next(15000);
        replica.ads.ack(response, [ROUTES]);
        const served = servedRoutes(sotwResources(response).get(ROUTES) as unknown as RouteConfiguration);
        return JSON.stringify(sorted(served)) === JSON.stringify(sorted(expected)) ? served : undefined;
      },
      { timeoutMs: 20000, intervalMs: 0 },
    );
  }

  async function leaderGauge(replica: Replica): Promise<number | undefined> {
    const metrics = await (await fetch(`http://127.0.0.1:${replica.adminPort}/metrics`)).text();
    const value = /^sluice_leader (\d+)$/m.exec(metrics)?.[1];
    return value === undefined ? undefined : Number(value);
  }

  const holder = () =>
    (server.object('leases', LEASE_NAMESPACE, 'sluice-leader') as Lease | undefined)?.spec?.holderIdentity;
  const statusOf = (name: string) =>
    server.object('virtualservices', 'default', name)?.status as
      { state: string; observedGeneration: number } | undefined;
  /** Who wrote statuses and discovered functions. */
  const writers = () => {
    const requests = server.requests.filter(
      (request) =>
        (request.verb === 'update' && request.subresource === 'status') ||
        (request.resource === 'secrets' && (request.verb === 'create' || request.verb === 'update')),
    );
    return [...new Set(requests.map((request) => request.user))];
  };

  // Longer than the waits inside it, so that a failure says what it waited for.
  const TIMEOUT_MS = 60_000;

  it(
    'serves the same routes from both, writes from the leader only, and fails over with nothing lost',
    async () => {
      lambda.addFunction('hello-world');
      lambda.publishVersion('hello-world');
      const { accessKeyId, secretAccessKey } = lambda.credentials();
      server.put({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'aws-creds', namespace: 'default', labels: { 'sluice.dev/secret-type': 'aws' } },
        type: 'Opaque',
        data: {
          accessKeyId: Buffer.from(accessKeyId).toString('base64'),
          secretAccessKey: Buffer.from(secretAccessKey).toString('base64'),
        },
      });
      server.put(sluiceObject('Settings', 'default', { discovery: { pollIntervals: { aws: '1s' } } }));
      server.put(
        sluiceObject('Upstream', 'aws-east', {
          aws: {
            region: 'us-east-2',
            endpoint: lambda.endpoint(),
            secretRef: { name: 'aws-creds', namespace: 'default' },
          },
        }),
      );
      server.put(petstore);
      server.put(
        virtualService('shop', [
          ['/lambda', toLambda('hello-world:1')],
          ['/', toPetstore],
        ]),
      );

      const [a, b] = await Promise.all(
        ['sluice-a', 'sluice-b'].map((name) => startReplica(name, ['--lease-duration', '2'])),
      );
      const before = {
        'shop.example.com /lambda': lambda.functionArn('hello-world', '1'),
        'shop.example.com /': 'upstream',
      };
      // The follower knows hello-world:1 only from what the leader discovered and shared.
      await Promise.all([serving(a, before), serving(b, before)]);

      const leaderName = await waitFor('a Lease holder', holder);
      const [leader, follower] = leaderName === a.name ? [a, b] : [b, a];
      expect([await leaderGauge(leader), await leaderGauge(follower)]).toEqual([1, 0]);
      await waitFor('the status of shop', () => (statusOf('shop')?.state === 'Accepted' ? true : undefined));
      expect(writers()).toEqual([leader.name]);
      const lease = server.object('leases', LEASE_NAMESPACE, 'sluice-leader') as Lease;

      leader.child.kill('SIGKILL');
      await leader.exited;
      await waitFor('the follower to take the Lease', () => (holder() === follower.name ? true : undefined));
      await waitFor('the follower to say it leads', async () =>
        (await leaderGauge(follower)) === 1 ? true : undefined,
      );
      expect(
        (server.object('leases', LEASE_NAMESPACE, 'sluice-leader') as Lease).spec!.leaseTransitions,
      ).toBe(lease.spec!.leaseTransitions! + 1);

      lambda.publishVersion('hello-world');
      server.put(virtualService('blog', [['/lambda', toLambda('hello-world:2')]]));
      await serving(follower, {
        'blog.example.com /lambda': lambda.functionArn('hello-world', '2'),
        ...before,
      });
      await waitFor('the status of blog', () => (statusOf('blog')?.state === 'Accepted' ? true : undefined));
      expect(statusOf('blog')).toMatchObject({ observedGeneration: 1 });
      expect(statusOf('shop')).toMatchObject({ state: 'Accepted' });
      expect(writers()).toEqual([leader.name, follower.name]);
    },
    TIMEOUT_MS,
  );

  it('runs a replica alone with --no-leader-election: it leads from the start, without Lease or Secret', async () => {
    server.put(petstore);
    server.put(virtualService('shop', [['/', toPetstore]]));
    const alone = await startReplica('sluice-alone', ['--no-leader-election']);
    await serving(alone, { 'shop.example.com /': 'upstream' });
    await waitFor('the status of shop', () => (statusOf('shop')?.state === 'Accepted' ? true : undefined));
    expect(await leaderGauge(alone)).toBe(1);
    expect(server.requestsMatching({ namespace: LEASE_NAMESPACE })).toEqual([]);
  });
});

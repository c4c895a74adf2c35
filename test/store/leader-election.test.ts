import pino from 'pino';
import type { KubeClient, KubeObject } from '../../src/store/kube/kube-client';
import {
  LeaderElector,
  type Lease,
  type LeaseClient,
  type LeaseSpec,
  type LeaderElectorOptions,
} from '../../src/store/kube/leader-election';
import type { ResourceType } from '../../src/store/kube/resource-types';
import { loopbackCluster } from '../helpers/kube-cluster';
import { waitFor } from '../helpers/wait';

const NAMESPACE = 'sluice-system';
const LEASE = 'sluice-leader';
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** A replica's connection to the API server: `cut` makes every call fail, as a network partition would. */
class Link implements LeaseClient {
  cut = false;
  calls = 0;

  constructor(private readonly client: KubeClient) {}

  find<T extends KubeObject>(type: ResourceType, namespace: string, name: string): Promise<T | undefined> {
    return this.through(() => this.client.find<T>(type, namespace, name));
  }

  create<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.through(() => this.client.create(type, object));
  }

  replace<T extends KubeObject>(type: ResourceType, object: T): Promise<T> {
    return this.through(() => this.client.replace(type, object));
  }

  private async through<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.cut) throw new Error('connect ECONNREFUSED');
    return call();
  }
}

interface Replica {
  identity: string;
  elector: LeaderElector;
  link: Link;
}

describe('LeaderElector', () => {
  const replicas: Replica[] = [];
  /** When each replica started and stopped leading, in order. */
  let timeline: string[];

  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((replica) => replica.elector.stop()));
  });
  const cluster = loopbackCluster();
  beforeEach(() => {
    timeline = [];
  });

  function replica(identity: string, options: Partial<LeaderElectorOptions> = {}): Replica {
    const link = new Link(cluster.client);
    const elector = new LeaderElector({
      client: link,
      namespace: NAMESPACE,
      identity,
      leaseDurationSeconds: 2,
      logger: pino({ level: 'silent' }),
      ...options,
    });
    elector.onLeading(() => {
      timeline.push(`${identity} leads`);
      return () => void timeline.push(`${identity} stops`);
    });
    const created = { identity, elector, link };
    replicas.push(created);
    elector.start();
    return created;
  }

  const lease = () => cluster.server.object('leases', NAMESPACE, LEASE) as Lease | undefined;
  const leading = (candidate: Replica) => (candidate.elector.isLeader() ? candidate : undefined);
  const following = (candidate: Replica) => (candidate.elector.isLeader() ? undefined : candidate);
  /** Resolves once `candidate` has asked the API server `times` more times. */
  const attempts = (candidate: Replica, times: number) => {
    const target = candidate.link.calls + times;
    return waitFor(`${candidate.identity} to try ${times} times`, () =>
      candidate.link.calls >= target ? true : undefined,
    );
  };

  /** A lease another replica just took, as `kubectl apply` of it would leave it. */
  function heldBy(holderIdentity: string, leaseTransitions: number, leaseDurationSeconds = 2): KubeObject {
    const now = new Date().toISOString().replace('Z', '000Z');
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: NAMESPACE },
      spec: {
        holderIdentity,
        leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions,
      },
    };
  }

  it('lets exactly one of two replicas lead, the one the Lease names, renewing it', async () => {
    const a = replica('a');
    const b = replica('b');
    const leader = await waitFor('a leader', () => leading(a) ?? leading(b));
    const follower = leader === a ? b : a;
    const first = lease()!.spec!;
    expect(first).toMatchObject({
      holderIdentity: leader.identity,
      leaseDurationSeconds: 2,
      leaseTransitions: 0,
    });
    expect(first.acquireTime).toMatch(MICRO_TIME);

    await waitFor('a renewal', () => (lease()!.spec!.renewTime !== first.renewTime ? true : undefined));
    await attempts(follower, 3);
    expect([a, b].filter((candidate) => candidate.elector.isLeader())).toEqual([leader]);
    expect(lease()!.spec).toMatchObject({
      holderIdentity: leader.identity,
      acquireTime: first.acquireTime,
      leaseTransitions: 0,
    });
    expect(timeline).toEqual([`${leader.identity} leads`]);
  });

  it('hands over at once when the leader stops: it releases the Lease', async () => {
    // A lease far longer than the wait: only a release lets b lead in time.
    const a = replica('a', { leaseDurationSeconds: 60, retryPeriodMs: 100 });
    await waitFor('a to lead', () => leading(a));
    const b = replica('b', { leaseDurationSeconds: 60, retryPeriodMs: 100 });
    await attempts(b, 2);

    await a.elector.stop();
    await waitFor('b to lead', () => leading(b));
    expect(lease()!.spec).toMatchObject({
      holderIdentity: 'b',
      leaseDurationSeconds: 60,
      leaseTransitions: 1,
    });
    expect(timeline).toEqual(['a leads', 'a stops', 'b leads']);
  });

  it('lets another replica take over once the lease expires when the leader is cut off, never both at once', async () => {
    const a = replica('a');
    await waitFor('a to lead', () => leading(a));
    const b = replica('b');
    await attempts(b, 2);

    a.link.cut = true;
    await waitFor('b to lead', () => leading(b));
    expect(a.elector.isLeader()).toBe(false);
    expect(timeline).toEqual(['a leads', 'a stops', 'b leads']);
    expect(lease()!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('steps down when renewals fail, and leads again once they succeed, still holding the same lease', async () => {
    const a = replica('a');
    await waitFor('a to lead', () => leading(a));
    const acquired = lease()!.spec!.acquireTime;

    a.link.cut = true;
    await waitFor('a to step down', () => following(a));
    expect(lease()!.spec!.holderIdentity).toBe('a');

    a.link.cut = false;
    await waitFor('a to lead again', () => leading(a));
    expect(lease()!.spec).toMatchObject({ holderIdentity: 'a', acquireTime: acquired, leaseTransitions: 0 });
    expect(timeline).toEqual(['a leads', 'a stops', 'a leads']);
  });

  it('does not lead after losing the race to create the Lease, and takes it only once it expires', async () => {
    const server = cluster.server;
    let theirs: LeaseSpec | undefined;
    server.beforeNext({ verb: 'create', resource: 'leases' }, () => {
      theirs = (server.put(heldBy('other', 0)) as Lease).spec;
    });
    const a = replica('a');
    await waitFor('the create to be refused', () =>
      server.requestsMatching({ verb: 'create', resource: 'leases' })[0]?.code === 409 ? true : undefined,
    );
    expect(a.elector.isLeader()).toBe(false);

    await waitFor('a to lead', () => leading(a));
    const ours = lease()!.spec!;
    expect(ours).toMatchObject({ holderIdentity: 'a', leaseTransitions: 1 });
    // Taken once the other holder's two seconds were up (less a little: two clocks), not at the next retry.
    expect(Date.parse(ours.acquireTime!) - Date.parse(theirs!.renewTime!)).toBeGreaterThanOrEqual(1900);
  });

  it('stops leading at once when a renewal loses a race to another holder, without writing over its lease', async () => {
    const server = cluster.server;
    const a = replica('a', { leaseDurationSeconds: 3, retryPeriodMs: 100 });
    await waitFor('a to lead', () => leading(a));
    let callsAtConflict = 0;
    let callsAtStepDown = 0;
    a.elector.onLeading(() => () => void (callsAtStepDown = a.link.calls));
    server.beforeNext({ verb: 'update', resource: 'leases' }, () => {
      callsAtConflict = a.link.calls;
      server.put(heldBy('other', 3, 60));
    });

    await waitFor('a to step down', () => following(a));
    expect(server.requestsMatching({ verb: 'update', resource: 'leases' }).map((r) => r.code)).toContain(409);
    // At the read that follows the conflict, not when the renewal deadline runs out.
    expect(callsAtStepDown - callsAtConflict).toBe(1);
    await attempts(a, 3);
    expect(lease()!.spec).toMatchObject({ holderIdentity: 'other', leaseTransitions: 3 });
    expect(timeline).toEqual(['a leads', 'a stops']);
  });

  it('starts work registered while leading at once, and stops it when it is unregistered', async () => {
    const a = replica('a');
    await waitFor('a to lead', () => leading(a));
    const events: string[] = [];
    const unregister = a.elector.onLeading(() => {
      events.push('started');
      return async () => {
        await Promise.resolve();
        events.push('stopped');
      };
    });
    expect(events).toEqual(['started']);
    await unregister();
    expect(events).toEqual(['started', 'stopped']);
    await a.elector.stop();
    expect(events).toEqual(['started', 'stopped']);
    expect(timeline).toEqual(['a leads', 'a stops']);
  });

  it('stops the leading work before it releases the Lease, and a follower that stops leaves the Lease alone', async () => {
    const a = replica('a');
    await waitFor('a to lead', () => leading(a));
    const b = replica('b');
    await attempts(b, 1);
    let holderWhenStopped: string | undefined;
    a.elector.onLeading(() => () => {
      holderWhenStopped = lease()!.spec!.holderIdentity;
    });

    await b.elector.stop();
    expect(lease()!.spec!.holderIdentity).toBe('a');
    await a.elector.stop();
    expect(holderWhenStopped).toBe('a');
    expect(lease()!.spec).toMatchObject({ holderIdentity: '', leaseTransitions: 0 });
  });

  it('refuses a lease duration that is not a whole number of seconds', () => {
    const options = {
      client: cluster.client,
      namespace: NAMESPACE,
      identity: 'a',
      logger: pino({ level: 'silent' }),
    };
    expect(() => new LeaderElector({ ...options, leaseDurationSeconds: 0.5 })).toThrow(
      'whole number of seconds',
    );
  });
});

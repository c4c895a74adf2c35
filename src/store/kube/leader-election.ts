import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { KubeConfig } from '@kubernetes/client-node';
import { LeadingWork, type Leadership, type StopLeading } from '../../control-plane/leadership';
import type { Logger } from '../../logger';
import { isApiError, type KubeClient, type KubeObject } from './kube-client';
import { apiVersionOf, LEASES } from './resource-types';

export const DEFAULT_LEASE_NAME = 'sluice-leader';
export const DEFAULT_LEASE_DURATION_SECONDS = 15;

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** coordination.k8s.io/v1 LeaseSpec (times are MicroTime strings). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** The calls the elector makes (a KubeClient). */
export type LeaseClient = Pick<KubeClient, 'find' | 'create' | 'replace'>;

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  /** Default `sluice-leader`. */
  name?: string;
  /** Unique among the replicas (the pod's name). */
  identity: string;
  /** How long the lease holds without renewal; the leader renews every third of it. Default 15. */
  leaseDurationSeconds?: number;
  /**
   * How often a follower tries to take the lease, and a leader retries a failed renewal. Default: a
   * tenth of the lease.
   */
  retryPeriodMs?: number;
  logger: Logger;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
 * - a replica takes the lease when nobody holds it (none yet, or released), when it holds it already,
 *   or when it has not changed for `leaseDurationSeconds` (the holder's) by this replica's own clock
 *   since it last saw it change; so clocks that disagree between replicas do not matter;
 * - every write is conditional on the resourceVersion read (a 409 means another replica won; the
 *   next attempt reads again); taking the lease from another holder increments `leaseTransitions`;
 * - the leader renews every third of the lease and stops leading once it has not renewed for two
 *   thirds of it (before anyone else may take it), or at once when it sees another holder;
 * - `stop()` stops the leader's work, then releases the lease (empty holder), so a follower takes
 *   it on its next attempt instead of waiting for it to expire.
 * Leading work registers through `onLeading`; a replica that stops leading keeps campaigning.
 */
export class LeaderElector implements Leadership {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  private readonly client: LeaseClient;
  private readonly logger: Logger;
  private readonly leaseDurationSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly work: LeadingWork;
  /** The resourceVersion last seen, and when (monotonic ms) it was first seen. */
  private observed: { resourceVersion?: string; at: number } | undefined;
  /** The lease as this replica last wrote it. */
  private written: Lease | undefined;
  private running = false;
  private attempt: Promise<void> | undefined;
  private nextAttempt: NodeJS.Timeout | undefined;
  private renewDeadline: NodeJS.Timeout | undefined;

  constructor(options: LeaderElectorOptions) {
    const seconds = options.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
    if (!Number.isInteger(seconds) || seconds < 1) {
      throw new Error(`the lease duration must be a whole number of seconds, at least 1 (got ${seconds})`);
    }
    this.client = options.client;
    this.namespace = options.namespace;
    this.name = options.name ?? DEFAULT_LEASE_NAME;
    this.identity = options.identity;
    this.logger = options.logger;
    this.leaseDurationSeconds = seconds;
    this.renewIntervalMs = (seconds * 1000) / 3;
    this.renewDeadlineMs = (seconds * 2000) / 3;
    this.retryPeriodMs = options.retryPeriodMs ?? seconds * 100;
    this.work = new LeadingWork(options.logger);
  }

  onLeading(start: () => StopLeading): () => Promise<void> {
    return this.work.onLeading(start);
  }

  isLeader(): boolean {
    return this.work.isLeading;
  }

  /** Starts campaigning. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning; a leader stops its work, then releases the lease. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.nextAttempt);
    clearTimeout(this.renewDeadline);
    await this.attempt;
    await this.work.follow();
    await this.release();
  }

  private schedule(delayMs: number): void {
    this.nextAttempt = setTimeout(() => {
      this.attempt = this.campaign();
    }, delayMs);
    this.nextAttempt.unref();
  }

  private async campaign(): Promise<void> {
    const startedAt = performance.now();
    const holding = await this.tryAcquireOrRenew();
    if (!this.running) return;
    if (holding) {
      // Measured from before the write: others see the renewal no earlier than it was sent.
      this.armRenewDeadline(startedAt);
      if (!this.work.isLeading) {
        this.logger.info({ lease: this.leaseName, identity: this.identity }, 'started leading');
        this.work.lead();
      }
    }
    this.schedule(holding ? this.renewIntervalMs : this.retryPeriodMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    let current: Lease | undefined;
    try {
      current = await this.client.find<Lease>(LEASES, this.namespace, this.name);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, lease: this.leaseName }, 'could not read the lease');
      return false;
    }
    if (!current) return this.write(() => this.client.create<Lease>(LEASES, this.newLease()));
    this.observe(current);
    const holder = current.spec?.holderIdentity;
    if (holder && holder !== this.identity && !this.expired(current.spec)) {
      if (this.work.isLeading) void this.stepDown(`${holder} holds the lease`);
      return false;
    }
    const lease = current;
    return this.write(() => this.client.replace<Lease>(LEASES, { ...lease, spec: this.renewed(lease.spec) }));
  }

  private async write(send: () => Promise<Lease>): Promise<boolean> {
    try {
      this.written = await send();
      this.observe(this.written);
      return true;
    } catch (error) {
      // 409: another replica wrote first (a conflict, or AlreadyExists on create); read again next time.
      if (!isApiError(error, 409)) {
        this.logger.warn(
          { err: (error as Error).message, lease: this.leaseName },
          'could not write the lease',
        );
      }
      return false;
    }
  }

  private observe(lease: Lease): void {
    const resourceVersion = lease.metadata.resourceVersion;
    if (this.observed?.resourceVersion !== resourceVersion) {
      this.observed = { resourceVersion, at: performance.now() };
    }
  }

  private expired(spec: LeaseSpec | undefined): boolean {
    const durationMs = (spec?.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    return this.observed !== undefined && this.observed.at + durationMs <= performance.now();
  }

  private newLease(): Lease {
    return {
      apiVersion: apiVersionOf(LEASES),
      kind: LEASES.kind,
      metadata: { name: this.name, namespace: this.namespace },
      spec: this.renewed(undefined),
    };
  }

  /** The spec after this replica acquires or renews the lease. */
  private renewed(previous: LeaseSpec | undefined): LeaseSpec {
    const now = microTime();
    const renewal = previous?.holderIdentity === this.identity;
    const transitions = previous?.leaseTransitions ?? 0;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      acquireTime: renewal ? (previous.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: previous && !renewal ? transitions + 1 : transitions,
    };
  }

  private armRenewDeadline(renewedAt: number): void {
    clearTimeout(this.renewDeadline);
    const remainingMs = renewedAt + this.renewDeadlineMs - performance.now();
    this.renewDeadline = setTimeout(
      () => void this.stepDown(`the lease was not renewed for ${Math.round(this.renewDeadlineMs)} ms`),
      remainingMs,
    );
    this.renewDeadline.unref();
  }

  private async stepDown(reason: string): Promise<void> {
    if (!this.work.isLeading) return;
    clearTimeout(this.renewDeadline);
    this.logger.warn({ lease: this.leaseName, identity: this.identity, reason }, 'stopped leading');
    await this.work.follow();
  }

  /** Hands the lease over at once: an empty holder is free to take. Nothing to do if it changed since. */
  private async release(): Promise<void> {
    const written = this.written;
    this.written = undefined;
    if (written?.spec?.holderIdentity !== this.identity) return;
    const spec: LeaseSpec = {
      ...written.spec,
      holderIdentity: '',
      leaseDurationSeconds: 1,
      renewTime: microTime(),
    };
    try {
      await this.client.replace<Lease>(LEASES, { ...written, spec });
      this.logger.info({ lease: this.leaseName, identity: this.identity }, 'released the lease');
    } catch (error) {
      if (!isApiError(error, 409)) {
        this.logger.warn(
          { err: (error as Error).message, lease: this.leaseName },
          'could not release the lease',
        );
      }
    }
  }

  private get leaseName(): string {
    return `${this.namespace}/${this.name}`;
  }
}

/** A MicroTime: RFC 3339 with exactly six fractional digits, as the API server parses it. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/Z$/, '000Z');
}

/**
 * Where the lease lives when not given: `POD_NAMESPACE`, else the pod's service-account namespace,
 * else the kubeconfig context's namespace, else `default`.
 */
export function defaultLeaseNamespace(config: KubeConfig): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  }
}

/**
 * This replica's identity: `POD_NAME` (unique among a Deployment's pods), else the host name with a
 * random suffix, since replicas started by hand may share a host.
 */
export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}_${randomBytes(4).toString('hex')}`;
}

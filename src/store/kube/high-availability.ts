import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../logger';
import { KubeClient } from './kube-client';
import { KubeDiscoveryState } from './kube-discovery-state';
import {
  DEFAULT_LEASE_DURATION_SECONDS,
  defaultIdentity,
  defaultLeaseNamespace,
  LeaderElector,
} from './leader-election';

export interface HighAvailabilityOptions {
  config: KubeConfig;
  /** Where the Lease and the discovered functions live (default: `defaultLeaseNamespace`). */
  namespace?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  logger: Logger;
}

/**
 * What lets several `serve --kube` replicas run side by side: the leader Lease, and the Secret through
 * which the leader shares the functions it discovers, both in the lease namespace.
 */
export class HighAvailability {
  readonly elector: LeaderElector;
  readonly discoveryState: KubeDiscoveryState;
  private readonly leaseClient: KubeClient;

  constructor(options: HighAvailabilityOptions) {
    const namespace = options.namespace ?? defaultLeaseNamespace(options.config);
    const leaseDurationSeconds = options.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_SECONDS;
    // A lease call that hangs must not hold up the next renewal.
    this.leaseClient = new KubeClient(options.config, {
      requestTimeoutMs: (leaseDurationSeconds * 1000) / 3,
    });
    this.elector = new LeaderElector({
      client: this.leaseClient,
      namespace,
      name: options.leaseName,
      identity: defaultIdentity(),
      leaseDurationSeconds,
      logger: options.logger,
    });
    this.discoveryState = new KubeDiscoveryState({
      client: new KubeClient(options.config),
      namespace,
      logger: options.logger,
    });
  }

  /** Stops leading (releasing the Lease) and following the discovered functions. */
  async stop(): Promise<void> {
    await this.elector.stop();
    this.discoveryState.close();
    this.leaseClient.close();
  }
}

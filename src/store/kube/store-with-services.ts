import { logger as defaultLogger } from '../../logger';
import { KubeStore, type KubeStoreOptions } from './kube-store';
import { ServiceDiscovery } from './service-discovery';
import { KubeServiceEndpoints } from './service-endpoints';

export interface StoreWithServices {
  /** The store, whose `endpoints` are the Services' (started, synced and closed with it). */
  store: KubeStore;
  /** Upstreams for the Services, written through `store`: to run while leading, stopped before closing the store. */
  serviceDiscovery: ServiceDiscovery;
}

/** What `serve --kube` runs: the Kubernetes store with Service endpoints, and Service discovery. */
export function storeWithServices(options: Omit<KubeStoreOptions, 'endpoints'>): StoreWithServices {
  const logger = options.logger ?? defaultLogger;
  const endpoints = new KubeServiceEndpoints({ ...options, logger });
  const store = new KubeStore({ ...options, logger, endpoints });
  const serviceDiscovery = new ServiceDiscovery({ ...options, logger, store, services: endpoints.services });
  return { store, serviceDiscovery };
}

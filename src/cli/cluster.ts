import type { Status } from '../api/resource';
import { translateOnce } from '../control-plane/translate-once';
import type { DiscoveredMap } from '../discovery/fds/discovered';
import { logger } from '../logger';
import { KubeClient } from '../store/kube/kube-client';
import { KubeDiscoveryState } from '../store/kube/kube-discovery-state';
import { storeWithServices } from '../store/kube/store-with-services';
import type { StoreContents } from '../store/store';
import { UserError } from './errors';
import { connectKube, type KubeConnection, type KubeOptions } from './kube-options';
import { assertClusterReadable } from './kube-preflight';
import { reportRows, type OfflineResult } from './offline';

/** A list that keeps failing is retried by the store; a command gives up after this long. */
const LOAD_TIMEOUT_MS = 30_000;

export interface ClusterTranslation extends OfflineResult {
  /** The statuses stored on the CRD objects: what the control plane last wrote, by `keyString`. */
  storedStatuses: Map<string, Status>;
  /** What could not be read but did not stop the translation, for stderr. */
  notes: string[];
}

/**
 * One translation of what a cluster holds, as `serve --kube` would do it (Sluice CRDs and Secrets,
 * Service endpoints, the discovered functions the leader shares from `sluiceNamespace`), from one list
 * of each kind: the store is closed as soon as it has listed.
 */
async function translateCluster(
  connection: KubeConnection,
  sluiceNamespace: string,
): Promise<ClusterTranslation> {
  await assertClusterReadable(connection);
  const { config, namespaces } = connection;
  const { store } = storeWithServices({ client: new KubeClient(config), namespaces, logger });
  try {
    const contents = await loadStore(store.load(), connection.client.serverUrl);
    const notes: string[] = [];
    const discovered = await readDiscoveredFunctions(connection, sluiceNamespace).catch((error: Error) => {
      notes.push(`${error.message}; routes to discovered functions may show as Rejected`);
      return new Map() as DiscoveredMap;
    });
    const one = translateOnce(contents, discovered, store.endpoints?.current());
    return { ...one, reports: reportRows(one), storedStatuses: await store.readStatuses(), notes };
  } finally {
    await store.close();
  }
}

export interface ClusterReadOptions extends KubeOptions {
  sluiceNamespace: string;
}

/**
 * Connects with the command's kube flags, translates the cluster, says on stderr what could not be
 * read, and runs `use` while the connection is open (then closes it).
 */
export async function withClusterTranslation<T>(
  options: ClusterReadOptions,
  use: (cluster: ClusterTranslation, connection: KubeConnection) => Promise<T>,
): Promise<T> {
  const connection = await connectKube(options);
  try {
    const cluster = await translateCluster(connection, options.sluiceNamespace);
    for (const note of cluster.notes) process.stderr.write(`sluice: ${note}\n`);
    return await use(cluster, connection);
  } finally {
    connection.client.close();
  }
}

/** The store's first lists; one refused for good (the store names the resource) is the user's to fix. */
async function loadStore(load: Promise<StoreContents>, server: string): Promise<StoreContents> {
  try {
    return await within(load, server);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(
      `${(error as Error).message}; may this account list the Sluice CRDs, Secrets, Services and EndpointSlices (docs/kubernetes.md, RBAC)?`,
    );
  }
}

/** `work`, or a UserError once it has taken LOAD_TIMEOUT_MS (the store retries failed lists for ever). */
async function within<T>(work: Promise<T>, server: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UserError(
            `the API server at ${server} did not answer every list within ${LOAD_TIMEOUT_MS / 1000} s (SLUICE_LOG_LEVEL=warn shows the failures)`,
          ),
        ),
      LOAD_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readDiscoveredFunctions(
  connection: KubeConnection,
  sluiceNamespace: string,
): Promise<DiscoveredMap> {
  const state = new KubeDiscoveryState({
    client: new KubeClient(connection.config),
    namespace: sluiceNamespace,
    logger,
  });
  try {
    return await within(state.load(), connection.client.serverUrl);
  } finally {
    state.close();
  }
}

import type { Command } from 'commander';
import { loadSnapshot } from '../../api/load';
import { DEFAULT_ADMIN_ADDRESS, DEFAULT_XDS_ADDRESS, startSluice } from '../../control-plane/sluice-server';
import { activeSettings } from '../../api/settings';
import { FileDiscoveryState, type DiscoveryStateStore } from '../../discovery/fds/discovery-state';
import { logger } from '../../logger';
import { KubeClient, loadKubeConfig } from '../../store/kube/kube-client';
import { KubeStore } from '../../store/kube/kube-store';
import type { ResourceStore, StoreContents } from '../../store/store';
import { UserError } from '../errors';
import { openStore } from '../offline';

interface ServeOptions {
  configDir: string;
  xdsAddress?: string;
  adminAddress?: string;
  kube?: boolean;
  kubeconfig?: string;
  namespaces?: string;
}

interface OpenedStore {
  store: ResourceStore;
  /** What is served, for the serving line. */
  source: string;
  /** Where discovered functions are kept between restarts; memory when absent. */
  discoveryState?: DiscoveryStateStore;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'run the control plane: watch the store, translate, serve xDS over ADS and the admin endpoint',
    )
    .option(
      '--config-dir <dir>',
      'directory of YAML resources (the file store)',
      process.env.SLUICE_CONFIG_DIR ?? '.',
    )
    .option(
      '--xds-address <host:port>',
      `ADS server address (default: Settings' xdsAddress, else ${DEFAULT_XDS_ADDRESS})`,
    )
    .option(
      '--admin-address <host:port>',
      `admin HTTP address, /healthz /readyz /metrics /snapshot /resources (default: Settings' adminAddress, else ${DEFAULT_ADMIN_ADDRESS})`,
    )
    .option(
      '--kube',
      'use the Kubernetes store (sluice.dev CRDs and labelled Secrets) instead of the file store',
    )
    .option(
      '--kubeconfig <file>',
      'with --kube: the kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, else the in-cluster service account)',
    )
    .option('--namespaces <a,b>', 'with --kube: the namespaces to watch (default: all)')
    .action(async (options: ServeOptions) => {
      const { store, source, discoveryState } = options.kube
        ? await openKubeStore(options)
        : openFileStore(options);
      const contents = await loadFirst(store, options);
      const settings = activeSettings(loadSnapshot(contents).snapshot);
      const running = await startSluice({
        store,
        logger,
        xdsAddress: options.xdsAddress ?? settings.xdsAddress ?? DEFAULT_XDS_ADDRESS,
        adminAddress: options.adminAddress ?? settings.adminAddress ?? DEFAULT_ADMIN_ADDRESS,
        discoveryState,
      });
      process.stderr.write(
        `sluice: serving ${source}: xDS on port ${running.xdsPort}, admin on port ${running.adminPort}\n`,
      );
      await new Promise<void>((resolve) => {
        const shutdown = () => resolve();
        process.once('SIGINT', shutdown);
        process.once('SIGTERM', shutdown);
      });
      await running.stop();
    });
}

function openFileStore(options: ServeOptions): OpenedStore {
  return {
    store: openStore(options.configDir),
    source: options.configDir,
    discoveryState: new FileDiscoveryState(options.configDir),
  };
}

async function openKubeStore(options: ServeOptions): Promise<OpenedStore> {
  const namespaces = options.namespaces?.split(',').map((namespace) => namespace.trim());
  if (namespaces?.some((namespace) => namespace === '')) {
    throw new UserError(`--namespaces ${options.namespaces}: give namespace names separated by commas`);
  }
  let client: KubeClient;
  try {
    client = new KubeClient(await loadKubeConfig(options.kubeconfig));
  } catch (error) {
    throw new UserError(
      `--kube: cannot load the kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`,
    );
  }
  const scope = namespaces ? `namespaces ${namespaces.join(', ')}` : 'all namespaces';
  return {
    store: new KubeStore({ client, namespaces, logger }),
    source: `Kubernetes at ${client.serverUrl} (${scope})`,
  };
}

/** The first load; a Kubernetes store that cannot list says what to install. */
async function loadFirst(store: ResourceStore, options: ServeOptions): Promise<StoreContents> {
  try {
    return await store.load();
  } catch (error) {
    await store.close();
    if (!options.kube) throw error;
    throw new UserError(
      `${(error as Error).message}; are the CRDs installed (kubectl apply -k crds/) and may this account list and watch them and Secrets (see docs/kubernetes.md)?`,
    );
  }
}

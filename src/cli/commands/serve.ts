import { InvalidArgumentError, type Command } from 'commander';
import { loadSnapshot } from '../../api/load';
import { soleReplica } from '../../control-plane/leadership';
import { DEFAULT_ADMIN_ADDRESS, DEFAULT_XDS_ADDRESS, startSluice } from '../../control-plane/sluice-server';
import { activeSettings } from '../../api/settings';
import type { SettingsSpec } from '../../api/types';
import { FileDiscoveryState, type DiscoveryStateStore } from '../../discovery/fds/discovery-state';
import { logger } from '../../logger';
import type { ServiceDiscovery } from '../../store/kube/service-discovery';
import { storeWithServices } from '../../store/kube/store-with-services';
import { HighAvailability } from '../../store/kube/high-availability';
import { DEFAULT_LEASE_DURATION_SECONDS, DEFAULT_LEASE_NAME } from '../../store/kube/leader-election';
import type { ResourceStore, StoreContents } from '../../store/store';
import { loadXdsTls, type XdsTls } from '../../xds/xds-tls';
import { UserError } from '../errors';
import { addKubeOptions, connectKube, type KubeOptions } from '../kube-options';
import { openStore } from '../offline';

interface ServeOptions extends KubeOptions {
  configDir: string;
  xdsAddress?: string;
  adminAddress?: string;
  xdsTlsCert?: string;
  xdsTlsKey?: string;
  xdsClientCa?: string;
  xdsBindRole?: boolean;
  adminShowSecrets?: boolean;
  leaderElection: boolean;
  leaseNamespace?: string;
  leaseName: string;
  leaseDuration: number;
}

interface OpenedStore {
  store: ResourceStore;
  /** What is served, for the serving line. */
  source: string;
  /** Where discovered functions are kept between restarts; memory when absent. */
  discoveryState?: DiscoveryStateStore;
  /** With --kube and leader election: the Lease and the discovered functions the leader shares. */
  highAvailability?: HighAvailability;
  /** With --kube: Upstreams for Services, run by the leader. */
  serviceDiscovery?: ServiceDiscovery;
}

export function registerServe(program: Command): void {
  const serve = program
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
    );
  addKubeOptions(
    serve,
    'use the Kubernetes store (sluice.dev CRDs and Sluice Secrets) instead of the file store',
  )
    .option(
      '--no-leader-election',
      'with --kube: run as the only replica, without the leader Lease (see docs/kubernetes.md)',
    )
    .option(
      '--lease-namespace <namespace>',
      "with --kube: the leader Lease's namespace (default: $POD_NAMESPACE, else the service account's, else the kubeconfig context's, else default)",
    )
    .option('--lease-name <name>', 'with --kube: the leader Lease', DEFAULT_LEASE_NAME)
    .option(
      '--lease-duration <seconds>',
      'with --kube: how long the leader Lease holds without renewal, about how long a dead leader goes unreplaced',
      parseLeaseDuration,
      DEFAULT_LEASE_DURATION_SECONDS,
    )
    .option(
      '--xds-tls-cert <file>',
      "serve xDS over TLS with this PEM certificate (chain) (default: Settings' xdsTls.certFile)",
    )
    .option(
      '--xds-tls-key <file>',
      "the PEM private key of the certificate (default: Settings' xdsTls.keyFile)",
    )
    .option(
      '--xds-client-ca <file>',
      "mTLS: only proxies with a certificate signed by this PEM CA may connect (default: Settings' xdsTls.clientCaFile)",
    )
    .option(
      '--xds-bind-role',
      "with a client CA: a proxy's node role must be its certificate's identity, see docs/security.md (default: Settings' xdsTls.bindRoleToCertificate)",
    )
    .option(
      '--admin-show-secrets',
      'show secret values on the admin endpoint (/snapshot, /resources); they are redacted otherwise',
    )
    .action(async (options: ServeOptions) => {
      const { store, source, discoveryState, highAvailability, serviceDiscovery } = options.kube
        ? await openKubeStore(options)
        : openFileStore(options);
      const contents = await loadFirst(store, options);
      const settings = activeSettings(loadSnapshot(contents).snapshot);
      const xdsTls = await loadTls(store, options, settings.xdsTls);
      const leadership = highAvailability?.elector ?? soleReplica(logger);
      const running = await startSluice({
        store,
        logger,
        xdsAddress: options.xdsAddress ?? settings.xdsAddress ?? DEFAULT_XDS_ADDRESS,
        adminAddress: options.adminAddress ?? settings.adminAddress ?? DEFAULT_ADMIN_ADDRESS,
        discoveryState,
        xdsTls,
        adminShowSecrets: options.adminShowSecrets === true,
        leadership,
      }).catch(async (error: unknown) => {
        await highAvailability?.stop();
        throw error;
      });
      const stopServiceDiscovery = serviceDiscovery
        ? leadership.onLeading(() => {
            serviceDiscovery.start();
            return () => serviceDiscovery.stop();
          })
        : undefined;
      highAvailability?.elector.start();
      process.stderr.write(
        `sluice: serving ${source}: xDS on port ${running.xdsPort}, admin on port ${running.adminPort}\n`,
      );
      await new Promise<void>((resolve) => {
        const shutdown = () => resolve();
        process.once('SIGINT', shutdown);
        process.once('SIGTERM', shutdown);
      });
      await stopServiceDiscovery?.();
      await highAvailability?.stop();
      await running.stop();
    });
}

function parseLeaseDuration(value: string): number {
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new InvalidArgumentError('Give a whole number of seconds, at least 1.');
  }
  return seconds;
}

function openFileStore(options: ServeOptions): OpenedStore {
  return {
    store: openStore(options.configDir),
    source: options.configDir,
    discoveryState: new FileDiscoveryState(options.configDir),
  };
}

async function openKubeStore(options: ServeOptions): Promise<OpenedStore> {
  const { config, client, namespaces, source } = await connectKube(options);
  const highAvailability = options.leaderElection
    ? new HighAvailability({
        config,
        namespace: options.leaseNamespace,
        leaseName: options.leaseName,
        leaseDurationSeconds: options.leaseDuration,
        logger,
      })
    : undefined;
  const { store, serviceDiscovery } = storeWithServices({ client, namespaces, logger });
  return {
    store,
    source,
    discoveryState: highAvailability?.discoveryState,
    highAvailability,
    serviceDiscovery,
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
      `${(error as Error).message}; are the CRDs installed (kubectl apply -k crds/) and may this account list and watch them, Secrets, Services and EndpointSlices (see docs/kubernetes.md)?`,
    );
  }
}

/** xDS TLS: each flag wins over its Settings field; a bad file closes the store and says what to fix. */
async function loadTls(
  store: ResourceStore,
  options: ServeOptions,
  settings: SettingsSpec['xdsTls'] = {},
): Promise<XdsTls | undefined> {
  try {
    return loadXdsTls({
      certFile: options.xdsTlsCert || settings.certFile,
      keyFile: options.xdsTlsKey || settings.keyFile,
      clientCaFile: options.xdsClientCa || settings.clientCaFile,
      bindRoleToCertificate: options.xdsBindRole || settings.bindRoleToCertificate,
    });
  } catch (error) {
    await store.close();
    throw new UserError((error as Error).message);
  }
}

import type { Command } from 'commander';
import { loadSnapshot } from '../../api/load';
import { DEFAULT_ADMIN_ADDRESS, DEFAULT_XDS_ADDRESS, startSluice } from '../../control-plane/sluice-server';
import { activeSettings } from '../../api/settings';
import { FileDiscoveryState } from '../../discovery/fds/discovery-state';
import { logger } from '../../logger';
import { UserError } from '../errors';
import { openStore } from '../offline';

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
    .option('--kube', 'use the Kubernetes store instead of the file store')
    .action(
      async (options: { configDir: string; xdsAddress?: string; adminAddress?: string; kube?: boolean }) => {
        if (options.kube)
          throw new UserError(
            '--kube: the Kubernetes store is not available in this version yet; use --config-dir',
          );
        const store = openStore(options.configDir);
        const settings = activeSettings(loadSnapshot(await store.load()).snapshot);
        const running = await startSluice({
          store,
          logger,
          xdsAddress: options.xdsAddress ?? settings.xdsAddress ?? DEFAULT_XDS_ADDRESS,
          adminAddress: options.adminAddress ?? settings.adminAddress ?? DEFAULT_ADMIN_ADDRESS,
          discoveryState: new FileDiscoveryState(options.configDir),
        });
        process.stderr.write(
          `sluice: serving ${options.configDir}: xDS on port ${running.xdsPort}, admin on port ${running.adminPort}\n`,
        );
        await new Promise<void>((resolve) => {
          const shutdown = () => resolve();
          process.once('SIGINT', shutdown);
          process.once('SIGTERM', shutdown);
        });
        await running.stop();
      },
    );
}

import type { Command } from 'commander';

import { NotAvailableError } from '../errors';

/** Function discovery (AWS Lambda, OpenAPI, gRPC reflection, GCF, Azure) is not part of this version yet. */
export function requireDiscovery(): never {
  throw new NotAvailableError(
    'function discovery is not available in this version of sluice: no discoverer is registered yet',
  );
}

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('run function discovery once and print the functions found per upstream (not available yet)')
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('-o, --output <format>', 'json', 'json')
    .action(() => requireDiscovery());
}

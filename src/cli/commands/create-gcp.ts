import type { Command } from 'commander';
import { notYet } from './create-common';

/** `create upstream gcp` and `create secret gcp`. */
export function registerGcpCommands(upstream: Command, secret: Command): void {
  upstream
    .command('gcp')
    .allowUnknownOption()
    .description('(not available yet)')
    .action(notYet('upstream', 'gcp'));
  secret
    .command('gcp')
    .allowUnknownOption()
    .description('(not available yet)')
    .action(notYet('secret', 'gcp'));
}

import type { Command } from 'commander';
import { notYet } from './create-common';

/** `create upstream azure` and `create secret azure`. */
export function registerAzureCommands(upstream: Command, secret: Command): void {
  upstream
    .command('azure')
    .allowUnknownOption()
    .description('(not available yet)')
    .action(notYet('upstream', 'azure'));
  secret
    .command('azure')
    .allowUnknownOption()
    .description('(not available yet)')
    .action(notYet('secret', 'azure'));
}

import * as fs from 'fs';
import type { Command } from 'commander';
import { DEFAULT_NAMESPACE } from '../../api/resource';
import { UserError } from '../errors';

/** What every `create` command takes. */
export interface CommonOptions {
  name: string;
  namespace: string;
  configDir: string;
  dryRun?: boolean;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function readFileOption(flag: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`${flag} ${file}: cannot read the file`);
  }
}

export function withCommon(command: Command): Command {
  return command
    .requiredOption('--name <name>', 'resource name')
    .option('--namespace <namespace>', 'namespace', DEFAULT_NAMESPACE)
    .option('--config-dir <dir>', 'directory of YAML resources', process.env.SLUICE_CONFIG_DIR ?? '.')
    .option('--dry-run', 'print the resource instead of writing it');
}

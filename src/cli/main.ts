import { Command, CommanderError } from 'commander';
import { registerAddRoute } from './commands/add-route';
import { registerCheck } from './commands/check';
import { registerCreate } from './commands/create';
import { registerDiscover } from './commands/discover';
import { registerGet } from './commands/get';
import { registerServe } from './commands/serve';
import { registerTranslate } from './commands/translate';
import * as fs from 'fs';
import * as path from 'path';
import { PACKAGE_ROOT } from '../package-root';
import { EXIT_INTERNAL_ERROR, EXIT_OK, EXIT_USER_ERROR, UserError } from './errors';

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
}

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a function gateway control plane for stock Envoy')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of [
    registerServe,
    registerTranslate,
    registerDiscover,
    registerGet,
    registerCheck,
    registerCreate,
    registerAddRoute,
  ]) {
    register(program);
  }
  program.commands.forEach(function exitOverrideAll(command: Command) {
    command.exitOverride();
    command.commands.forEach(exitOverrideAll);
  });
  return program;
}

/** Exit codes: 0 success, 1 a user error (the message says what to fix), 2 an internal error. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_USER_ERROR;
      return;
    }
    if (error instanceof UserError) {
      process.stderr.write(`sluice: ${error.message}\n`);
      process.exitCode = EXIT_USER_ERROR;
      return;
    }
    process.stderr.write(`sluice: internal error: ${(error as Error).message}\n`);
    if (process.env.SLUICE_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = EXIT_INTERNAL_ERROR;
  }
}

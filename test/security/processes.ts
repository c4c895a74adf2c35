import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../src/package-root';
import { waitFor } from '../helpers/wait';

/** The CLI's `main`, for child processes that run several commands in one process (`node -e`). */
export const CLI_MAIN = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface Printed {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** Everything printed so far. */
  printed(): Printed;
  /** Everything printed, once the process has exited. */
  exited: Promise<Printed>;
}

/** Node running `args`, everything it prints kept. */
export function startNode(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  let code: number | null = null;
  const printed = () => ({
    code,
    stdout: Buffer.concat(stdout).toString('utf8'),
    stderr: Buffer.concat(stderr).toString('utf8'),
  });
  const exited = new Promise<Printed>((resolve) =>
    child.on('close', (exitCode) => {
      code = exitCode;
      resolve(printed());
    }),
  );
  return { child, printed, exited };
}

/** `sluice serve` on a directory, xDS and admin on loopback ports of their own, once it says it serves. */
export async function startServe(
  dir: string,
  env: NodeJS.ProcessEnv,
): Promise<Running & { xdsPort: number; admin: string }> {
  const server = startNode(
    [
      path.join(PACKAGE_ROOT, 'bin', 'sluice'),
      ...['serve', '--config-dir', dir, '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0'],
    ],
    env,
  );
  try {
    const [, xdsPort, adminPort] = await waitFor(
      'the serving line',
      () => /xDS on port (\d+), admin on port (\d+)/.exec(server.printed().stderr) ?? undefined,
      { timeoutMs: 20000 },
    );
    return { ...server, xdsPort: Number(xdsPort), admin: `http://127.0.0.1:${adminPort}` };
  } catch (error) {
    server.child.kill('SIGKILL');
    throw error;
  }
}

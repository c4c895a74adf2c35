import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../src/package-root';
import { waitFor } from './wait';

export interface ServeProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** What it wrote on stderr so far. */
  stderr(): string;
}

export interface ServingLine {
  /** What is served, e.g. `Kubernetes at http://127.0.0.1:PORT (all namespaces)`. */
  source: string;
  xdsPort: number;
  adminPort: number;
}

/**
 * `sluice serve --kube --kubeconfig FILE` in a child process (the bin built into dist/ by `npm test`'s
 * pretest step), xDS and admin on free loopback ports, with `args` and `env` added; logs silent.
 */
export function spawnKubeServe(
  kubeconfig: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): ServeProcess {
  const child = spawn(
    process.execPath,
    [
      path.join(PACKAGE_ROOT, 'bin', 'sluice'),
      'serve',
      '--kube',
      '--kubeconfig',
      kubeconfig,
      '--xds-address',
      '127.0.0.1:0',
      '--admin-address',
      '127.0.0.1:0',
      ...args,
    ],
    { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** The line `serve` prints once it serves; fails with its stderr if it does not come. */
export async function servingLine(serve: ServeProcess): Promise<ServingLine> {
  try {
    const [source, xdsPort, adminPort] = await waitFor(
      'the serving line',
      () => /serving (.*): xDS on port (\d+), admin on port (\d+)/.exec(serve.stderr())?.slice(1),
      { timeoutMs: 20000 },
    );
    return { source, xdsPort: Number(xdsPort), adminPort: Number(adminPort) };
  } catch (error) {
    throw new Error(`${(error as Error).message}; stderr: ${serve.stderr()}`);
  }
}

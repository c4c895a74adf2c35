import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PACKAGE_ROOT } from '../../src/package-root';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `sluice` bin (built into dist/ by `npm test`'s pretest step). */
export function sluice(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(PACKAGE_ROOT, 'bin', 'sluice'), ...args],
      { env: { ...process.env, SLUICE_LOG_LEVEL: 'silent', ...env }, timeout: 30000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 2) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export function tempConfigDir(files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

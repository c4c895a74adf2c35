import { randomBytes } from 'crypto';
import { promises as fsp } from 'fs';
import * as path from 'path';

/** `.NAME.PID.RANDOM.tmp`: hidden, so never loaded nor watched, and named after the process writing it. */
const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/;

function tempFileName(name: string): string {
  return `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process
  }
}

/**
 * Removes the temp files of writers killed mid-write (their process is gone), so that crashes do not pile
 * them up; a running process's temp file is left alone. Processes on another machine sharing the directory
 * are not told apart: one directory, one machine.
 */
async function removeStaleTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  const stale = names.filter((name) => {
    const match = TEMP_FILE.exec(name);
    return match !== null && !isRunning(Number(match[1]));
  });
  await Promise.all(stale.map((name) => fsp.rm(path.join(dir, name), { force: true })));
}

export interface AtomicWriteOptions {
  /** The file's permissions (default 0o644, less the umask). */
  mode?: number;
  /** Last check before the temp file replaces the target; throwing leaves the target as it was. */
  beforeRename?: () => Promise<void>;
}

/**
 * Replaces `file` with `content` atomically: a hidden temp file in the same directory, flushed to disk,
 * then renamed over the target. A reader (or a process started after a crash) sees the old file or the new
 * one, never part of one. No temp file is left when the write fails; one left by a process that was killed
 * is removed by the next write to the directory.
 */
export async function writeFileAtomically(
  file: string,
  content: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  await removeStaleTempFiles(dir);
  const tmp = path.join(dir, tempFileName(path.basename(file)));
  try {
    const handle = await fsp.open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(content, 'utf8');
      if (options.mode !== undefined) await handle.chmod(options.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await options.beforeRename?.();
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

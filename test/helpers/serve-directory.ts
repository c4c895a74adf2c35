import pino from 'pino';
import { Metrics } from '../../src/admin/metrics';
import {
  startSluice,
  type RunningSluice,
  type SluiceServerOptions,
} from '../../src/control-plane/sluice-server';
import { FileStore } from '../../src/store/file-store';

/** Sluice in this process on a config directory: xDS and admin on loopback ports of their own, silent. */
export function serveDirectory(
  dir: string,
  options: Partial<Omit<SluiceServerOptions, 'store'>> = {},
): Promise<RunningSluice> {
  return startSluice({
    store: new FileStore(dir, { debounceMs: 20 }),
    logger: pino({ level: 'silent' }),
    xdsAddress: '127.0.0.1:0',
    adminAddress: '127.0.0.1:0',
    metrics: new Metrics(),
    ...options,
  });
}

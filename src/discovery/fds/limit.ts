import { Sema } from 'async-sema';

/**
 * Runs `work` with one of the semaphore's permits. (p-limit 3, the CommonJS one, keeps the last result
 * referenced after it settles: for OpenAPI discovery that was a whole document.)
 */
export async function withPermit<T>(sema: Sema, work: () => Promise<T>): Promise<T> {
  await sema.acquire();
  try {
    return await work();
  } finally {
    sema.release();
  }
}

export { Sema };

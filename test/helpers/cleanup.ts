/** What a test opened (servers, receivers, dispatchers), closed after it, last opened first. */
import { afterEach } from 'vitest';

/**
 * Registers an `afterEach` that runs, in reverse order, every cleanup the test deferred; returns
 * `defer`. Hooks registered before this one (a database's) run after it.
 */
export function useCleanup(): (cleanup: () => unknown) => void {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return (cleanup) => {
    cleanups.push(cleanup);
  };
}

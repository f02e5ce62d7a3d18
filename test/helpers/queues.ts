/**
 * Queues under a fresh prefix on the test run's queue backend (queue-backend.ts), with a sync
 * worker whose handler the test gives: for tests of the queue layer itself (waiting,
 * deduplication). Everything is closed and obliterated after each test.
 */
import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { createQueues, type Handler, type Queues, startWorker } from '../../src/queue/index.js';
import { openTestBackend } from './queue-backend.js';

export interface QueueSetup {
  queues: Queues;
  /** Starts a sync worker running `handler`. */
  work(handler: Handler<'sync'>, concurrency?: number): Promise<void>;
}

/** Registers the cleanup; returns the setup each test calls (`name` starts the key prefix). */
export function useQueues(name: string): () => Promise<QueueSetup> {
  let lifecycle: Lifecycle | undefined;
  afterEach(async () => {
    await lifecycle?.close();
    lifecycle = undefined;
  });
  const log = createLogger({ level: 'silent' });
  return async () => {
    const lc = new Lifecycle();
    lifecycle = lc;
    const prefix = `${name}-${randomUUID()}`;
    const { backend, close } = await openTestBackend(prefix);
    lc.add('backend', close);
    const queues = createQueues({ backend, syncAttempts: 1 });
    // Released in reverse: the queues are emptied while still open, then closed.
    lc.add('queues', () => queues.close());
    lc.add('obliterate', () => queues.obliterate());
    return {
      queues,
      async work(handler, concurrency = 4) {
        const worker = startWorker('sync', handler, { backend, concurrency, log });
        lc.add('worker', () => worker.close());
        await worker.ready();
      },
    };
  };
}

/** A sync job's result that names its VPC, so each waiter can be checked against its own job. */
export const syncResult = (vpcId: string) => ({
  runId: vpcId,
  outcome: 'applied' as const,
  baseline: false,
  added: 0,
  removed: 0,
  linksSeen: 0,
  pages: 1,
});

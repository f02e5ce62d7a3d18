/**
 * Queues under a fresh prefix on the machine's Redis, with a sync worker whose handler the test
 * gives: for tests of the queue layer itself (waiting, deduplication). Everything is closed and
 * obliterated after each test.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { createQueues, type Handler, type Queues, startWorker } from '../../src/queue/index.js';

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
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    lc.add('redis', async () => void (await redis.quit()));
    const prefix = `${name}-${randomUUID()}`;
    const queues = createQueues({ connection: redis, prefix, syncAttempts: 1 });
    lc.add('obliterate', () => queues.obliterate());
    lc.add('queues', () => queues.close());
    return {
      queues,
      async work(handler, concurrency = 4) {
        const worker = startWorker('sync', handler, { connection: redis, prefix, concurrency, log });
        lc.add('worker', () => worker.close());
        await worker.ready();
      },
    };
  };
}

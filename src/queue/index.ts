/**
 * The door of src/queue/: the job catalog, the queues, the worker factory, the key prefix, and the
 * process's Redis connections. The only folder that imports bullmq (and the one that opens ioredis
 * connections; the API limiter is handed the shared one).
 */
export type {
  ChangeSync,
  EnqueuedSync,
  FeedJobResult,
  Handler,
  PlanJobResult,
  SyncJobResult,
  SyncTarget,
} from './catalog.js';
export { prefixPattern, queuePrefix } from './keys.js';
export { createQueues, type Queues } from './queues.js';
export { checkRedis, claimPrefix, closeRedis, openRedis, openRedisProbe, type Redis } from './redis.js';
export { closeWorkers, startWorker } from './worker.js';

/**
 * The door of src/queue/: the job catalog, the queues, the worker factory, the key prefix, and the
 * process's Redis connections. The only folder that imports bullmq (and the one that opens ioredis
 * connections, to one server or a Redis Cluster; the API limiter is handed the shared one).
 */
export type {
  AttributeJobResult,
  ChangeSync,
  EnqueuedSync,
  EnrichJobResult,
  FeedJobResult,
  Handler,
  JobData,
  PlanJobResult,
  ScheduledQueue,
  SyncJobResult,
  SyncTarget,
} from './catalog.js';
export { prefixPattern, queuePrefix } from './keys.js';
export { createQueues, type Queues, type Schedule } from './queues.js';
export {
  checkRedis,
  claimPrefix,
  closeRedis,
  openRedis,
  openRedisProbe,
  type RedisConnection,
  type RedisSettings,
} from './redis.js';
export { closeWorkers, startWorker } from './worker.js';

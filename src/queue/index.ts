/**
 * The door of src/queue/: the job catalog, the queues, the worker factory, the key prefix, and the
 * queue backend (QUEUE_BACKEND: Redis, or BullMQ's PostgreSQL backend) with its connections. The
 * only folder that imports bullmq (and the one that opens ioredis connections and the queue
 * database's, to one server or a Redis Cluster; the API limiter is handed its store).
 */
export {
  type LimiterStore,
  migrateQueueSchema,
  openQueueBackend,
  type QueueBackend,
  type QueueBackendKind,
  type QueueBackendSpec,
} from './backend.js';
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
export { prefixPattern, queuePrefix, queueSchema } from './keys.js';
export { type BullQueue, createQueues, type Queues, type Schedule } from './queues.js';
export {
  checkRedis,
  claimPrefix,
  closeRedis,
  openRedis,
  type RedisConnection,
  type RedisSettings,
} from './redis.js';
export { closeWorkers, startWorker } from './worker.js';

/**
 * The door of src/queue/.
 */
export {
  closeWorkers,
  createQueues,
  type Pacing,
  type PlanJobResult,
  pacedStartMs,
  type Queues,
  queuePrefix,
  type SyncJobResult,
  type SyncTarget,
  startWorker,
} from './queues.js';

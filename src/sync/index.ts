/**
 * The door of src/sync/.
 */

export {
  accountForPush,
  FEED_EVENT_NAMES,
  FEED_OVERLAP_MS,
  type FeedAccount,
  type FeedDeps,
  type FeedPollDeps,
  type IngestResult,
  ingestPushed,
  ingestRecords,
  type LookupEvents,
  type PushedRecord,
  type PushResult,
  runFeedPoll,
  toCloudEventRecord,
} from './feed.js';
export { pagesInOrder } from './paging.js';
export { runPlan } from './plan.js';
export { runSync } from './scan.js';
export { feedScheduleQueue, keepSchedules } from './scheduler.js';
export type { CallOptions, LinkPage, LinkSource } from './source.js';

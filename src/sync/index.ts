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
} from './feed.js';
export { pagesInOrder } from './paging.js';
export { runPlan } from './plan.js';
export { type AppliedChanges, runSync } from './scan.js';
export { keepSchedules, type ScheduleGroup } from './scheduler.js';
export type { CallOptions, LinkPage, LinkSource } from './source.js';

/**
 * The door of src/sync/.
 */

export { pagesInOrder } from './paging.js';
export { runPlan } from './plan.js';
export { type AppliedChanges, runSync } from './scan.js';
export { keepSchedules, type ScheduleGroup } from './scheduler.js';
export type { CallOptions, LinkPage, LinkSource } from './source.js';

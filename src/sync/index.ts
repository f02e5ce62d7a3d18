/**
 * The door of src/sync/.
 */

export { pagesInOrder } from './paging.js';
export { runPlan } from './plan.js';
export { runSync } from './scan.js';
export { keepSchedules } from './scheduler.js';
export type { CallOptions, LinkPage, LinkSource } from './source.js';

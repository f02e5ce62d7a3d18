/**
 * The one door to Postgres: every SQL statement of the service is behind these verbs (the
 * implementations live in `src/store/`). Each verb is one statement or one transaction, and
 * set-based: link sets travel as arrays (`unnest`), never as one round trip per row.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { applyScan } from './apply-scan.js';
import { eventsPage } from './events-page.js';
import { outboxVerbs } from './outbox.js';
import { pruneHistory } from './prune.js';
import { activeLinks, countEvents, getRun, listEvents, listLinks, listTargets } from './read.js';
import { failRun, startRun, syncTargetList } from './runs.js';
import type { Store, StoreDeps } from './types.js';

export { DEFAULT_OUTBOX_NOTIFY_CHANNEL } from './outbox.js';
export type * from './types.js';

/** Default Postgres NOTIFY channel for applied changes. */
export const DEFAULT_NOTIFY_CHANNEL = 'classiclink_changes';

export function createStore(deps: StoreDeps): Store {
  const notifyChannel = deps.notifyChannel ?? DEFAULT_NOTIFY_CHANNEL;
  const full = { ...deps, notifyChannel };
  const read = { ...full, db: drizzle({ client: deps.pool }) };
  return {
    startRun: (input) => startRun(full, input),
    activeLinks: (target) => activeLinks(read, target),
    applyScan: (input) => applyScan(full, input),
    failRun: (input) => failRun(full, input),
    listLinks: (filter) => listLinks(read, filter),
    listEvents: (filter) => listEvents(read, filter),
    eventsPage: (input) => eventsPage(read, input),
    countEvents: (filter) => countEvents(read, filter),
    listTargets: (filter) => listTargets(read, filter),
    getRun: (runId) => getRun(read, runId),
    syncTargetList: (input) => syncTargetList(full, input),
    pruneHistory: (input) => pruneHistory(full, input),
    ...outboxVerbs(full),
  };
}
export { databaseName, migrateDatabase, pendingMigrations, quoteIdent } from './migrate.js';
export { startRetention } from './retention-loop.js';
export { targetHealth } from './target-state.js';
export type { CheckStalenessResult, OutboxMessage, OutboxStore, OutboxWatch } from './types.js';

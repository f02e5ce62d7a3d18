/**
 * createStore: binds every verb of the store to one pool and its NOTIFY channels. Each verb is one
 * statement or one transaction, and set-based: link sets travel as arrays (`unnest`), never as
 * one round trip per row.
 */

import { drizzle } from 'drizzle-orm/node-postgres';
import { applyScan } from './apply-scan.js';
import {
  instancesMissingAttributes,
  instancesToRefresh,
  markInstancesReleased,
  markUnlistedVpcsDeleted,
  markVpcsDeleted,
  upsertInstances,
  upsertVpcs,
} from './attributes.js';
import { markCausesUnavailable, pendingCauses, settleCauses } from './causes.js';
import {
  feedCursor,
  feedFailed,
  feedPolled,
  knownCloudEvents,
  lastAppliedScans,
  linkedVpcs,
  listFeeds,
} from './change-feed.js';
import { recordCloudEvents } from './cloud-events.js';
import { consoleVerbs } from './console.js';
import { contextForRun } from './context.js';
import { eventsPage } from './events-page.js';
import { listContextHealth, recordContextCheck } from './health.js';
import { watchChanges } from './listen.js';
import { outboxVerbs } from './outbox.js';
import { pruneHistory } from './prune.js';
import { activeLinks, countEvents, getRun, listEvents, listLinks, listTargets } from './read.js';
import { failRun, startRun, syncTargetList } from './runs.js';
import { checkStaleness } from './staleness.js';
import type { Store, StoreDeps } from './types.js';

/** Default Postgres NOTIFY channel for applied changes. */
const DEFAULT_NOTIFY_CHANNEL = 'classiclink_changes';
/** NOTIFY channel told about outbox rows that no applied scan announced (stale / recovered). */
const OUTBOX_NOTIFY_CHANNEL = 'classiclink_outbox';

export function createStore(deps: StoreDeps): Store {
  const full = {
    ...deps,
    notifyChannel: deps.notifyChannel ?? DEFAULT_NOTIFY_CHANNEL,
    outboxNotifyChannel: OUTBOX_NOTIFY_CHANNEL,
  };
  const read = { ...full, db: drizzle({ client: deps.pool }) };
  return {
    startRun: (input) => startRun(full, input),
    activeLinks: (target) => activeLinks(read, target),
    applyScan: (input) => applyScan(full, input),
    failRun: (input) => failRun(full, input),
    listLinks: (filter) => listLinks(read, filter),
    listEvents: (filter) => listEvents(read, filter),
    countEvents: (filter) => countEvents(read, filter),
    eventsPage: (input) => eventsPage(read, input),
    listTargets: (filter) => listTargets(read, filter),
    getRun: (runId) => getRun(read, runId),
    contextForRun: (runId) => contextForRun(read, runId),
    syncTargetList: (input) => syncTargetList(full, input),
    pruneHistory: (input) => pruneHistory(full, input),
    watchChanges: (onChange) => watchChanges(full, onChange),
    checkStaleness: (input) => checkStaleness(full, input),
    upsertInstances: (input) => upsertInstances(full, input),
    markInstancesReleased: (input) => markInstancesReleased(full, input),
    upsertVpcs: (input) => upsertVpcs(full, input),
    markVpcsDeleted: (input) => markVpcsDeleted(full, input),
    markUnlistedVpcsDeleted: (input) => markUnlistedVpcsDeleted(full, input),
    instancesToRefresh: (input) => instancesToRefresh(full, input),
    instancesMissingAttributes: (input) => instancesMissingAttributes(full, input),
    recordCloudEvents: (records, receivedVia) => recordCloudEvents(full, records, receivedVia),
    pendingCauses: (input) => pendingCauses(full, input),
    settleCauses: (input) => settleCauses(full, input),
    markCausesUnavailable: (input) => markCausesUnavailable(full, input),
    knownCloudEvents: (ids) => knownCloudEvents(full, ids),
    lastAppliedScans: (input) => lastAppliedScans(full, input),
    linkedVpcs: (input) => linkedVpcs(full, input),
    feedCursor: (input) => feedCursor(full, input),
    feedPolled: (input) => feedPolled(full, input),
    feedFailed: (input) => feedFailed(full, input),
    listFeeds: (filter) => listFeeds(full, filter),
    recordContextCheck: (input) => recordContextCheck(full, input),
    listContextHealth: (filter) => listContextHealth(full, filter ?? {}),
    ...outboxVerbs(full),
    ...consoleVerbs(read),
  };
}

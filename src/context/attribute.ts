/**
 * The `attribute` job: settles the causes of an account+region's pending link events (DESIGN.md
 * rule 7) from ActionTrail.
 *
 * Cost: one LookupEvents query per event name over the window every pending change needs — from
 * the earliest pending change's previous applied scan (less a clock allowance) to the latest
 * detection — paged by NextToken; never one query per change. All four link-changing names are
 * asked, whatever the pending changes: a call of the opposite change (a detach after an attach)
 * says an earlier candidate was undone before the scan. Records are stored once (`cloud_events`, by eventId), then the store matches every pending event
 * in one statement (`settleCauses`): `found`, or `not_found` once ATTRIBUTION_WINDOW has passed
 * since detection. While some are still pending the job asks for another run after a delay
 * (records reach ActionTrail minutes after the call), until each is settled.
 *
 * A missing `actiontrail:LookupEvents` permission settles the pending causes `unavailable` —
 * never `not_found`, since nothing was looked at — with one warning and `context_health`; any
 * other failure leaves them pending and the job retries. Either way link truth is untouched: this
 * job reads link events and writes only causes and records.
 */
import type { EcsClient } from '../aliyun/index.js';
import { coerceError, isPermissionDenied } from '../errors.js';
import type { Logger } from '../log.js';
import type { AttributeJobResult } from '../queue/index.js';
import { CAUSE_ACTIONS, type PendingCause, type Store } from '../store/index.js';
import { permissionDetail, recordHealth } from './health.js';
import { cloudEventRecord } from './records.js';

/** How far ActionTrail's clock may run behind ours: subtracted from the window's start. */
export const CLOCK_ALLOWANCE_MS = 5_000;
/** The shortest and longest wait before a job with causes still pending runs again. */
const MIN_RETRY_MS = 200;
const MAX_RETRY_MS = 60_000;

export type AttributeApi = Pick<EcsClient, 'lookupEvents'>;

export interface AttributeDeps {
  /** The account's API client (its credentials, its share of the account+region+API limiter). */
  apiFor(account: string): AttributeApi;
  store: Pick<
    Store,
    'pendingCauses' | 'recordCloudEvents' | 'settleCauses' | 'markCausesUnavailable' | 'recordContextCheck'
  >;
  /** ATTRIBUTION_WINDOW, ms. */
  windowMs: number;
  /** Asks for another attribute job of the account+region, `delayMs` after this one. */
  again(data: { account: string; regionId: string }, delayMs: number): Promise<unknown>;
  now?: () => Date;
}

export interface AttributeRequest {
  account: string;
  regionId: string;
  log: Logger;
  signal?: AbortSignal | undefined;
}

const floorSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
const ceilSecond = (ms: number) => new Date(Math.ceil(ms / 1000) * 1000);

/** When the next run is due: soon enough to settle the first event whose window ends. */
export function retryDelayMs(pending: readonly PendingCause[], windowMs: number, now: Date): number {
  const every = Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, Math.round(windowMs / 5)));
  const firstDue = Math.min(...pending.map((p) => p.detectedAt.getTime() + windowMs)) - now.getTime();
  // A little past the end of the window, so the settle that follows sees it ended.
  return Math.max(MIN_RETRY_MS, Math.min(every, firstDue + 50));
}

export async function runAttribute(deps: AttributeDeps, req: AttributeRequest): Promise<AttributeJobResult> {
  const now = deps.now ?? (() => new Date());
  const { account, regionId, log, signal } = req;
  const scope = { account, regionId };
  const result: AttributeJobResult = {
    pending: 0,
    calls: 0,
    recorded: 0,
    found: 0,
    notFound: 0,
    unavailable: 0,
    stillPending: 0,
  };
  const startedAt = now();
  const pending = await deps.store.pendingCauses(scope);
  result.pending = pending.length;
  if (pending.length === 0) return result;
  const health = (state: 'ok' | 'permission_denied' | 'failing', detail: string | null) =>
    recordHealth(deps.store, { ...scope, source: 'actiontrail', state, detail }, now(), log);

  // An event with no previous applied scan on record has no window: nothing can match it.
  const starts = pending.flatMap((p) => (p.previousScanStartedAt ? [p.previousScanStartedAt.getTime()] : []));
  if (starts.length > 0) {
    const startTime = floorSecond(Math.min(...starts) - CLOCK_ALLOWANCE_MS);
    const endTime = ceilSecond(Math.max(...pending.map((p) => p.detectedAt.getTime())));
    // Every link-changing name, whatever the pending changes: the calls of the opposite change are
    // what tells a candidate that was undone before the scan (store/causes.ts) from the last word.
    const names = CAUSE_ACTIONS.map((a) => a.eventName);
    const api = deps.apiFor(account);
    try {
      for (const eventName of names) {
        for await (const page of api.lookupEvents(regionId, { eventName, startTime, endTime }, { signal })) {
          result.calls++;
          for (const r of page.refused) {
            log.warn(
              { eventId: r.eventId, field: r.field, problem: r.message, requestId: page.requestId },
              `ActionTrail record refused at ${r.field}: ${r.message}`,
            );
          }
          const fresh = await deps.store.recordCloudEvents(
            page.events.map((e) => cloudEventRecord(account, e)),
            'poll',
          );
          result.recorded += fresh.length;
        }
      }
    } catch (caught) {
      const err = coerceError(caught);
      if (!isPermissionDenied(err)) {
        await health('failing', `${err.code}: ${err.message}`);
        throw err;
      }
      // Only what was pending when this job began: a change detected since gets its own look.
      result.unavailable = await deps.store.markCausesUnavailable({ ...scope, before: startedAt });
      await health(
        'permission_denied',
        permissionDetail('actiontrail', err.code, 'LookupEvents was refused'),
      );
      log.info({ ...scope, ...result }, 'causes unavailable');
      return result;
    }
    await health('ok', null);
  }
  const settled = await deps.store.settleCauses({
    ...scope,
    now: now(),
    windowMs: deps.windowMs,
    allowanceMs: CLOCK_ALLOWANCE_MS,
  });
  result.found = settled.found;
  result.notFound = settled.notFound;
  const left = await deps.store.pendingCauses(scope);
  result.stillPending = left.length;
  if (left.length > 0) {
    // A change detected while this run was under way has not been looked for yet: its sync's
    // request for a prompt run was merged into this one (deduplicated per account+region), and
    // the delayed retry asked for here replaces any waiting run. So it gets the prompt run.
    const looked = new Set(pending.map((p) => p.linkEventId));
    const arrived = left.some((p) => !looked.has(p.linkEventId));
    await deps.again(scope, arrived ? MIN_RETRY_MS : retryDelayMs(left, deps.windowMs, now()));
  }
  if (result.found + result.notFound > 0) log.info({ ...scope, ...result }, 'causes settled');
  return result;
}

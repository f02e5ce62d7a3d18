/**
 * Keeps one BullMQ job scheduler per (account, region) at SYNC_INTERVAL (and, for the change feed,
 * one per account+region at CHANGE_FEED_INTERVAL on the feed queue), in step with the configuration: wanted schedules are upserted, schedules for regions no longer configured are
 * removed. This deployment owns its QUEUE_PREFIX: every plan schedule under it that the
 * configuration does not want is removed. Run at start and then periodically, so schedules come
 * back by themselves if Redis lost them.
 */
import type { Logger } from '../log.js';
import { type Periodic, startPeriodic } from '../periodic.js';
import type { Queues } from '../queue/index.js';

interface ScheduleSpec {
  account: string;
  regions: readonly string[];
}

/** A schedule's id: one per (account, region) and kind of job (`plan:…`, `feed:…`). */
export const scheduleId = (kind: 'plan' | 'feed', account: string, regionId: string): string =>
  `${kind}:${account}:${regionId}`;

/** The schedules of one queue, as the keeper reads and writes them. */
type ScheduleQueue = Pick<Queues, 'listSchedules' | 'upsertSchedule' | 'removeSchedule'>;

export async function reconcileSchedules(
  queues: ScheduleQueue,
  specs: readonly ScheduleSpec[],
  everyMs: number,
  log: Logger,
  kind: 'plan' | 'feed' = 'plan',
): Promise<{ upserted: number; removed: number }> {
  const wanted = new Map<string, { account: string; regionId: string }>();
  for (const spec of specs) {
    for (const regionId of spec.regions)
      wanted.set(scheduleId(kind, spec.account, regionId), { account: spec.account, regionId });
  }
  const existing = await queues.listSchedules();
  let removed = 0;
  for (const s of existing) {
    if (!wanted.has(s.id)) {
      await queues.removeSchedule(s.id);
      removed++;
      log.info({ schedule: s.id }, 'removed schedule no longer configured');
    }
  }
  let upserted = 0;
  const current = new Map(existing.map((s) => [s.id, s.everyMs]));
  for (const [id, data] of wanted) {
    // Upsert only what is missing or changed: re-upserting an unchanged scheduler would reset its timer.
    if (current.get(id) !== everyMs) {
      await queues.upsertSchedule(id, everyMs, data);
      upserted++;
      log.info({ schedule: id, everyMs }, 'scheduled');
    }
  }
  return { upserted, removed };
}

export interface ScheduleKeeping {
  queues: ScheduleQueue;
  specs: readonly ScheduleSpec[];
  /** SYNC_INTERVAL (CHANGE_FEED_INTERVAL): how often each schedule adds a plan (feed) job. */
  everyMs: number;
  /** Whose schedules: the plan queue's (default) or the feed queue's (`feedScheduleQueue`). */
  kind?: 'plan' | 'feed' | undefined;
  /** How often the schedules are reconciled with the configuration. */
  checkEveryMs: number;
  log: Logger;
}

/**
 * Reconciles now and then every `checkEveryMs`. Its `stop()` waits for a reconcile in flight, so
 * none touches the queues after the caller closes them.
 */
export function keepSchedules(opts: ScheduleKeeping): Periodic {
  const log = opts.log.child({ component: 'scheduler' });
  return startPeriodic({
    everyMs: opts.checkEveryMs,
    run: async () => {
      await reconcileSchedules(opts.queues, opts.specs, opts.everyMs, log, opts.kind);
    },
    onError: (err) => opts.log.warn({ err: err.message }, 'schedule reconcile failed; will retry'),
  });
}

/**
 * The feed queue's schedules in the keeper's terms. With CHANGE_FEED=off the keeper is given no
 * specs, so it removes every feed schedule a previous configuration left.
 */
export function feedScheduleQueue(
  queues: Pick<Queues, 'listFeedSchedules' | 'upsertFeedSchedule' | 'removeFeedSchedule'>,
): ScheduleQueue {
  return {
    listSchedules: () => queues.listFeedSchedules(),
    upsertSchedule: (id, everyMs, data) => queues.upsertFeedSchedule(id, everyMs, data),
    removeSchedule: (id) => queues.removeFeedSchedule(id),
  };
}

/**
 * Keeps the BullMQ job schedulers in step with the configuration: per scheduled queue, one
 * scheduler per (account, region) — `plan` every SYNC_INTERVAL, `enrich` every ENRICH_INTERVAL,
 * `feed` (the change feed's poll) every CHANGE_FEED_INTERVAL.
 * Wanted schedules are upserted, schedules for regions no longer configured are removed. This
 * deployment owns its QUEUE_PREFIX: every schedule of those queues under it that the
 * configuration does not want is removed. Run at start and then periodically, so schedules come
 * back by themselves if Redis lost them.
 */
import type { Logger } from '../log.js';
import { type Periodic, startPeriodic } from '../periodic.js';
import type { Queues, ScheduledQueue } from '../queue/index.js';

interface ScheduleSpec {
  account: string;
  regions: readonly string[];
}

/** One scheduled queue: a job every `everyMs` for each account+region of `specs`. */
export interface ScheduleGroup {
  queue: ScheduledQueue;
  everyMs: number;
  specs: readonly ScheduleSpec[];
}

type ScheduleQueues = Pick<Queues, 'listSchedules' | 'upsertSchedule' | 'removeSchedule'>;

const scheduleId = (queue: ScheduledQueue, account: string, regionId: string): string =>
  `${queue}:${account}:${regionId}`;

export async function reconcileSchedules(
  queues: ScheduleQueues,
  group: ScheduleGroup,
  log: Logger,
): Promise<{ upserted: number; removed: number }> {
  const { queue, everyMs } = group;
  const wanted = new Map<string, { account: string; regionId: string }>();
  for (const spec of group.specs) {
    for (const regionId of spec.regions)
      wanted.set(scheduleId(queue, spec.account, regionId), { account: spec.account, regionId });
  }
  const existing = await queues.listSchedules(queue);
  let removed = 0;
  for (const s of existing) {
    if (!wanted.has(s.id)) {
      await queues.removeSchedule(queue, s.id);
      removed++;
      log.info({ schedule: s.id }, 'removed schedule no longer configured');
    }
  }
  let upserted = 0;
  const current = new Map(existing.map((s) => [s.id, s.everyMs]));
  for (const [id, data] of wanted) {
    // Upsert only what is missing or changed: re-upserting an unchanged scheduler would reset its timer.
    if (current.get(id) !== everyMs) {
      await queues.upsertSchedule(queue, id, everyMs, data);
      upserted++;
      log.info({ schedule: id, everyMs }, 'scheduled');
    }
  }
  return { upserted, removed };
}

export interface ScheduleKeeping {
  queues: ScheduleQueues;
  /** The scheduled queues and what each wants. */
  groups: readonly ScheduleGroup[];
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
      for (const group of opts.groups) await reconcileSchedules(opts.queues, group, log);
    },
    onError: (err) => opts.log.warn({ err: err.message }, 'schedule reconcile failed; will retry'),
  });
}

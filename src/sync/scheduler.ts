/**
 * Keeps one BullMQ job scheduler per (account, region) at SYNC_INTERVAL, in step with the
 * configuration: wanted schedules are upserted, schedules for regions no longer configured are
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

const scheduleId = (account: string, regionId: string): string => `plan:${account}:${regionId}`;

export async function reconcileSchedules(
  queues: Pick<Queues, 'listSchedules' | 'upsertSchedule' | 'removeSchedule'>,
  specs: readonly ScheduleSpec[],
  everyMs: number,
  log: Logger,
): Promise<{ upserted: number; removed: number }> {
  const wanted = new Map<string, { account: string; regionId: string }>();
  for (const spec of specs) {
    for (const regionId of spec.regions)
      wanted.set(scheduleId(spec.account, regionId), { account: spec.account, regionId });
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
  queues: Pick<Queues, 'listSchedules' | 'upsertSchedule' | 'removeSchedule'>;
  specs: readonly ScheduleSpec[];
  /** SYNC_INTERVAL: how often each schedule adds a plan job. */
  everyMs: number;
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
      await reconcileSchedules(opts.queues, opts.specs, opts.everyMs, log);
    },
    onError: (err) => opts.log.warn({ err: err.message }, 'schedule reconcile failed; will retry'),
  });
}

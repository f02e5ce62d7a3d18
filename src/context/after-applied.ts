/**
 * What an applied change asks of the context side: its instances described now (their names and
 * tags for the alert, `released_at` for an instance deleted with its link), and — for a change
 * that is not a baseline, and with ATTRIBUTION on — its cause looked for (one attribute job per
 * account+region, however many changes).
 */
import type { AppliedChanges } from '../sync/index.js';

export interface ContextScheduling {
  enqueueEnrich(data: { account: string; regionId: string; instanceIds: string[] }): Promise<unknown>;
  enqueueAttribute(data: { account: string; regionId: string }): Promise<unknown>;
  /** ATTRIBUTION: `off` enqueues no attribute job at all. */
  attribution: boolean;
}

/** The sync's `afterApplied` hook. */
export function scheduleContext(deps: ContextScheduling): (changes: AppliedChanges) => Promise<void> {
  return async ({ target, baseline, added, removed }) => {
    const scope = { account: target.account, regionId: target.regionId };
    const instanceIds = [...new Set([...added, ...removed].map((l) => l.instanceId))];
    if (instanceIds.length > 0) await deps.enqueueEnrich({ ...scope, instanceIds });
    if (deps.attribution && !baseline) await deps.enqueueAttribute(scope);
  };
}

/**
 * The `plan` job: turns an (account, region) into targets — the explicit SYNC_TARGETS of that
 * region, or every VPC that DescribeVpcs lists — and enqueues one deduplicated sync job per target.
 *
 * The jobs are paced to the API budget, as the limiter would admit their first calls: a job is
 * expected to make as many DescribeClassicLinkInstances calls of this region as its target's last
 * scan read pages (one if never scanned); the jobs whose first call is among the first API_MAX_QPS
 * are ready at once (every lane of the limiter is open), and a job whose first call is call c of
 * the plan c / API_MAX_QPS seconds after it (when the lane of call c − API_MAX_QPS opens). A region
 * with 1,000 VPCs and a budget of 5 calls/s then releases its jobs at 5 per second, as fast as the
 * limiter could admit them anyway — instead of all at once, where they would take every job slot
 * of every worker and sit waiting for their region's budget while the jobs of another region, with
 * budget to spare, wait behind them in the queue. The limiter still enforces the cap; pacing only
 * keeps the waiting in Redis (delayed jobs) rather than in worker slots.
 */
import type { ConfiguredTarget } from '../links.js';
import type { Logger } from '../log.js';
import type { EnqueuedSync, PlanJobResult, SyncTarget } from '../queue/index.js';
import type { Store } from '../store/index.js';
import { pacedStarts } from './pacing.js';
import type { CallOptions, LinkSource } from './source.js';

interface PlanDeps {
  sourceFor(account: string): LinkSource;
  /** Explicit targets per account; an account without them discovers its VPCs. */
  explicitTargets(account: string): readonly ConfiguredTarget[] | undefined;
  store: Pick<Store, 'syncTargetList'>;
  /** The account's API_MAX_QPS (calls per second per region and API). */
  maxQps(account: string): number;
  /** SYNC_INTERVAL: a plan whose paced jobs take longer than this says so. */
  intervalMs: number;
  /** Enqueues the targets' sync jobs, each ready `delayMs` after the enqueue began. */
  enqueueSync(targets: readonly SyncTarget[]): Promise<EnqueuedSync[]>;
}

export async function runPlan(
  deps: PlanDeps,
  req: { account: string; regionId: string; only?: readonly string[] | undefined; log: Logger } & CallOptions,
): Promise<PlanJobResult> {
  const explicit = deps.explicitTargets(req.account);
  const vpcIds = explicit
    ? explicit.filter((t) => t.regionId === req.regionId).map((t) => t.vpcId)
    : await deps.sourceFor(req.account).discover(req.regionId, { signal: req.signal });
  const unique = [...new Set(vpcIds)].sort();
  // Targets no longer listed are retired (kept for history, no longer synced or reported stale).
  const listed = await deps.store.syncTargetList({
    account: req.account,
    regionId: req.regionId,
    vpcIds: unique,
  });
  // A discovered VPC that is gone but still has active links in the database gets one more scan,
  // flagged `gone`: it answers empty (or InvalidVpcId.NotFound, read as empty only for this flagged
  // scan), and each of its links is looked up by InstanceId, so the links it lost are recorded as
  // removed instead of staying "linked" for ever. Not for explicit targets: one taken out of
  // SYNC_TARGETS is just no longer watched, and one still in it that the API does not know fails.
  // Should a flagged job be deduplicated into an unflagged one still waiting, that job fails on the
  // missing VPC and the next plan flags its retirement scan again.
  const finalScans = explicit ? [] : listed.finalScans;
  if (finalScans.length > 0) {
    req.log.info(
      {
        account: req.account,
        regionId: req.regionId,
        vpcs: finalScans.slice(0, 10),
        count: finalScans.length,
      },
      'VPCs no longer listed still have active links: scanning them once more',
    );
  }
  const only = req.only ? new Set(req.only) : undefined;
  const targets: SyncTarget[] = [
    ...unique.map((vpcId) => ({ vpcId, gone: false })),
    ...finalScans.map((vpcId) => ({ vpcId, gone: true })),
  ]
    .filter((t) => only === undefined || only.has(t.vpcId))
    .map((t) => ({ account: req.account, regionId: req.regionId, ...t }));
  const qps = deps.maxQps(req.account);
  const calls = targets.map((t) => listed.lastPages[t.vpcId] ?? 1);
  const starts = pacedStarts({ spacingMs: 1_000 / qps, burst: qps, calls });
  const jobs =
    targets.length > 0 ? await deps.enqueueSync(targets.map((t, i) => ({ ...t, delayMs: starts[i] }))) : [];
  // The last job starts this long after the plan.
  const expectedCalls = calls.reduce((sum, n) => sum + n, 0);
  const paceMs = starts.at(-1) ?? 0;
  const summary = { account: req.account, regionId: req.regionId, targets: targets.length, expectedCalls };
  req.log.info({ ...summary, paceSeconds: Math.round(paceMs / 1000) }, 'planned');
  if (paceMs > deps.intervalMs) {
    req.log.warn(
      {
        ...summary,
        maxQps: qps,
        paceSeconds: Math.round(paceMs / 1000),
        intervalSeconds: Math.round(deps.intervalMs / 1000),
      },
      "this region's jobs take longer than SYNC_INTERVAL at API_MAX_QPS: its VPCs are synced less often than configured (raise API_MAX_QPS if the account's quota allows, or SYNC_INTERVAL)",
    );
  }
  return { targets: jobs };
}

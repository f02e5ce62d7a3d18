/**
 * `sync --once`: enqueues one plan job per region through the same queues as the service, waits
 * for every sync job those plans enqueue, and reports per target. In-process workers (started by
 * the caller) do the work, alongside any service workers on the same Redis.
 */
import type { CliIo, SyncOnceOptions } from './cli.js';
import { coerceError } from './errors.js';
import { table } from './format.js';
import type { Queues, SyncJobResult } from './queues.js';
import type { TargetRef } from './source.js';

export interface TargetOutcome {
  target: TargetRef;
  status: 'succeeded' | 'superseded' | 'failed';
  result?: SyncJobResult;
  error?: string;
}

export interface SyncOnceDeps {
  accounts: readonly { name: string; regions: readonly string[] }[];
  queues: Pick<Queues, 'enqueuePlan' | 'waitFor'>;
  io: CliIo & { isTTY: boolean };
  signal: AbortSignal;
  /** Delivers the alerts of these runs before exit (bounded); undefined when no channel is configured. */
  deliverAlerts?:
    | ((runIds: string[]) => Promise<{ delivered: number; pending: number; dead: number }>)
    | undefined;
}

export async function syncOnce(deps: SyncOnceDeps, opts: SyncOnceOptions): Promise<number> {
  const { queues, io } = deps;
  const configured = [...new Set(deps.accounts.flatMap((a) => a.regions))];
  const unknown = opts.regions.filter((r) => !configured.includes(r));
  if (unknown.length > 0) {
    io.stderr.write(
      `classiclink-sync sync: region ${unknown.join(', ')} is not configured (regions: ${configured.join(', ')})\n`,
    );
    return 2;
  }
  const wanted = (r: string) => opts.regions.length === 0 || opts.regions.includes(r);
  const plans = deps.accounts.flatMap((a) =>
    a.regions.filter(wanted).map((regionId) => ({ account: a.name, regionId })),
  );
  const regions = [...new Set(plans.map((p) => p.regionId))];
  const only = opts.vpcs.length > 0 ? opts.vpcs : undefined;

  const planned: { target: TargetRef; jobId: string }[] = [];
  const planErrors: string[] = [];
  await Promise.all(
    plans.map(async ({ account, regionId }) => {
      try {
        const jobId = await queues.enqueuePlan({ account, regionId, only });
        const result = await queues.waitFor('plan', jobId);
        planned.push(...result.targets);
      } catch (err) {
        planErrors.push(`${account}/${regionId}: ${coerceError(err).message}`);
      }
    }),
  );
  if (only) {
    const found = new Set(planned.map((p) => p.target.vpcId));
    for (const vpc of only)
      if (!found.has(vpc)) planErrors.push(`${vpc}: not found in ${regions.join(', ')}`);
  }

  let done = 0;
  let failed = 0;
  const progress = () => {
    if (io.isTTY && !opts.json) {
      io.stderr.write(`\rsyncing: ${done}/${planned.length} targets done, ${failed} failed   `);
    }
  };
  progress();
  const outcomes = await Promise.all(
    planned.map(async ({ target, jobId }): Promise<TargetOutcome> => {
      try {
        const result = await queues.waitFor('sync', jobId);
        return { target, status: result.outcome === 'superseded' ? 'superseded' : 'succeeded', result };
      } catch (err) {
        failed++;
        return { target, status: 'failed', error: coerceError(err).message };
      } finally {
        done++;
        progress();
      }
    }),
  );
  if (io.isTTY && !opts.json) io.stderr.write('\n');
  outcomes.sort((a, b) =>
    `${a.target.regionId}/${a.target.vpcId}`.localeCompare(`${b.target.regionId}/${b.target.vpcId}`),
  );

  const ok = planErrors.length === 0 && outcomes.every((o) => o.status !== 'failed');
  const runIds = outcomes.flatMap((o) => (o.result ? [o.result.runId] : []));
  const alerts = deps.deliverAlerts && runIds.length > 0 ? await deps.deliverAlerts(runIds) : undefined;
  if (opts.json) {
    io.stdout.write(
      `${JSON.stringify(
        { ok, accounts: deps.accounts.map((a) => a.name), regions, planErrors, targets: outcomes, alerts },
        null,
        2,
      )}\n`,
    );
  } else {
    io.stdout.write(
      table(
        ['REGION', 'VPC', 'STATUS', 'LINKS', 'ADDED', 'REMOVED', 'PAGES', 'RUN', 'ERROR'],
        outcomes.map((o) => [
          o.target.regionId,
          o.target.vpcId,
          o.result?.baseline ? `${o.status} (baseline)` : o.status,
          o.result?.linksSeen,
          o.result?.added,
          o.result?.removed,
          o.result?.pages,
          o.result?.runId,
          o.error,
        ]),
      ),
    );
    for (const e of planErrors) io.stdout.write(`plan failed: ${e}\n`);
    const added = outcomes.reduce((n, o) => n + (o.result?.added ?? 0), 0);
    const removed = outcomes.reduce((n, o) => n + (o.result?.removed ?? 0), 0);
    io.stdout.write(
      `${outcomes.length} target(s): ${outcomes.length - failed} ok, ${failed} failed; ${added} added, ${removed} removed\n`,
    );
    if (alerts && alerts.delivered + alerts.pending + alerts.dead > 0) {
      io.stdout.write(
        `alerts: ${alerts.delivered} delivered` +
          (alerts.pending > 0 ? `, ${alerts.pending} left in the outbox for the service` : '') +
          (alerts.dead > 0 ? `, ${alerts.dead} dead-lettered` : '') +
          '\n',
      );
    }
  }
  return ok ? 0 : 1;
}

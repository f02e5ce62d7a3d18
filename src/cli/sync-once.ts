/**
 * `sync --once`: enqueues one plan job per region through the same queues as the service, waits
 * for every sync job those plans enqueue, and reports per target. In-process workers (started by
 * the caller) do the work, alongside any service workers on the same Redis.
 */

import { coerceError } from '../errors.js';
import type { TargetRef } from '../links.js';
import type { Queues, SyncJobResult } from '../queue/index.js';
import { table } from './format.js';
import type { SyncOnceOptions } from './options.js';
import type { CliIo } from './program.js';

interface TargetOutcome {
  target: TargetRef;
  status: 'succeeded' | 'superseded' | 'failed';
  result?: SyncJobResult;
  error?: string;
}

export interface SyncOnceDeps {
  accounts: readonly { name: string; regions: readonly string[] }[];
  queues: Pick<Queues, 'enqueuePlan' | 'waitFor'>;
  io: CliIo & { isTTY: boolean };
  /** The progress line (`createProgress`). Default: none, only the report. */
  progress?: Progress | undefined;
  signal: AbortSignal;
  /** Delivers the alerts of these runs before exit (bounded); undefined when no channel is configured. */
  deliverAlerts?:
    | ((runIds: string[]) => Promise<{ delivered: number; pending: number; dead: number }>)
    | undefined;
}

/** A stream the progress line is redrawn on. */
export interface ProgressOutput {
  write(text: string): unknown;
}

export interface ProgressState {
  /** Regions whose plans are still running; 0 once every target is known. */
  planning: number;
  done: number;
  total: number;
  failed: number;
}

export interface Progress {
  /** Redraws the line with this state. */
  show(s: ProgressState): void;
  /** Erases the line (before the report). */
  end(): void;
  /** Writes whole lines (log lines) above the progress line, which is redrawn below them. */
  above(text: string): void;
}

/** The progress line: what a person at a terminal sees while `sync --once` runs. */
export function progressLine(s: ProgressState): string {
  if (s.planning > 0) return `planning ${s.planning} region(s)…`;
  return `synced ${s.done}/${s.total} VPCs, ${s.failed} failed`;
}

/**
 * One line on `out` redrawn in place (carriage return, erase the line, the new text) and erased at
 * the end, before the report; lines written `above` it (log lines) scroll up over it. Not
 * `enabled` (not a terminal, or `--json`): no progress at all, so piped output stays the report
 * alone, and `above` writes its lines as they are.
 */
export function createProgress(out: ProgressOutput, enabled: boolean): Progress {
  const ERASE = '\r\x1b[2K';
  let line: string | undefined;
  return {
    show(s) {
      if (!enabled) return;
      line = progressLine(s);
      out.write(`${ERASE}${line}`);
    },
    end() {
      if (line !== undefined) out.write(ERASE);
      line = undefined;
    },
    above(text) {
      out.write(line === undefined ? text : `${ERASE}${text}${line}`);
    },
  };
}

const noProgress: Progress = { show() {}, end() {}, above() {} };

/**
 * `--region` values that no account syncs: a usage error, found before anything is written. The
 * line to print, or undefined.
 */
export function unknownRegions(
  accounts: readonly { regions: readonly string[] }[],
  regions: readonly string[],
): string | undefined {
  const configured = [...new Set(accounts.flatMap((a) => a.regions))];
  const unknown = regions.filter((r) => !configured.includes(r));
  if (unknown.length === 0) return undefined;
  return `region ${unknown.join(', ')} is not configured (regions: ${configured.join(', ')})`;
}

export async function syncOnce(deps: SyncOnceDeps, opts: SyncOnceOptions): Promise<number> {
  const { queues, io } = deps;
  const usage = unknownRegions(deps.accounts, opts.regions);
  if (usage !== undefined) {
    io.stderr.write(`classiclink-sync sync: ${usage}\n`);
    return 2;
  }
  const progress = deps.progress ?? noProgress;
  const wanted = (r: string) => opts.regions.length === 0 || opts.regions.includes(r);
  const plans = deps.accounts.flatMap((a) =>
    a.regions.filter(wanted).map((regionId) => ({ account: a.name, regionId })),
  );
  const regions = [...new Set(plans.map((p) => p.regionId))];
  const only = opts.vpcs.length > 0 ? opts.vpcs : undefined;

  const planned: { target: TargetRef; jobId: string }[] = [];
  const planErrors: string[] = [];
  const state: ProgressState = { planning: plans.length, done: 0, total: 0, failed: 0 };
  progress.show(state);
  await Promise.all(
    plans.map(async ({ account, regionId }) => {
      try {
        const jobId = await queues.enqueuePlan({ account, regionId, only });
        const result = await queues.waitFor('plan', jobId);
        planned.push(...result.targets);
      } catch (err) {
        planErrors.push(`${account}/${regionId}: ${coerceError(err).message}`);
      } finally {
        state.planning--;
        if (state.planning > 0) progress.show(state);
      }
    }),
  );
  if (only) {
    const found = new Set(planned.map((p) => p.target.vpcId));
    for (const vpc of only)
      if (!found.has(vpc)) planErrors.push(`${vpc}: not found in ${regions.join(', ')}`);
  }

  state.total = planned.length;
  progress.show(state);
  const outcomes = await Promise.all(
    planned.map(async ({ target, jobId }): Promise<TargetOutcome> => {
      try {
        const result = await queues.waitFor('sync', jobId);
        return { target, status: result.outcome === 'superseded' ? 'superseded' : 'succeeded', result };
      } catch (err) {
        state.failed++;
        return { target, status: 'failed', error: coerceError(err).message };
      } finally {
        state.done++;
        progress.show(state);
      }
    }),
  );
  progress.end();
  const failed = state.failed;
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

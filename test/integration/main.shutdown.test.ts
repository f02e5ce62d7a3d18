/**
 * Shutdown of a real `start --role worker` process: SIGTERM while a scan is in flight drains it
 * (the run finishes, exit 0, exact data); past SHUTDOWN_TIMEOUT the job is handed back to the
 * queue and another process finishes it; a second signal forces the exit. With every role, the
 * first signal stops the plan and sync workers together: a job queued during the drain is left
 * for another process, one deadline cuts both, and the last line is `stopped`.
 */
import { describe, expect, it } from 'vitest';
import type { TargetRef } from '../../src/links.js';
import { startCli } from '../helpers/child.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { dbLinks, pollRuns, runs, truthLinks } from '../helpers/rows.js';

const startPipeline = usePipeline({ checkSecret: true });

async function open(env: Record<string, string> = {}): Promise<{ pl: Pipeline; target: TargetRef }> {
  const pl = await startPipeline({
    workers: false,
    sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 5 },
    env: { LOG_LEVEL: 'info', ...env },
  });
  const vpcId = pl.sim.world.vpcs('cn-hangzhou')[0];
  if (!vpcId) throw new Error('no VPC');
  return { pl, target: { account: 'default', regionId: 'cn-hangzhou', vpcId } };
}

function startWorker(p: Pipeline, name: string, env: Record<string, string> = {}) {
  return startCli(['start', '--role', 'worker'], { ...p.childEnv, ...env }, name);
}

/** Waits until a run has `status`. */
async function pollRun(p: Pipeline, status: string, timeout = 20_000) {
  await pollRuns(p.db.pool, (rs) => rs.map((r) => r.status), { timeout, interval: 50 }).toContain(status);
}

/** A worker process with the target's scan in flight: every answer takes `latencyMs`. */
async function workerMidScan(opts: { latencyMs: number; name?: string; env?: Record<string, string> }) {
  const { pl, target } = await open();
  const w = await startWorker(pl, opts.name ?? 'worker', opts.env);
  pl.sim.setFaults({ latencyMs: opts.latencyMs });
  await pl.queues.enqueueSync([target]);
  await pollRun(pl, 'running');
  return { pl, w };
}

describe('SIGTERM on a worker process', () => {
  it('drains a scan in flight: the run succeeds after the signal, exit 0, data exact', async () => {
    const { pl, w } = await workerMidScan({ latencyMs: 1_500 });
    // The page request is in flight (1.5 s of latency) when the signal lands.
    const signalledAt = Date.now();
    w.signal('SIGTERM');
    const exit = await w.waitForExit(20_000);
    const exitedAt = Date.now();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(w.stderr()).toContain('SIGTERM: shutting down');
    expect(w.logs().map((l) => l.msg)).toContain('stopping: draining running jobs');

    const [run, ...more] = await runs(pl.db.pool);
    expect(more).toEqual([]);
    expect(run?.status).toBe('succeeded');
    expect(run?.finished_at?.getTime()).toBeGreaterThan(signalledAt);
    // Everything was released: the process ends on its own once the job is done, not through
    // main.ts's 3 s fallback exit (a leaked Redis socket used to hold it open until then).
    expect(exitedAt - (run?.finished_at?.getTime() ?? 0)).toBeLessThan(2_500);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    expect(await dbLinks(pl.db.pool)).toHaveLength(5);
  });

  it('past SHUTDOWN_TIMEOUT: exits 0 promptly and the job is finished by another process', async () => {
    const { pl, w } = await workerMidScan({
      latencyMs: 30_000,
      name: 'worker A',
      env: { SHUTDOWN_TIMEOUT: '200ms' },
    });
    const signalledAt = Date.now();
    w.signal('SIGTERM');
    // Far less than the 30 s the page would take: the drain deadline cut the scan short.
    const exit = await w.waitForExit(10_000);
    const tookMs = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    // 200 ms of drain plus closing; main.ts's 3 s fallback exit is not what ended it.
    expect(tookMs).toBeLessThan(2_500);
    expect(w.logs().map((l) => l.msg)).toContain(
      'drain deadline passed; handing running jobs back to the queue',
    );
    // Attempt 1 is recorded as failed (aborted), not left 'running', and nothing was applied.
    await pollRun(pl, 'failed');
    expect(await dbLinks(pl.db.pool)).toEqual([]);

    pl.sim.setFaults({});
    await startWorker(pl, 'worker B');
    await pollRun(pl, 'succeeded');
    const all = await runs(pl.db.pool);
    expect(all.map((r) => [r.attempt, r.status])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    // The aborted attempt says what happened: not the target's fault, handed back to the queue.
    expect(all[0]?.error_code).toBe('Aborted');
    expect(all[0]?.error_message).toMatch(/^the worker stopped before the scan finished \(shutdown\)/);
    expect(new Set(all.map((r) => r.job_id)).size).toBe(1);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
  });

  it('a second SIGTERM forces the exit (non-zero) without waiting for the drain', async () => {
    const { pl, w } = await workerMidScan({ latencyMs: 30_000 });
    w.signal('SIGTERM');
    await w.waitForLog('stopping: draining running jobs');
    w.signal('SIGTERM');
    const exit = await w.waitForExit(5_000);
    expect(exit.code).not.toBe(0);
    expect(exit.code).toBe(130);
    expect(w.logs().map((l) => l.msg)).toContain('second signal: exiting without draining');
    // Nothing half-applied.
    expect(await dbLinks(pl.db.pool)).toEqual([]);
  });
});

describe('SIGTERM on a process with every role', () => {
  it('stops every worker taking jobs at once; they drain together within one SHUTDOWN_TIMEOUT', async () => {
    const p = await startPipeline({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
      // debug: the workers' own drain lines; the schedule's first plan job runs at start; no
      // request times out (and is sent again) before the drain deadline aborts it.
      env: {
        LOG_LEVEL: 'debug',
        SYNC_INTERVAL: '1h',
        HTTP_PORT: '0',
        SHUTDOWN_TIMEOUT: '1s',
        API_TIMEOUT: '5m',
      },
    });
    const regionId = 'cn-hangzhou';
    const [vpc1, vpc2] = p.sim.world.vpcs(regionId);
    if (!vpc1 || !vpc2) throw new Error('two VPCs expected');
    const calls = (action: string, vpcId?: string) =>
      p.sim.requests.filter((r) => r.action === action && (vpcId === undefined || r.params.VpcId === vpcId));

    // Every answer hangs: the schedule's plan job (DescribeVpcs) and a sync job (its first page)
    // are both in flight when the signal lands, and neither can finish before the deadline.
    p.sim.setFaults({ latencyMs: 60_000 });
    const w = await startCli(['start'], p.childEnv, 'service');
    await p.queues.enqueueSync([{ account: 'default', regionId, vpcId: vpc1 }]);
    await expect.poll(() => calls('DescribeVpcs').length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => calls('DescribeClassicLinkInstances', vpc1).length, { timeout: 20_000 }).toBe(1);

    w.signal('SIGTERM');
    await w.waitForLog('stopping: draining running jobs');
    // New work queued while the process drains is not its to take: it waits for another process.
    const plan2 = await p.queues.enqueuePlan({ account: 'default', regionId });
    const [sync2] = await p.queues.enqueueSync([{ account: 'default', regionId, vpcId: vpc2 }]);
    expect(await w.waitForExit(20_000)).toEqual({ code: 0, signal: null });

    expect(calls('DescribeVpcs')).toHaveLength(1);
    expect(calls('DescribeClassicLinkInstances', vpc2)).toEqual([]);
    expect(await p.queues.plan.getJobState(plan2)).toBe('waiting');
    expect(await p.queues.sync.getJobState(sync2?.jobId ?? '')).toBe('waiting');

    // One drain for both workers: each stopped taking jobs, and each was cut by the one deadline,
    // before either had finished closing (closing one after the other took up to 2 x the timeout).
    const lines = w.logs();
    const at = (msg: string, queue: string) => lines.findIndex((l) => l.msg === msg && l.queue === queue);
    const closed = Math.min(at('worker closed', 'plan'), at('worker closed', 'sync'));
    for (const queue of ['plan', 'sync']) {
      for (const msg of [
        'stopped taking jobs',
        'drain deadline passed; handing running jobs back to the queue',
      ]) {
        expect(at(msg, queue), `${queue}: ${msg}`).toBeGreaterThanOrEqual(0);
        expect(at(msg, queue), `${queue}: ${msg}`).toBeLessThan(closed);
      }
    }
    expect(
      lines.filter((l) => l.msg === 'drain deadline passed; handing running jobs back to the queue'),
    ).toHaveLength(2);
    expect(lines.at(-1)?.msg).toBe('stopped');

    // Another process takes what was left: the queued plan and sync jobs, and the aborted ones.
    p.sim.setFaults({});
    await startWorker(p, 'worker B');
    await p.queues.waitFor('plan', plan2, 30_000);
    await p.queues.waitFor('sync', sync2?.jobId ?? '', 30_000);
    await expect.poll(() => dbLinks(p.db.pool), { timeout: 30_000 }).toEqual(truthLinks(p.sim));
  });
});

/**
 * `sync --once` is a one-shot: a target that keeps failing is reported after one job attempt (the
 * API client's retries inside API_RETRY_DEADLINE), not after the service's job-level retries; it
 * logs only what went wrong unless LOG_LEVEL asks for more; each applied scan is one log line.
 */
import { describe, expect, it } from 'vitest';
import { type LogLine, runCli } from '../helpers/child.js';
import { useFilePipeline } from '../helpers/pipeline.js';
import { runs } from '../helpers/rows.js';

const pl = useFilePipeline({
  workers: false,
  sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 2 },
  // Short, so one job attempt of a failing target is short; the service's job-level retries
  // (5 attempts, 5 s backoff doubling) would still take over a minute.
  env: { API_RETRY_DEADLINE: '2s' },
});

/** The child's env without LOG_LEVEL (the pipeline sets one), plus `over`. */
function envWithout(key: string, over: Record<string, string> = {}): Record<string, string> {
  const { [key]: _dropped, ...rest } = pl.childEnv;
  return { ...rest, ...over };
}

function jsonLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

interface SyncJson {
  ok: boolean;
  targets: { target: { vpcId: string }; status: string; error?: string }[];
}

describe('sync --once', () => {
  it('logs at warn by default, so stderr holds no info line; an explicit LOG_LEVEL wins', async () => {
    const quiet = await runCli(['sync', '--once'], envWithout('LOG_LEVEL'));
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain('3 target(s): 3 ok, 0 failed');
    expect(quiet.stderr).toBe('');

    const info = await runCli(['sync', '--once'], envWithout('LOG_LEVEL', { LOG_LEVEL: 'info' }));
    expect(info.code, info.stderr).toBe(0);
    expect(jsonLines(info.stderr).some((l) => l.level === 30)).toBe(true);
  });

  it('logs each applied scan once', async () => {
    const vpc = pl.sim.world.vpcs('cn-hangzhou')[0] ?? '';
    pl.sim.world.attach('cn-hangzhou', pl.sim.world.createInstance('cn-hangzhou'), vpc);
    const r = await runCli(['sync', '--once', '--json'], { ...pl.childEnv, LOG_LEVEL: 'info' });
    expect(r.code, r.stderr).toBe(0);
    const applied = jsonLines(r.stderr).filter((l) => /scan applied/.test(l.msg));
    const perRun = new Map<unknown, number>();
    for (const l of applied) perRun.set(l.runId, (perRun.get(l.runId) ?? 0) + 1);
    // Three targets, one changed: three applied scans, one line each.
    expect(perRun.size).toBe(3);
    expect([...perRun.values()]).toEqual([1, 1, 1]);
  });

  it('a target that keeps failing fails after one job attempt; the others succeed', async () => {
    const [bad, ...good] = pl.sim.world.vpcs('cn-hangzhou');
    if (!bad) throw new Error('no VPC');
    pl.sim.setFaults({ failVpcs: { [bad]: 'InternalError' } });
    pl.sim.clearRequests();
    const before = (await runs(pl.db.pool)).length;

    const r = await runCli(['sync', '--once', '--json'], pl.childEnv);
    expect(r.code, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout) as SyncJson;
    expect(out.ok).toBe(false);
    const status = Object.fromEntries(out.targets.map((t) => [t.target.vpcId, t.status]));
    expect(status).toEqual(Object.fromEntries([[bad, 'failed'], ...good.map((v) => [v, 'succeeded'])]));
    expect(out.targets.find((t) => t.target.vpcId === bad)?.error).toContain('InternalError');

    // One job attempt: one run, attempt 1, and BullMQ made one attempt of the job.
    const badRuns = (await runs(pl.db.pool)).slice(before).filter((run) => run.vpc_id === bad);
    expect(badRuns.map((run) => [run.attempt, run.status, run.error_code])).toEqual([
      [1, 'failed', 'InternalError'],
    ]);
    const job = await pl.queues.sync.getJob(badRuns[0]?.job_id ?? '');
    expect(job?.attemptsMade).toBe(1);
    // Inside that attempt the API client retried (InternalError is retryable) until its deadline.
    const asked = pl.sim.requests.filter((q) => q.params.VpcId === bad);
    expect(asked.length).toBeGreaterThan(1);
    expect(asked.every((q) => q.code === 'InternalError')).toBe(true);
  });
});

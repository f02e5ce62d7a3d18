/**
 * What a user sees when a target fails, through child processes of the real CLI against the
 * simulator and a cloned database: a VPC named in SYNC_TARGETS that the API does not know is a
 * failed run with the API's code (never "0 links"), and `status` says a target is failing while
 * its consecutive failures last, and marks an error a later success left behind as old.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/child.js';
import { useFilePipeline } from '../helpers/pipeline.js';
import { linkEvents, runs } from '../helpers/rows.js';

const pl = useFilePipeline({ workers: false, sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2 } });

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { ...pl.childEnv, ...env });

const vpc = (i: number): string => {
  const v = pl.sim.world.vpcs('cn-hangzhou')[i];
  if (!v) throw new Error('no VPC');
  return v;
};

interface StatusJson {
  targets: {
    vpcId: string;
    state: string;
    consecutiveFailures: number;
    lastErrorCode: string | null;
    lastFailureAt: string | null;
    lastSuccessAt: string | null;
    lastErrorBeforeLastSuccess: boolean;
  }[];
}

async function status(): Promise<{ text: string; json: StatusJson }> {
  const [text, json] = await Promise.all([cli(['status']), cli(['status', '--json'])]);
  expect(text.code, text.stderr).toBe(0);
  expect(json.code, json.stderr).toBe(0);
  return { text: text.stdout, json: JSON.parse(json.stdout) as StatusJson };
}

const lineOf = (text: string, vpcId: string) => text.split('\n').find((l) => l.includes(vpcId)) ?? '';

describe('a VPC named in SYNC_TARGETS that the API does not know', () => {
  const typo = 'vpc-doesnotexist';

  it('is a failed run with InvalidVpcId.NotFound, never an empty baseline', async () => {
    const real = vpc(0);
    const env = { SYNC_REGIONS: 'cn-hangzhou', SYNC_TARGETS: `cn-hangzhou:${typo},cn-hangzhou:${real}` };
    const r = await cli(['sync', '--once'], env);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const line = lineOf(r.stdout, typo);
    expect(line).toMatch(/\bfailed\b/);
    expect(line).not.toMatch(/baseline|succeeded/);
    expect(line).toContain('InvalidVpcId.NotFound');
    // The target that exists is synced as usual.
    expect(lineOf(r.stdout, real)).toMatch(/succeeded \(baseline\)/);
    expect(r.stdout).toContain('2 target(s): 1 ok, 1 failed');

    const mine = (await runs(pl.db.pool)).filter((x) => x.vpc_id === typo);
    expect(mine.map((x) => [x.status, x.error_code])).toEqual([['failed', 'InvalidVpcId.NotFound']]);
    expect(mine[0]?.error_message).toContain('The specified VpcId does not exist');
    const { rows: runRows } = await pl.db.pool.query<{ request_id: string | null; baseline: boolean }>(
      'SELECT request_id, baseline FROM sync_runs WHERE vpc_id = $1',
      [typo],
    );
    // The request id of the API's answer, to quote to Alibaba support.
    expect(runRows[0]?.request_id).toMatch(/^[0-9A-F-]{36}$/);
    expect(runRows[0]?.baseline).toBe(false);
    const { rows: targetRows } = await pl.db.pool.query(
      `SELECT last_error_code, last_request_id, consecutive_failures, last_success_at,
              last_applied_scan_started_at
         FROM sync_targets WHERE vpc_id = $1`,
      [typo],
    );
    expect(targetRows).toEqual([
      {
        last_error_code: 'InvalidVpcId.NotFound',
        last_request_id: runRows[0]?.request_id,
        consecutive_failures: 1,
        last_success_at: null,
        last_applied_scan_started_at: null,
      },
    ]);
    // No baseline was recorded for it: its first real scan will still be the baseline.
    expect((await linkEvents(pl.db.pool)).filter((e) => e.vpc_id === typo)).toEqual([]);

    const json = await cli(['sync', '--once', '--json'], env);
    expect(json.code, json.stderr).toBe(1);
    const out = JSON.parse(json.stdout) as {
      ok: boolean;
      targets: { target: { vpcId: string }; status: string; error?: string }[];
    };
    expect(out.ok).toBe(false);
    const failed = out.targets.filter((t) => t.status === 'failed');
    expect(failed.map((t) => t.target.vpcId)).toEqual([typo]);
    expect(failed[0]?.error).toContain('InvalidVpcId.NotFound');
  });

  it('status says it is failing, with the code', async () => {
    const { text, json } = await status();
    expect(json.targets.find((t) => t.vpcId === typo)).toMatchObject({
      state: 'failing',
      consecutiveFailures: 2,
      lastErrorCode: 'InvalidVpcId.NotFound',
    });
    const line = lineOf(text, typo);
    expect(line).toContain('InvalidVpcId.NotFound');
    expect(line).toMatch(/\bfailing\b/);
    expect(text).toMatch(/target\(s\), 1 failing,/);
  });
});

describe('status after failures and successes', () => {
  it('a target failing after a success is failing; a success after a failure marks the error as old', async () => {
    const v = vpc(1);
    const ok = await cli(['sync', '--once', '--vpc', v]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);

    pl.sim.setFaults({ failVpcs: { [v]: 'Forbidden.RAM' } });
    const bad = await cli(['sync', '--once', '--vpc', v]);
    expect(bad.code, bad.stdout).toBe(1);
    const failing = await status();
    // Its last success is recent (not stale), but its last run failed: that is not "ok".
    expect(failing.json.targets.find((t) => t.vpcId === v)).toMatchObject({
      state: 'failing',
      consecutiveFailures: 1,
      lastErrorCode: 'Forbidden.RAM',
      lastErrorBeforeLastSuccess: false,
    });
    const failingLine = lineOf(failing.text, v);
    expect(failingLine).toMatch(/\bfailing\b/);
    expect(failingLine).toContain('Forbidden.RAM');
    expect(failingLine).not.toMatch(/\bok\b|before the last success/);

    pl.sim.setFaults({});
    const again = await cli(['sync', '--once', '--vpc', v]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const recovered = await status();
    const row = recovered.json.targets.find((t) => t.vpcId === v);
    expect(row).toMatchObject({
      state: 'ok',
      consecutiveFailures: 0,
      lastErrorCode: 'Forbidden.RAM',
      lastErrorBeforeLastSuccess: true,
    });
    // The old error keeps its time, and says it came before the last success.
    const line = lineOf(recovered.text, v);
    expect(line).toMatch(/\bok$/);
    expect(line).toContain('Forbidden.RAM');
    expect(line).toContain('before the last success');
    const failedAt = row?.lastFailureAt ?? '';
    expect(line).toContain(failedAt.replace(/\.\d{3}Z$/, 'Z'));
  });
});

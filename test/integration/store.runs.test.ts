import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createStore } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { useTestDb } from '../helpers/db.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb({ checkLeaks: true });

async function setup() {
  const { pool } = await db();
  return { pool, store: createStore({ pool, log }) };
}

describe('store runs and targets', () => {
  it('startRun creates the target on first use and a running run each time', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    expect(await store.listTargets({ account: t.account })).toEqual([]);
    const [r1, r2] = await Promise.all([
      store.startRun({ target: t, jobId: 'j1', attempt: 1, startedAt: at(0) }),
      store.startRun({ target: t, jobId: 'j2', attempt: 1, startedAt: at(1) }),
    ]);
    expect(r1).toMatch(/^\d+$/);
    expect(r1).not.toBe(r2);
    const targets = await store.listTargets({ account: t.account });
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatchObject({ ...t, consecutiveFailures: 0, lastRunId: null, activeLinks: 0 });
    expect(await store.getRun(r1 as string)).toMatchObject({
      id: r1,
      ...t,
      jobId: 'j1',
      status: 'running',
      startedAt: at(0),
      finishedAt: null,
      baseline: false,
    });
    expect(await store.getRun('999999999')).toBeUndefined();
    expect(await store.getRun('not-a-number')).toBeUndefined();
  });

  it('startRun closes a run of the same job left running by a worker that died', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    const other = await store.startRun({ target: t, jobId: 'other-job', attempt: 1, startedAt: at(0) });
    const lost = await store.startRun({ target: t, jobId: 'j1', attempt: 1, startedAt: at(1) });
    const retry = await store.startRun({ target: t, jobId: 'j1', attempt: 1, startedAt: at(2) });
    expect(await store.getRun(lost)).toMatchObject({
      status: 'failed',
      errorCode: 'WorkerLost',
      finishedAt: at(2),
    });
    expect(await store.getRun(retry)).toMatchObject({ status: 'running' });
    expect(await store.getRun(other)).toMatchObject({ status: 'running' });
    // The dead worker, had it survived, could not apply its scan any more.
    const late = await store.applyScan({
      runId: lost,
      target: t,
      scanStartedAt: at(1),
      links: [{ vpcId: t.vpcId, instanceId: 'i-1' }],
      pages: 1,
      confirmedRemovals: new Set(),
      channels: [],
      alertOnBaseline: false,
      detectedAt: at(3),
    });
    expect(late).toMatchObject({ outcome: 'already-finished' });
  });

  it('failRun records the error, bumps consecutive failures, changes no link; success resets', async () => {
    const { pool, store } = await setup();
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });
    const linksBefore = await pool.query('SELECT * FROM classic_links WHERE account = $1', [t.account]);
    const eventsBefore = await pool.query('SELECT * FROM link_events WHERE account = $1', [t.account]);

    for (const [i, minute] of [10, 20].entries()) {
      const runId = await store.startRun({ target: t, jobId: 'j', attempt: i + 1, startedAt: at(minute) });
      await store.failRun({
        runId,
        target: t,
        code: 'Forbidden.RAM',
        message: 'User not authorized to operate on the specified resource.',
        requestId: `rid-${minute}`,
        finishedAt: at(minute + 1),
      });
      expect(await store.getRun(runId)).toMatchObject({
        status: 'failed',
        errorCode: 'Forbidden.RAM',
        errorMessage: 'User not authorized to operate on the specified resource.',
        requestId: `rid-${minute}`,
        finishedAt: at(minute + 1),
      });
      const [target] = await store.listTargets({ account: t.account });
      expect(target).toMatchObject({
        consecutiveFailures: i + 1,
        lastFailureAt: at(minute + 1),
        lastErrorCode: 'Forbidden.RAM',
        lastRequestId: `rid-${minute}`,
        lastRunId: runId,
        lastSuccessAt: new Date(at(0).getTime() + 30_000),
      });

      // Idempotent: a second failRun (or one after the run finished) changes nothing.
      await store.failRun({ runId, target: t, code: 'Other', message: 'x', finishedAt: at(99) });
      expect((await store.listTargets({ account: t.account }))[0]?.consecutiveFailures).toBe(i + 1);
      expect((await store.getRun(runId))?.errorCode).toBe('Forbidden.RAM');
    }

    expect((await pool.query('SELECT * FROM classic_links WHERE account = $1', [t.account])).rows).toEqual(
      linksBefore.rows,
    );
    expect((await pool.query('SELECT * FROM link_events WHERE account = $1', [t.account])).rows).toEqual(
      eventsBefore.rows,
    );

    const ok = await scan(store, t, ['i-1'], { minute: 30 });
    const [target] = await store.listTargets({ account: t.account });
    expect(target).toMatchObject({
      consecutiveFailures: 0,
      lastRunId: ok.runId,
      lastErrorCode: 'Forbidden.RAM',
    });
  });

  it('failRun after a successful apply of the same run is a no-op', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    const { runId } = await scan(store, t, ['i-1'], { minute: 0 });
    await store.failRun({ runId, target: t, code: 'Late', message: 'late failure', finishedAt: at(2) });
    expect(await store.getRun(runId)).toMatchObject({ status: 'succeeded', errorCode: null });
    expect((await store.listTargets({ account: t.account }))[0]?.consecutiveFailures).toBe(0);
  });

  it('failRun caps a huge error message', async () => {
    const { store } = await setup();
    const t = uniqueTarget();
    const runId = await store.startRun({ target: t, jobId: 'j', attempt: 1, startedAt: at(0) });
    await store.failRun({ runId, target: t, code: 'X', message: 'm'.repeat(100_000), finishedAt: at(1) });
    expect((await store.getRun(runId))?.errorMessage?.length).toBe(2000);
  });

  it('syncTargetList creates, retires and un-retires targets of one account and region', async () => {
    const { store } = await setup();
    const account = uniqueTarget().account;
    const other = { account, regionId: 'cn-beijing', vpcId: 'vpc-x' };
    await store.startRun({ target: other, jobId: 'j', attempt: 1, startedAt: at(0) });

    expect(
      await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-1', 'vpc-2', 'vpc-2'] }),
    ).toEqual({ created: 2, unretired: 0, retired: 0, finalScans: [], lastPages: {} });
    expect(
      await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-2', 'vpc-3'] }),
    ).toEqual({
      created: 1,
      unretired: 0,
      retired: 1,
      finalScans: [],
      lastPages: {},
    });
    const retired = (await store.listTargets({ account }))
      .filter((r) => r.retiredAt !== null)
      .map((r) => r.vpcId);
    expect(retired).toEqual(['vpc-1']);
    // Idempotent.
    expect(
      await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-2', 'vpc-3'] }),
    ).toEqual({
      created: 0,
      unretired: 0,
      retired: 0,
      finalScans: [],
      lastPages: {},
    });
    expect(await store.syncTargetList({ account, regionId: 'cn-hangzhou', vpcIds: ['vpc-1'] })).toEqual({
      created: 0,
      unretired: 1,
      retired: 2,
      finalScans: [],
      lastPages: {},
    });
    const rows = await store.listTargets({ account });
    expect(rows.map((r) => [r.regionId, r.vpcId, r.retiredAt === null])).toEqual([
      ['cn-beijing', 'vpc-x', true],
      ['cn-hangzhou', 'vpc-1', true],
      ['cn-hangzhou', 'vpc-2', false],
      ['cn-hangzhou', 'vpc-3', false],
    ]);

    // A successful scan of a retired target un-retires it.
    await scan(store, { account, regionId: 'cn-hangzhou', vpcId: 'vpc-2' }, [], { minute: 5 });
    const vpc2 = (await store.listTargets({ account })).find((r) => r.vpcId === 'vpc-2');
    expect(vpc2?.retiredAt).toBeNull();
  });

  it('syncTargetList gives the pages of the last scan of listed targets that read more than one', async () => {
    const { store } = await setup();
    const account = uniqueTarget().account;
    const region = 'cn-hangzhou';
    const list = (vpcIds: string[]) => store.syncTargetList({ account, regionId: region, vpcIds });
    await list(['vpc-a', 'vpc-b', 'vpc-c']);
    const instances = (n: number) => Array.from({ length: n }, (_, i) => `i-${i}`);
    await scan(store, { account, regionId: region, vpcId: 'vpc-a' }, instances(250), { minute: 1 });
    await scan(store, { account, regionId: region, vpcId: 'vpc-b' }, instances(40), { minute: 1 });
    expect((await list(['vpc-a', 'vpc-b', 'vpc-c'])).lastPages).toEqual({ 'vpc-a': 3 });
    // The last scan counts, not the largest; a target no longer listed is not paced.
    await scan(store, { account, regionId: region, vpcId: 'vpc-b' }, instances(101), { minute: 2 });
    await scan(store, { account, regionId: region, vpcId: 'vpc-a' }, instances(100), { minute: 2 });
    expect((await list(['vpc-a', 'vpc-b', 'vpc-c'])).lastPages).toEqual({ 'vpc-b': 2 });
    expect((await list(['vpc-a', 'vpc-c'])).lastPages).toEqual({});
  });

  it('syncTargetList names the unlisted targets that still have active links (they need a final scan)', async () => {
    const { store } = await setup();
    const account = uniqueTarget().account;
    const region = 'cn-hangzhou';
    await store.syncTargetList({ account, regionId: region, vpcIds: ['vpc-a', 'vpc-b', 'vpc-c'] });
    await scan(store, { account, regionId: region, vpcId: 'vpc-a' }, ['i-1', 'i-2'], { minute: 1 });
    await scan(store, { account, regionId: region, vpcId: 'vpc-b' }, [], { minute: 1 });
    // vpc-a (2 active links) and vpc-b (none) disappear from the listing: only vpc-a needs a scan.
    expect(await store.syncTargetList({ account, regionId: region, vpcIds: ['vpc-c'] })).toEqual({
      created: 0,
      unretired: 0,
      retired: 2,
      finalScans: ['vpc-a'],
      lastPages: {},
    });
    // Still so on the next plan, until a scan records the removals.
    expect((await store.syncTargetList({ account, regionId: region, vpcIds: ['vpc-c'] })).finalScans).toEqual(
      ['vpc-a'],
    );
    await scan(store, { account, regionId: region, vpcId: 'vpc-a' }, [], { minute: 2 });
    expect((await store.syncTargetList({ account, regionId: region, vpcIds: ['vpc-c'] })).finalScans).toEqual(
      [],
    );
  });
});

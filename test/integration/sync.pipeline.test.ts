/**
 * The sync pipeline end to end, in-process: BullMQ plan and sync jobs on the machine's Redis,
 * the simulator as the API, a cloned database. Each test checks Postgres against the
 * simulator's truth and the exact events recorded.
 */
import { describe, expect, it } from 'vitest';
import { FatalError } from '../../src/errors.js';
import { type AppliedChanges, PAGE_PARALLEL, runSync } from '../../src/sync/scan.js';
import type { LinkSource } from '../../src/sync/source.js';
import { captureLog } from '../helpers/log.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { dbLinks, linkEvents, truthLinks } from '../helpers/rows.js';

const open = usePipeline();

function firstVpc(pl: Pipeline, regionId = 'cn-hangzhou'): string {
  const vpc = pl.sim.world.vpcs(regionId)[0];
  if (!vpc) throw new Error('no VPC');
  return vpc;
}

describe('sync pipeline', () => {
  it('baseline: the first round records every link as baseline events, and no alert', async () => {
    const pl = await open({ env: { ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook' } });
    const outcomes = await pl.round();
    expect(outcomes.length).toBe(6); // 2 regions × 3 VPCs
    expect(outcomes.every((o) => o.ok && o.result.outcome === 'applied' && o.result.baseline)).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const ev = await linkEvents(pl.db.pool);
    expect(ev.length).toBe(truthLinks(pl.sim).length);
    expect(ev.every((e) => e.baseline && e.change === 'added')).toBe(true);
    const outbox = await pl.db.pool.query('SELECT 1 FROM alert_outbox');
    expect(outbox.rowCount).toBe(0);
  });

  it('attach and detach: exactly one added and one removed event, one outbox row per channel', async () => {
    const pl = await open({ env: { ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook' } });
    await pl.round();
    const vpc = firstVpc(pl);
    const gone = pl.sim.world.links('cn-hangzhou', vpc)[0];
    if (!gone) throw new Error('no link');
    pl.sim.world.detach('cn-hangzhou', gone.instanceId, vpc);
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, vpc);

    const outcomes = await pl.round();
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const changes = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(changes.map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`).sort()).toEqual(
      [`added ${vpc}/${fresh}`, `removed ${vpc}/${gone.instanceId}`].sort(),
    );
    const outbox = await pl.db.pool.query<{
      channel: string;
      payload: { addedCount: number; removedCount: number };
    }>('SELECT channel, payload FROM alert_outbox');
    expect(outbox.rows).toHaveLength(1);
    expect(outbox.rows[0]?.channel).toBe('webhook');
    expect(outbox.rows[0]?.payload).toMatchObject({ addedCount: 1, removedCount: 1 });
  });

  it('a no-op resync writes no link rows', async () => {
    const pl = await open();
    await pl.round();
    const before = await pl.db.pool.query(
      'SELECT xmin::text, * FROM classic_links ORDER BY vpc_id, instance_id',
    );
    const outcomes = await pl.round();
    expect(outcomes.every((o) => o.ok && o.result.added === 0 && o.result.removed === 0)).toBe(true);
    const after = await pl.db.pool.query(
      'SELECT xmin::text, * FROM classic_links ORDER BY vpc_id, instance_id',
    );
    expect(after.rows).toEqual(before.rows);
    expect((await linkEvents(pl.db.pool)).filter((e) => !e.baseline)).toHaveLength(0);
  });

  it('a page that fails for good: the run fails with the code, nothing is applied', async () => {
    const broken = { vpc: '' };
    const pl = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 150 },
      wrapSource: (s): LinkSource => ({
        ...s,
        page: (t, n, size, o) => {
          if (t.vpcId === broken.vpc && n === 2) {
            return Promise.reject(
              new FatalError('page 2 refused', { code: 'Forbidden.RAM', requestId: 'REQ-2' }),
            );
          }
          return s.page(t, n, size, o);
        },
      }),
    });
    broken.vpc = firstVpc(pl);
    const outcomes = await pl.round();
    const bad = outcomes.find((o) => o.target.vpcId === broken.vpc);
    expect(bad?.ok).toBe(false);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    expect((await dbLinks(pl.db.pool)).filter((k) => k.startsWith(broken.vpc))).toEqual([]);
    const run = await pl.db.pool.query(
      'SELECT status, error_code, request_id FROM sync_runs WHERE vpc_id = $1 ORDER BY id',
      [broken.vpc],
    );
    // Fatal: one attempt only, recorded with the API's code and request id.
    expect(run.rows).toEqual([{ status: 'failed', error_code: 'Forbidden.RAM', request_id: 'REQ-2' }]);
    const target = await pl.db.pool.query('SELECT consecutive_failures FROM sync_targets WHERE vpc_id = $1', [
      broken.vpc,
    ]);
    expect(target.rows[0]?.consecutive_failures).toBe(1);
  });

  it('a VPC of ten pages: page 1, then the rest four at a time, every link recorded', async () => {
    let inFlight = 0;
    let most = 0;
    const pl = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 1_000 },
      wrapSource: (s): LinkSource => ({
        ...s,
        page: async (t, n, size, o) => {
          inFlight++;
          most = Math.max(most, inFlight);
          try {
            return await s.page(t, n, size, o);
          } finally {
            inFlight--;
          }
        },
      }),
    });
    const [outcome] = await pl.round();
    expect(outcome?.ok).toBe(true);
    expect(most).toBe(PAGE_PARALLEL);
    const pages = pl.sim.requests.filter((r) => r.params.VpcId !== undefined).map((r) => r.params.PageNumber);
    expect(pages.map(Number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await dbLinks(pl.db.pool)).toHaveLength(1_000);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
  });

  it('TotalCount changing mid-scan triggers a rescan and no false event', async () => {
    let drifted = false;
    let pagesServed = 0;
    const pl: Pipeline = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 250 },
      wrapSource: (s): LinkSource => ({
        ...s,
        page: async (t, n, size, o) => {
          const page = await s.page(t, n, size, o);
          pagesServed++;
          // After the first page of the second round, a link appears: later pages see a new TotalCount.
          if (armed && !drifted && n === 1) {
            drifted = true;
            const id = pl.sim.world.createInstance('cn-hangzhou');
            pl.sim.world.attach('cn-hangzhou', id, t.vpcId);
          }
          return page;
        },
      }),
    });
    let armed = false;
    await pl.round();
    armed = true;
    pagesServed = 0;
    const outcomes = await pl.round();
    expect(drifted).toBe(true);
    expect(outcomes[0]?.ok).toBe(true);
    // The drifted scan: page 1, then pages 2 and 3 together (judged in order: it stops at page 2);
    // then a full rescan of 3 pages.
    expect(pagesServed).toBe(6);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const changes = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(changes.map((e) => e.change)).toEqual(['added']);
  });

  it('a link missing from a scan but shown by the InstanceId lookup is not removed', async () => {
    const hide = { instanceId: '' };
    const pl = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 5 },
      wrapSource: (s): LinkSource => ({
        ...s,
        page: async (t, n, size, o) => {
          const page = await s.page(t, n, size, o);
          if (!hide.instanceId) return page;
          // An inconsistent answer: one link left out, and TotalCount lowered to match.
          const links = page.links.filter((l) => l.instanceId !== hide.instanceId);
          return { ...page, links, totalCount: page.totalCount - (page.links.length - links.length) };
        },
      }),
    });
    await pl.round();
    const vpc = firstVpc(pl);
    hide.instanceId = pl.sim.world.links('cn-hangzhou', vpc)[2]?.instanceId ?? '';
    const lookupsBefore = pl.sim.requests.filter((r) => r.params.InstanceId).length;
    const outcomes = await pl.round();
    expect(outcomes[0]?.ok).toBe(true);
    expect(pl.sim.requests.filter((r) => r.params.InstanceId).length).toBe(lookupsBefore + 1);
    expect((await linkEvents(pl.db.pool)).filter((e) => e.change === 'removed')).toHaveLength(0);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
  });

  it('a detach confirmed by the lookup is removed', async () => {
    const pl = await open({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 3 } });
    await pl.round();
    const vpc = firstVpc(pl);
    const l = pl.sim.world.links('cn-hangzhou', vpc)[0];
    if (!l) throw new Error('no link');
    pl.sim.world.detach('cn-hangzhou', l.instanceId, vpc);
    await pl.round();
    const lookups = pl.sim.requests.filter((r) => r.params.InstanceId);
    expect(lookups.map((r) => r.params.InstanceId)).toEqual([l.instanceId]);
    expect(
      (await linkEvents(pl.db.pool)).filter((e) => e.change === 'removed').map((e) => e.instance_id),
    ).toEqual([l.instanceId]);
  });

  it('a VPC deleted with its links between two rounds: each link is recorded removed once, after a lookup', async () => {
    const pl = await open({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 4 } });
    await pl.round();
    const gone = firstVpc(pl);
    const lost = pl.sim.world.deleteVpc('cn-hangzhou', gone).sort();
    expect(lost).toHaveLength(4);
    pl.sim.clearRequests();

    const second = await pl.round();
    expect(second.every((o) => o.ok)).toBe(true);
    // The deleted VPC was scanned once more although DescribeVpcs no longer lists it.
    expect(second.map((o) => o.target.vpcId)).toContain(gone);
    const removed = (await linkEvents(pl.db.pool)).filter((e) => e.change === 'removed');
    expect(removed.map((e) => `${e.vpc_id}/${e.instance_id}`).sort()).toEqual(
      lost.map((i) => `${gone}/${i}`),
    );
    // Each removal was confirmed by an InstanceId lookup first.
    const looked = pl.sim.requests.flatMap((r) => r.params.InstanceId?.split(',') ?? []).sort();
    expect(looked).toEqual(lost);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const target = (await pl.database.store.listTargets({ account: pl.config.SYNC_ACCOUNT })).find(
      (t) => t.vpcId === gone,
    );
    expect(target).toBeDefined();

    // Nothing left to record: the next round leaves the gone VPC alone and adds no event.
    const third = await pl.round();
    expect(third.map((o) => o.target.vpcId)).not.toContain(gone);
    expect((await linkEvents(pl.db.pool)).filter((e) => e.change === 'removed')).toHaveLength(4);
    const retired = (await pl.database.store.listTargets({ account: pl.config.SYNC_ACCOUNT })).find(
      (t) => t.vpcId === gone,
    );
    expect(retired?.retiredAt).not.toBeNull();
  });

  it('duplicate jobs for a target are deduplicated, and repeated syncs add no duplicate events', async () => {
    const pl = await open({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 3 } });
    const target = { account: 'default', regionId: 'cn-hangzhou', vpcId: firstVpc(pl) };
    const [a, b] = await Promise.all([pl.queues.enqueueSync([target]), pl.queues.enqueueSync([target])]);
    expect(a[0]?.jobId).toBe(b[0]?.jobId);
    await pl.queues.waitFor('sync', a[0]?.jobId ?? '', 30_000);
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, target.vpcId);
    // The same change seen by several syncs (as after a retry or a duplicate job) is recorded once.
    for (let i = 0; i < 3; i++) {
      const [job] = await pl.queues.enqueueSync([target]);
      await pl.queues.waitFor('sync', job?.jobId ?? '', 30_000);
    }
    const added = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(added.map((e) => e.instance_id)).toEqual([fresh]);
    const runs = await pl.db.pool.query(
      "SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'",
    );
    expect(runs.rows[0]?.n).toBe(4);
  });

  it('a job retried after its transaction committed applies nothing twice', async () => {
    const pl = await open({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 3 } });
    await pl.round();
    const target = { account: 'default', regionId: 'cn-hangzhou', vpcId: firstVpc(pl) };
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, target.vpcId);
    const store = pl.database.store;
    let crashes = 0;
    const crashingStore = {
      ...store,
      // Commit, then "die" before the job is acknowledged.
      applyScan: async (input: Parameters<typeof store.applyScan>[0]) => {
        const result = await store.applyScan(input);
        if (crashes++ === 0) throw new Error('Connection terminated unexpectedly');
        return result;
      },
    };
    const deps = { sourceFor: () => pl.source, store: crashingStore, channels: [], alertOnBaseline: false };
    await expect(runSync(deps, { target, jobId: 'j1', attempt: 1, log: pl.log })).rejects.toThrow(
      /Connection/,
    );
    const again = await runSync(deps, { target, jobId: 'j1', attempt: 2, log: pl.log });
    expect(again).toMatchObject({ outcome: 'applied', added: 0, removed: 0 });
    expect((await linkEvents(pl.db.pool)).filter((e) => !e.baseline).map((e) => e.instance_id)).toEqual([
      fresh,
    ]);
  });

  it("the after-applied hook hears what a run changed; its failure is logged, never the run's", async () => {
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 3 },
    });
    const target = { account: 'default', regionId: 'cn-hangzhou', vpcId: firstVpc(pl) };
    const heard: AppliedChanges[] = [];
    const captured = captureLog('warn');
    const deps = {
      sourceFor: () => pl.source,
      store: pl.database.store,
      channels: [],
      alertOnBaseline: false,
      afterApplied: async (c: AppliedChanges) => {
        heard.push(c);
        throw new Error('redis is down');
      },
    };
    const req = (jobId: string) => ({ target, jobId, attempt: 1, log: captured.log });
    expect(await runSync(deps, req('j1'))).toMatchObject({ outcome: 'applied', baseline: true, added: 3 });
    // Nothing changed: the hook is not called.
    expect(await runSync(deps, req('j2'))).toMatchObject({ outcome: 'applied', added: 0, removed: 0 });
    const gone = pl.sim.world.links('cn-hangzhou', target.vpcId)[0]?.instanceId ?? '';
    pl.sim.world.detach('cn-hangzhou', gone, target.vpcId);
    expect(await runSync(deps, req('j3'))).toMatchObject({ outcome: 'applied', removed: 1 });
    expect(heard.map((c) => [c.baseline, c.added.length, c.removed.map((l) => l.instanceId)])).toEqual([
      [true, 3, []],
      [false, 0, [gone]],
    ]);
    const runStatuses = await pl.db.pool.query('SELECT status FROM sync_runs ORDER BY id');
    expect(runStatuses.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const warned = captured.lines.filter((l) => l.includes('the context of the changes was not scheduled'));
    expect(warned).toHaveLength(2);
    expect(warned[0]).toContain('redis is down');
  });

  it('an older scan finishing after a newer one is superseded and applies nothing', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let holdFirst = true;
    let pausedResolve: () => void = () => {};
    const paused = new Promise<void>((r) => {
      pausedResolve = r;
    });
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 3 },
    });
    const target = { account: 'default', regionId: 'cn-hangzhou', vpcId: firstVpc(pl) };
    const slow: LinkSource = {
      ...pl.source,
      page: async (t, n, size, o) => {
        const page = await pl.source.page(t, n, size, o);
        if (holdFirst) {
          holdFirst = false;
          pausedResolve();
          await gate; // the old scan stalls after reading its (now outdated) page
        }
        return page;
      },
    };
    const base = { store: pl.database.store, channels: [], alertOnBaseline: false };
    const older = runSync(
      { ...base, sourceFor: () => slow },
      { target, jobId: 'old', attempt: 1, log: pl.log },
    );
    await paused;
    const l = pl.sim.world.links('cn-hangzhou', target.vpcId)[0];
    if (!l) throw new Error('no link');
    pl.sim.world.detach('cn-hangzhou', l.instanceId, target.vpcId);
    const newer = await runSync(
      { ...base, sourceFor: () => pl.source },
      { target, jobId: 'new', attempt: 1, log: pl.log },
    );
    expect(newer.outcome).toBe('applied');
    release();
    expect((await older).outcome).toBe('superseded');
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const statuses = await pl.db.pool.query('SELECT job_id, status FROM sync_runs ORDER BY job_id');
    expect(statuses.rows).toEqual([
      { job_id: 'new', status: 'succeeded' },
      { job_id: 'old', status: 'superseded' },
    ]);
  });

  it('a retryable API failure that persists fails the run after the attempts, recording the code', async () => {
    const pl = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
      env: { API_RETRY_DEADLINE: '300ms' },
    });
    const vpc = firstVpc(pl);
    pl.sim.setFaults({ failVpcs: { [vpc]: 'InternalError' } });
    const outcomes = await pl.round();
    expect(outcomes.find((o) => o.target.vpcId === vpc)?.ok).toBe(false);
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
    const runs = await pl.db.pool.query(
      'SELECT status, error_code FROM sync_runs WHERE vpc_id = $1 ORDER BY id',
      [vpc],
    );
    expect(runs.rows).toEqual([
      { status: 'failed', error_code: 'InternalError' },
      { status: 'failed', error_code: 'InternalError' },
    ]);
    expect(await dbLinks(pl.db.pool, 'cn-hangzhou')).toEqual(
      truthLinks(pl.sim).filter((k) => !k.startsWith(vpc)),
    );
  });
});

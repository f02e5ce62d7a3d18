/**
 * A worker process SIGKILLed in the middle of a scan: its job's lock expires (JOB_LOCK_DURATION),
 * another worker process's stall check puts the job back, and the re-run leaves Postgres exact,
 * with no missing and no duplicate events.
 */
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/child.js';
import { usePipeline } from '../helpers/pipeline.js';
import { dbLinks, linkEvents, pollRuns, runs, truthLinks } from '../helpers/rows.js';

const startPipeline = usePipeline({ checkSecret: true });

describe('SIGKILL of a worker process mid-scan', () => {
  it('the stalled job is recovered by another process; links and events are exact', async () => {
    const p = await startPipeline({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 5 },
      env: { LOG_LEVEL: 'info', JOB_LOCK_DURATION: '2s' },
    });
    const vpcId = p.sim.world.vpcs('cn-hangzhou')[0];
    if (!vpcId) throw new Error('no VPC');
    const target = { account: 'default', regionId: 'cn-hangzhou', vpcId };
    const spawnWorker = (name: string) => startCli(['start', '--role', 'worker'], p.childEnv, name);

    // Round 1 (baseline) by worker A.
    const a = await spawnWorker('worker A');
    const [first] = await p.queues.enqueueSync([target]);
    await p.queues.waitFor('sync', first?.jobId ?? '', 20_000);
    expect(await dbLinks(p.db.pool)).toEqual(truthLinks(p.sim));

    // The world changes: one link goes, one comes.
    const gone = p.sim.world.links('cn-hangzhou', vpcId)[0];
    if (!gone) throw new Error('no link');
    p.sim.world.detach('cn-hangzhou', gone.instanceId, vpcId);
    const fresh = p.sim.world.createInstance('cn-hangzhou');
    p.sim.world.attach('cn-hangzhou', fresh, vpcId);

    // Round 2: worker A dies while its page request is in flight.
    p.sim.setFaults({ latencyMs: 30_000 });
    const [second] = await p.queues.enqueueSync([target]);
    const jobId = second?.jobId ?? '';
    await pollRuns(p.db.pool, (rs) => rs.filter((r) => r.status === 'running').length, {
      timeout: 20_000,
      interval: 50,
    }).toBe(1);
    a.signal('SIGKILL');
    expect((await a.waitForExit()).signal).toBe('SIGKILL');
    p.sim.setFaults({});

    // While no other worker runs, the killed attempt's run stays 'running'.
    expect((await runs(p.db.pool)).filter((r) => r.status === 'running')).toHaveLength(1);

    // Worker B's stall check finds the job's lock gone and runs it again.
    await spawnWorker('worker B');
    const result = await p.queues.waitFor('sync', jobId, 30_000);
    expect(result).toMatchObject({ outcome: 'applied', added: 1, removed: 1 });

    expect(await dbLinks(p.db.pool)).toEqual(truthLinks(p.sim));
    const events = await linkEvents(p.db.pool);
    // Per link: events alternate added/removed, start with added, and end as the truth says.
    const truth = new Set(p.sim.world.links('cn-hangzhou', vpcId).map((l) => l.instanceId));
    const perLink = new Map<string, string[]>();
    for (const e of events) perLink.set(e.instance_id, [...(perLink.get(e.instance_id) ?? []), e.change]);
    for (const [instanceId, changes] of perLink) {
      changes.forEach((c, i) => {
        expect(c, `${instanceId} event ${i}`).toBe(i % 2 === 0 ? 'added' : 'removed');
      });
      expect(changes.at(-1) === 'added', instanceId).toBe(truth.has(instanceId));
    }
    for (const id of truth) expect(perLink.has(id), id).toBe(true);
    expect(
      events
        .filter((e) => !e.baseline)
        .map((e) => `${e.change} ${e.instance_id}`)
        .sort(),
    ).toEqual([`added ${fresh}`, `removed ${gone.instanceId}`].sort());

    // The killed attempt's run is closed when the job is picked up again (store.startRun marks a
    // run of the same job still 'running' as WorkerLost): no run stays 'running' for ever.
    const jobRuns = (await runs(p.db.pool)).filter((r) => r.job_id === jobId);
    expect(jobRuns.map((r) => [r.attempt, r.status, r.error_code])).toEqual([
      [1, 'failed', 'WorkerLost'],
      [1, 'succeeded', null],
    ]);
    expect((await runs(p.db.pool)).filter((r) => r.status === 'running')).toEqual([]);
  });
});

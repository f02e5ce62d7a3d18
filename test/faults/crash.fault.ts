/**
 * Worker processes SIGKILLed mid-scan (a page request in flight) and mid-diff (blocked between
 * statements of the applyScan transaction, by a trigger on link_events that waits for an advisory
 * lock the test holds). Each time another worker process recovers the stalled jobs; the killed
 * transaction rolls back as a whole; the invariants hold once the world settles.
 */
import { describe, it } from 'vitest';
import { startCli } from '../helpers/child.js';
import { count, runningRuns } from '../helpers/rows.js';
import { blockDiffs, blockedDiffs, waitFor } from './harness.js';
import { checkInvariants } from './invariants.js';
import { useScenarios } from './setup.js';
import { changeOnce, seeded } from './world-log.js';

const scenarios = useScenarios();

const LOCK = 4242;

describe('fault: worker SIGKILLed mid-scan and mid-diff', () => {
  it('restarted workers recover the jobs; the invariants hold', async () => {
    const sc = await scenarios.start({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 8 } });
    const random = seeded(101);
    const worker = (name: string) => startCli(['start', '--role', 'worker,alerts'], sc.childEnv, name);
    let rounds = 0;
    const kills = { 'SIGKILL mid-scan': 0, 'SIGKILL mid-diff': 0 };

    const a = await worker('worker A');
    await sc.settle();
    rounds++;
    sc.log.start();

    // Mid-scan: every page request hangs; worker A dies with its scans in flight.
    for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
    sc.sim.setFaults({ latencyMs: 60_000, actions: ['DescribeClassicLinkInstances'] });
    const scanRound = sc.round(90_000);
    await waitFor(
      () => runningRuns(sc.pool),
      (n) => n === 3,
      { timeout: 20_000, what: '3 running scans' },
    );
    a.signal('SIGKILL');
    await a.waitForExit();
    kills['SIGKILL mid-scan']++;
    sc.sim.setFaults({});
    const b = await worker('worker B');
    await scanRound;
    rounds++;
    // Every alert so far is delivered before B is killed, so no delivery is left claimed by it.
    const sent = await count(sc.pool, `SELECT count(*)::int AS n FROM alert_outbox WHERE kind = 'changes'`);
    await sc.receiver.waitForAccepted(sent);

    // Mid-diff: a trigger on link_events waits for a lock the test holds, so every diff with a
    // change blocks inside its transaction, after its first writes.
    await blockDiffs(sc.pool, LOCK);
    const holder = await sc.pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
      const before = sc.log.changes.length;
      for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
      const changed = new Set(sc.log.changes.slice(before).map((c) => c.vpcId)).size;
      const diffRound = sc.round(90_000);
      await waitFor(
        async () => (await blockedDiffs(sc.pool, LOCK)).length,
        (n) => n >= changed,
        { timeout: 20_000, what: `at least ${changed} diffs blocked inside their transaction` },
      );
      b.signal('SIGKILL');
      await b.waitForExit();
      kills['SIGKILL mid-diff']++;
      await worker('worker C');
      // The dead worker's backends finish their statement, find the client gone and roll back.
      await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
      await diffRound;
      rounds++;
    } finally {
      holder.release();
    }
    await sc.pool.query('DROP TRIGGER fault_block ON link_events; DROP FUNCTION fault_block()');

    rounds += await sc.settle();
    const checks = await checkInvariants(sc);
    const lost = await count(
      sc.pool,
      `SELECT count(*)::int AS n FROM sync_runs WHERE error_code = 'WorkerLost'`,
    );
    scenarios.report(sc, {
      scenario: 'worker SIGKILL mid-scan and mid-diff',
      proves:
        'a worker killed with page requests in flight, or inside the diff transaction, loses and duplicates nothing: another process recovers the jobs, the open transaction rolls back whole',
      rounds,
      faults: { ...kills, 'runs closed as WorkerLost': lost },
      checks,
    });
  });
});

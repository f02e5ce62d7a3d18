/**
 * Worker processes SIGKILLed mid-scan (a page request in flight) and mid-diff (blocked between
 * statements of the applyScan transaction, by a trigger on link_events that waits for an advisory
 * lock the test holds). Each time another worker process recovers the stalled jobs; the killed
 * transaction rolls back as a whole; the invariants hold once the world settles.
 */
import { afterEach, describe, it } from 'vitest';
import { killChildren, spawnCli } from '../helpers/child.js';
import {
  changeOnce,
  checkInvariants,
  runningRuns,
  type Scenario,
  seeded,
  simulatorFaults,
  startScenario,
  waitFor,
  writeFigures,
} from './harness.js';

let s: Scenario | undefined;
afterEach(async () => {
  await killChildren();
  await s?.close();
  s = undefined;
});

const LOCK = 4242;

describe('fault: worker SIGKILLed mid-scan and mid-diff', () => {
  it('restarted workers recover the jobs; the invariants hold', async () => {
    const started = Date.now();
    s = await startScenario({ sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 8 } });
    const sc = s;
    const random = seeded(101);
    const worker = async (name: string) => {
      const w = spawnCli(['start', '--role', 'worker,alerts'], sc.childEnv, name);
      await w.waitForLog('classiclink-sync started');
      return w;
    };
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
    const { rows: sent } = await sc.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM alert_outbox WHERE kind = 'changes'`,
    );
    await sc.receiver.waitForAccepted(sent[0]?.n ?? 0);

    // Mid-diff: a trigger on link_events waits for a lock the test holds, so every diff with a
    // change blocks inside its transaction, after its first writes.
    await sc.pool.query(`
      CREATE FUNCTION fault_block() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock(${LOCK}); RETURN NULL; END $$;
      CREATE TRIGGER fault_block AFTER INSERT ON link_events FOR EACH STATEMENT EXECUTE FUNCTION fault_block();`);
    const holder = await sc.pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
      const before = sc.log.changes.length;
      for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
      const changed = new Set(sc.log.changes.slice(before).map((c) => c.vpcId)).size;
      const diffRound = sc.round(90_000);
      await waitFor(
        async () =>
          (
            await sc.pool.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
              [LOCK],
            )
          ).rows[0]?.n ?? 0,
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
    const { rows: lost } = await sc.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_runs WHERE error_code = 'WorkerLost'`,
    );
    writeFigures({
      scenario: 'worker SIGKILL mid-scan and mid-diff',
      proves:
        'a worker killed with page requests in flight, or inside the diff transaction, loses and duplicates nothing: another process recovers the jobs, the open transaction rolls back whole',
      rounds,
      apiCalls: sc.sim.requests.length,
      faults: { ...simulatorFaults(sc.sim), ...kills, 'runs closed as WorkerLost': lost[0]?.n ?? 0 },
      checks,
      changes: sc.log.changes.length,
      durationMs: Date.now() - started,
    });
  });
});

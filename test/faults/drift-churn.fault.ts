/**
 * Pagination drift on every page (each page served adds a link that sorts before it, so TotalCount
 * grows and later pages shift) and links attached and detached while scans run. Multi-page scans
 * can never be complete under drift: they must fail and change nothing; once drift stops, one
 * clean round records every change exactly once.
 */
import { describe, expect, it } from 'vitest';
import { checkInvariants } from './invariants.js';
import { useScenarios } from './setup.js';
import { startChurn } from './world-log.js';

const scenarios = useScenarios();

const DRIFT_ROUNDS = 3;

describe('fault: pagination drift and churn', () => {
  it('incomplete scans apply nothing; the settled world is recorded exactly', async () => {
    const sc = await scenarios.start({
      inProcess: true,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 4, linksPerVpc: 8, faults: { latencyMs: 15 } },
    });
    // Two VPCs of two pages (> 100 links), two of one page.
    const region = 'cn-hangzhou';
    const [big1, big2] = sc.sim.world.vpcs(region);
    const big = [big1 ?? '', big2 ?? ''];
    for (const vpcId of big) {
      for (let i = 0; i < 120; i++) sc.sim.world.attach(region, sc.sim.world.createInstance(region), vpcId);
    }
    let rounds = await sc.settle();
    sc.log.start();

    // Drift alone first: a multi-page scan can never be complete, so none may apply.
    sc.sim.setFaults({ latencyMs: 15, paginationDrift: true });
    let bigApplied = 0;
    let failed = 0;
    for (let r = 0; r < DRIFT_ROUNDS; r++) {
      const outcomes = await sc.round(90_000);
      rounds++;
      failed += outcomes.filter((o) => !o.ok).length;
      bigApplied += outcomes.filter(
        (o) => big.includes(o.target.vpcId) && o.ok && o.result.outcome === 'applied',
      ).length;
    }
    expect(bigApplied, 'multi-page scans applied under drift').toBe(0);
    // Then drift and churn together. A drift attach and a churn detach on pages already served can
    // cancel out: the pages then add up to a consistent past state, which may apply (it invents no
    // event; the next scans catch up) — the exactly-once check below is the judge.
    const stop = startChurn(sc.sim, sc.log, { everyMs: 120, seed: 607 });
    try {
      for (let r = 0; r < DRIFT_ROUNDS; r++) {
        const outcomes = await sc.round(90_000);
        rounds++;
        failed += outcomes.filter((o) => !o.ok).length;
      }
    } finally {
      stop();
    }
    sc.sim.setFaults({});
    rounds += await sc.settle();
    const checks = await checkInvariants(sc);
    checks.push({ name: 'no multi-page scan applied under drift alone', ok: bigApplied === 0 });
    const { rows } = await sc.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM sync_runs WHERE error_code = 'IncompleteScan'`,
    );
    scenarios.report(sc, {
      scenario: 'pagination drift + churn',
      proves:
        'a scan whose TotalCount moves or whose pages shift is never applied; links attached and detached mid-scan are each recorded once the scans are complete',
      rounds,
      faults: {
        'pagination drift (links attached by drift)': sc.log.changes.filter((c) => c.by === 'simulator')
          .length,
        'runs failed IncompleteScan': rows[0]?.n ?? 0,
        'sync jobs failed for good': failed,
      },
      checks,
    });
  });
});

/**
 * API chaos: 30 % of answers are throttling or 5xx, one in ten is delayed by a 1 s spike, some
 * connections are reset and some bodies truncated — while the world changes under the scans. Runs
 * fail or succeed; whatever fails applies nothing, and once the API is healthy again one clean
 * round leaves Postgres exact with every change recorded once.
 */
import { describe, it } from 'vitest';
import { checkInvariants } from './invariants.js';
import { useScenarios } from './setup.js';
import { changeOnce, seeded, startChurn } from './world-log.js';

const scenarios = useScenarios();

const CHAOS_ROUNDS = 8;

describe('fault: API chaos', () => {
  it('throttling, 5xx, latency spikes, resets and truncated bodies lose and duplicate nothing', async () => {
    const sc = await scenarios.start({
      inProcess: true,
      sim: { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 4, linksPerVpc: 20 },
    });
    let rounds = await sc.settle();
    sc.log.start();

    sc.sim.setFaults({
      throttleRate: 0.15,
      unavailableRate: 0.1,
      internalErrorRate: 0.05,
      latencySpikeMs: 1_000,
      latencySpikeRate: 0.1,
      resetRate: 0.05,
      malformedRate: 0.04,
      malformedKind: 'truncated',
      retryAfterMs: 200,
    });
    const random = seeded(505);
    const stop = startChurn(sc.sim, sc.log, { everyMs: 400, seed: 506 });
    let failedRuns = 0;
    try {
      for (let r = 0; r < CHAOS_ROUNDS; r++) {
        for (let i = 0; i < 3; i++) changeOnce(sc.sim, sc.log, random);
        const outcomes = await sc.round(90_000);
        failedRuns += outcomes.filter((o) => !o.ok).length;
        rounds++;
      }
    } finally {
      stop();
    }
    sc.sim.setFaults({});
    rounds += await sc.settle();
    const checks = await checkInvariants(sc);
    scenarios.report(sc, {
      scenario: 'API chaos',
      proves:
        '30 % throttling/5xx, 1 s latency spikes, connection resets and truncated bodies make runs fail or retry, never apply a partial or wrong scan',
      rounds,
      faults: { 'sync jobs failed for good': failedRuns },
      checks,
    });
  });
});

/**
 * The webhook receiver is down (connection refused) for whole rounds, then answers 503 for a
 * while, then comes back. The runs apply regardless (alerts never hold up the diff); every
 * alert-worthy run's outbox row is retried and delivered under its one id once the receiver is
 * back; nothing is sent under two ids or with two bodies.
 */
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/child.js';
import { count } from '../helpers/rows.js';
import { waitFor } from './harness.js';
import { checkInvariants } from './invariants.js';
import { useScenarios } from './setup.js';
import { changeOnce, seeded } from './world-log.js';

const scenarios = useScenarios();

describe('fault: webhook receiver down for whole rounds', () => {
  it('every alert is delivered once the receiver is back, under its one id', async () => {
    const sc = await scenarios.start({
      sim: { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 2, linksPerVpc: 6 },
    });
    await startCli(['start', '--role', 'worker,alerts'], sc.childEnv, 'service');
    let rounds = await sc.settle();
    sc.log.start();

    await sc.receiver.stop();
    const random = seeded(808);
    for (let r = 0; r < 2; r++) {
      for (let i = 0; i < 4; i++) changeOnce(sc.sim, sc.log, random);
      const outcomes = await sc.round();
      rounds++;
      expect(outcomes.every((o) => o.ok && o.result.outcome === 'applied')).toBe(true);
    }
    // The dispatcher tried and failed while the receiver was down (an event, not a sleep).
    const failedAttempts = () =>
      count(
        sc.pool,
        `SELECT coalesce(sum(attempts), 0)::int AS n FROM alert_outbox WHERE status = 'pending' AND last_error IS NOT NULL`,
      );
    const refused = await waitFor(failedAttempts, (n) => n >= 2, {
      timeout: 30_000,
      what: 'failed deliveries',
    });
    expect(sc.receiver.requests).toHaveLength(0);

    // Back, but answering 503 to its first two requests.
    sc.receiver.fail({ status: 503, body: 'maintenance' }, 2);
    await sc.receiver.restart();
    rounds += await sc.settle();
    const checks = await checkInvariants(sc, { alertTimeoutMs: 90_000 });
    const answered503 = sc.receiver.requests.filter((r) => r.status === 503).length;
    scenarios.report(sc, {
      scenario: 'webhook receiver down, then back',
      proves:
        'a receiver that refuses connections for whole rounds, then answers 503, delays alerts but loses none: each alert-worthy run is delivered under its one outbox id',
      rounds,
      faults: {
        'deliveries refused (receiver down)': refused,
        'deliveries answered 503': answered503,
      },
      checks,
    });
  });
});

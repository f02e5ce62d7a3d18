/**
 * The service on a Redis Cluster (REDIS_CLUSTER_NODES) while the cluster changes under it: the
 * master that serves the deployment's slot (the slot of its hash tag `{QUEUE_PREFIX}`, which every
 * key of the deployment hashes to) is SIGKILLed mid-round and its replica promoted after
 * `cluster-node-timeout`; and that slot is moved to another master mid-round, key by key, as
 * `redis-cli --cluster reshard` moves it — clients meet ASK (a key already moved), TRYAGAIN (a
 * multi-key script whose keys are split between the two nodes) and MOVED (once it has moved).
 * The service process keeps running, and no change is lost or recorded twice.
 *
 * Each scenario has a cluster of its own: six nodes of the machine's redis-server on spare
 * loopback ports (test/helpers/redis-cluster.ts).
 */
import { describe, expect, it } from 'vitest';
import { queuePrefix } from '../../src/queue/keys.js';
import type { Child } from '../helpers/child.js';
import { clusterAvailable, NODE_TIMEOUT_MS, startRedisCluster } from '../helpers/redis-cluster.js';
import { runningRuns } from '../helpers/rows.js';
import { waitFor } from './harness.js';
import { baselinedService, finishRunning, moreSucceeded } from './service-run.js';
import { useScenarios } from './setup.js';
import { startChurn } from './world-log.js';

const scenarios = useScenarios();

const SIM = { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 2, linksPerVpc: 6 };
const TARGETS = SIM.regions.length * SIM.vpcsPerRegion;

/**
 * What the change cost the service's jobs: the lock renewals and job moves BullMQ could not make
 * (an acknowledged write lost with its master, or a command that ran out of retries), each a job
 * left to BullMQ's stalled-job recovery and run again; Postgres keeps the rerun from counting twice.
 */
const locksLost = (svc: Child) =>
  svc.logs().filter((l) => l.msg === 'worker error' && /lock/i.test(String(l.err))).length;

/**
 * A cluster of its own, the service on it, baselined; and the slot of the deployment's hash tag,
 * where all its keys live.
 */
async function onCluster() {
  const cluster = scenarios.own(await startRedisCluster());
  const sc = await scenarios.start({
    sim: { ...SIM, faults: { latencyMs: 40 } },
    redisClusterNodes: cluster.nodesEnv,
    env: { SYNC_INTERVAL: '2s' },
  });
  const svc = await baselinedService(sc, TARGETS);
  const slot = await cluster.keyslot(queuePrefix(sc.prefix));
  return { cluster, sc, svc, slot };
}

describe.skipIf(!clusterAvailable())('fault: the Redis Cluster changes under the service', () => {
  it('the master of the queues slot killed mid-round: its replica takes over, nothing lost or doubled', async () => {
    const { cluster, sc, svc, slot } = await onCluster();
    const stop = startChurn(sc.sim, sc.log, { everyMs: 250, seed: 606 });
    let failover: { killed: number; promoted: number } | undefined;
    try {
      await waitFor(
        () => runningRuns(sc.pool),
        (n) => n > 0,
        { timeout: 20_000, what: 'a scan in flight' },
      );
      // A round of the test's own, waited for across the failover as `sync --once` waits: its
      // queue events reader (a blocking XREAD on the slot's master) must follow the failover too.
      // Its jobs may be lost with the master's last writes; it must end, not hang.
      const during = sc.round(45_000);
      failover = await cluster.killMasterOf(slot);
      expect(failover.promoted).not.toBe(failover.killed);
      expect((await during).length).toBeGreaterThan(0);
      await moreSucceeded(sc, 8);
    } finally {
      stop();
    }
    await finishRunning(scenarios, sc, svc, TARGETS, {
      scenario: 'Redis Cluster: master of the slot killed mid-round',
      proves: `the master serving the deployment's slot SIGKILLed mid-round (its replica promoted after cluster-node-timeout ${NODE_TIMEOUT_MS} ms): the service follows the failover by itself and Postgres stays exact`,
      faults: { 'masters killed (failed over)': 1, 'job locks lost': locksLost(svc) },
    });
  });

  it('the queues slot moved to another master mid-round (ASK, TRYAGAIN, MOVED): nothing lost or doubled', async () => {
    const { cluster, sc, svc, slot } = await onCluster();
    const stop = startChurn(sc.sim, sc.log, { everyMs: 250, seed: 707 });
    const before = await cluster.errorStats();
    let move: { from: number; to: number; keys: number } | undefined;
    try {
      await waitFor(
        () => runningRuns(sc.pool),
        (n) => n > 0,
        { timeout: 20_000, what: 'a scan in flight' },
      );
      // A few keys at a time, as redis-cli --cluster reshard moves them. Until the service has met
      // the move once (an ASK or a TRYAGAIN answered by a node), each batch waits for that, so the
      // service works while its keys are split between the two nodes; then the rest goes at once.
      // (Waiting for the service to finish work between batches would wait for ever: its scripts
      // touch several keys, and keys split between two nodes are answered TRYAGAIN until the slot
      // has moved.)
      let met = false;
      move = await cluster.moveSlot(slot, {
        batch: 4,
        between: async () => {
          if (met) return;
          const seen = (s: Record<string, number>) => (s.ASK ?? 0) + (s.TRYAGAIN ?? 0);
          await waitFor(
            () => cluster.errorStats(),
            (s) => seen(s) > seen(before),
            { timeout: 15_000, what: 'the service to meet the move (an ASK or TRYAGAIN answer)' },
          );
          met = true;
        },
      });
      await moreSucceeded(sc, 8);
    } finally {
      stop();
    }
    const after = await cluster.errorStats();
    const redirections = Object.fromEntries(
      ['ASK', 'TRYAGAIN', 'MOVED'].map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]),
    );
    // The service met the move while the keys were split (ASK and TRYAGAIN come only from a slot
    // being moved), and its new home after (MOVED).
    expect(
      (redirections.ASK ?? 0) + (redirections.TRYAGAIN ?? 0),
      JSON.stringify(redirections),
    ).toBeGreaterThan(0);
    expect(redirections.MOVED, JSON.stringify(redirections)).toBeGreaterThan(0);
    await finishRunning(scenarios, sc, svc, TARGETS, {
      scenario: 'Redis Cluster: slot moved mid-round',
      proves: `the deployment's slot moved to another master key by key while the service worked (${move?.keys ?? 0} keys; ASK ${redirections.ASK}, TRYAGAIN ${redirections.TRYAGAIN}, MOVED ${redirections.MOVED} answered): the service follows it and Postgres stays exact`,
      faults: { 'slots moved (resharding)': 1, 'job locks lost': locksLost(svc) },
    });
  });
});

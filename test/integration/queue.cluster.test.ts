/**
 * The service on a real Redis Cluster (`REDIS_CLUSTER_NODES`): six nodes of the machine's own
 * redis-server 7.0, three masters and three replicas, password required, started for this file
 * (test/helpers/redis-cluster.ts). Rounds in-process and `start` / `sync --once` as child
 * processes: the rounds are exact, every key of the deployment sits in the slot of its hash tag,
 * the API limiter holds its cap across two worker processes, /readyz and the dashboard answer, and
 * the start-up check says in one line what is wrong with a cluster setting. Failover and
 * resharding under load are fault scenarios (test/faults/cluster.fault.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { maxInWindow } from '../../bench/lib.js';
import { createLogger } from '../../src/log.js';
import {
  checkRedis,
  claimPrefix,
  closeRedis,
  openQueueBackend,
  openRedis,
  queuePrefix,
} from '../../src/queue/index.js';
import type { SimulatorKey } from '../../src/simulator/index.js';
import { capturedOutput, expectOneLine, runCli, startCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { usePipeline } from '../helpers/pipeline.js';
import { clusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { count, dbLinks, linkEvents, truthLinks } from '../helpers/rows.js';
import { freePort, useOwnServer } from '../helpers/servers.js';

// The machine's redis-server and redis-cli are what this file runs; without them (a laptop that
// runs Redis in Docker) it is skipped, never faked. `.ci/run` installs them.
const available = clusterAvailable();
const cluster = useOwnServer(available, () => startRedisCluster());
const open = usePipeline({ checkSecret: true });
const silent = createLogger({ level: 'silent' });
const defer = useCleanup();

/** Every key under `pattern` on every master, with the port of the node that holds it. */
async function keysByNode(pattern: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const n of (await cluster().view()).filter((v) => v.master && !v.failed)) {
    let cursor = '0';
    do {
      const [next, keys] = await cluster().on(n.port).scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) found.set(k, n.port);
    } while (cursor !== '0');
  }
  return found;
}

describe.skipIf(!available)('on a Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  it('a baseline, a change and a no-op round are exact; every key lives in the slot of {QUEUE_PREFIX}', async () => {
    const pl = await open({
      env: { REDIS_CLUSTER_NODES: cluster().nodesEnv },
      sim: { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 3, linksPerVpc: 4 },
      // The context side too: its enrich and attribute queues, on the same slot.
      context: true,
    });
    const baseline = await pl.round();
    expect(baseline).toHaveLength(6);
    expect(baseline.every((o) => o.ok && o.result.outcome === 'applied' && o.result.baseline)).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));

    const vpc = pl.sim.world.vpcs('cn-hangzhou')[0] as string;
    const gone = pl.sim.world.links('cn-hangzhou', vpc)[0];
    if (!gone) throw new Error('no link');
    pl.sim.world.detach('cn-hangzhou', gone.instanceId, vpc);
    const fresh = pl.sim.world.createInstance('cn-hangzhou');
    pl.sim.world.attach('cn-hangzhou', fresh, vpc);
    const changed = await pl.round();
    expect(changed.every((o) => o.ok && o.result.outcome === 'applied')).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const events = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(events.map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`).sort()).toEqual(
      [`added ${vpc}/${fresh}`, `removed ${vpc}/${gone.instanceId}`].sort(),
    );

    const noop = await pl.round();
    expect(noop.every((o) => o.ok && o.result.added === 0 && o.result.removed === 0)).toBe(true);
    expect((await linkEvents(pl.db.pool)).filter((e) => !e.baseline)).toHaveLength(2);

    // BullMQ's keys and the limiter's lanes and tickets, all on the master of the tag's slot.
    const tag = queuePrefix(pl.prefix);
    const keys = await keysByNode(`${tag}*`);
    const names = [...keys.keys()];
    expect(names.some((k) => k.startsWith(`${tag}:sync:`))).toBe(true);
    expect(names.some((k) => k.startsWith(`${tag}:enrich:`))).toBe(true);
    expect(names.some((k) => k.startsWith(`${tag}:qps:`))).toBe(true);
    expect(names.some((k) => k.startsWith(`${tag}:qps-ticket:`))).toBe(true);
    const home = await cluster().masterOf(await cluster().keyslot(tag));
    expect(new Set(keys.values())).toEqual(new Set([home]));
    // And nothing of this deployment anywhere outside its tag.
    const stray = [...(await keysByNode(`*${pl.prefix}*`)).keys()].filter((k) => !k.startsWith(tag));
    expect(stray).toEqual([]);
  });

  it('the API limiter holds API_MAX_QPS across two worker processes sharing the cluster', async () => {
    const QPS = 8;
    const keys: [SimulatorKey, SimulatorKey] = [simKey('A'), simKey('B')];
    const pl = await open({
      workers: false,
      env: { REDIS_CLUSTER_NODES: cluster().nodesEnv, API_MAX_QPS: String(QPS), SYNC_CONCURRENCY: '4' },
      // 40 VPCs of one page each; the simulator throttles whatever passes the cap in its own
      // sliding window, so an overshoot would show as a Throttling answer too.
      sim: {
        keys,
        regions: ['cn-hangzhou'],
        vpcsPerRegion: 40,
        linksPerVpc: 2,
        faults: { latencyMs: 20, qpsCap: QPS, actions: ['DescribeClassicLinkInstances'] },
      },
    });
    const workers = await Promise.all(
      keys.map((k, i) =>
        startCli(
          ['start', '--role', 'worker'],
          {
            ...pl.childEnv,
            ALIBABA_CLOUD_ACCESS_KEY_ID: k.accessKeyId,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET: k.accessKeySecret,
            LOG_LEVEL: 'info',
          },
          `worker ${i}`,
        ),
      ),
    );
    const outcomes = await pl.round();
    expect(outcomes.every((o) => o.ok && o.result.outcome === 'applied')).toBe(true);
    for (const w of workers) w.signal('SIGTERM');
    for (const w of workers) expect(await w.waitForExit()).toEqual({ code: 0, signal: null });

    const calls = pl.sim.requests.filter((r) => r.action === 'DescribeClassicLinkInstances');
    // Both processes did part of the work, under one budget.
    for (const k of keys)
      expect(calls.filter((r) => r.accessKeyId === k.accessKeyId).length).toBeGreaterThan(0);
    expect(calls.filter((r) => r.code?.startsWith('Throttling'))).toEqual([]);
    const times = calls.map((r) => r.at);
    // The API's rule, in the simulator's clock. (The limiter's 35 ms margin beyond the second is
    // measured by aliyun.limiter.test.ts in one process: here two children, a cluster and the
    // simulator share two cores, and the simulator's own event loop delays when it stamps arrivals.)
    expect(maxInWindow(times, 1_000)).toBeLessThanOrEqual(QPS);
    // The cap held the fleet: the calls took at least as long as QPS per second allows.
    const span = Math.max(...times) - Math.min(...times);
    expect(span).toBeGreaterThanOrEqual(((calls.length - QPS) / QPS) * 1_000);
    for (const k of keys) expect(capturedOutput()).not.toContain(k.accessKeySecret);
  }, 90_000);

  it('`start` on the cluster: /readyz is ready, the dashboard lists the queues, SIGTERM drains', async () => {
    const pl = await open({
      workers: false,
      env: { REDIS_CLUSTER_NODES: cluster().nodesEnv },
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
    });
    const token = randomBytes(16).toString('hex');
    const svc = await startCli(['start'], {
      ...pl.childEnv,
      HTTP_PORT: String(await freePort()),
      HTTP_TOKEN: token,
      SYNC_INTERVAL: '1s',
      LOG_LEVEL: 'info',
    });
    const url = String((await svc.waitForLog('HTTP server listening', 30_000)).url);
    await expect
      .poll(() => count(pl.db.pool, `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2);
    const auth = { authorization: `Bearer ${token}` };
    const ready = await fetch(`${url}/readyz`, { headers: auth });
    expect(ready.status).toBe(200);
    const board = await fetch(`${url}/admin/queues/api/queues`, {
      headers: auth,
    });
    expect(board.status).toBe(200);
    const body = (await board.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['attribute', 'enrich', 'feed', 'plan', 'sync']);
    svc.signal('SIGTERM');
    expect(await svc.waitForExit()).toEqual({ code: 0, signal: null });
    expect(capturedOutput()).not.toContain(cluster().password);
  }, 90_000);

  it('the start-up check says in one line what is wrong with the cluster setting, exit 1', async () => {
    const pl = await open({ workers: false, sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1 } });
    const [seed] = cluster().nodesEnv.split(',') as [string];
    const port = new URL(seed).port;
    const cases: [Record<string, string>, RegExp][] = [
      [
        { REDIS_CLUSTER_NODES: seed.replace(cluster().password, 'wrong-password') },
        new RegExp(
          `: Redis Cluster at 127\\.0\\.0\\.1:${port} refused the login \\(WRONGPASS.*check the user and password in REDIS_CLUSTER_NODES$`,
        ),
      ],
      [
        { REDIS_CLUSTER_NODES: `redis://127.0.0.1:${port}` },
        /: Redis Cluster at 127\.0\.0\.1:\d+ needs a password \(NOAUTH.*put it in REDIS_CLUSTER_NODES/,
      ],
      [
        // One server where a cluster was promised (the machine's shared Redis).
        { REDIS_CLUSTER_NODES: 'redis://127.0.0.1:6379' },
        /: Redis at 127\.0\.0\.1:6379 is not a Redis Cluster node \(.*cluster support disabled.*\): for one server, unset REDIS_CLUSTER_NODES and set REDIS_URL$/,
      ],
      [
        // A cluster node where one server was promised.
        { REDIS_URL: seed },
        new RegExp(
          `: Redis at 127\\.0\\.0\\.1:${port} is a node of a Redis Cluster: set REDIS_CLUSTER_NODES=`,
        ),
      ],
      [
        { REDIS_CLUSTER_NODES: `redis://:x@127.0.0.1:${await freePort()}` },
        /: cannot reach Redis Cluster at 127\.0\.0\.1:\d+: connection refused .*REDIS_CLUSTER_NODES/,
      ],
    ];
    for (const [env, line] of cases) {
      const r = await runCli(['sync', '--once'], { ...pl.childEnv, ...env });
      expect(r.code, r.stderr).toBe(1);
      expect(expectOneLine(r)).toMatch(line);
      expect(r.stdout + r.stderr).not.toContain(cluster().password);
    }
    // Nothing was written: the check comes first.
    expect(await count(pl.db.pool, 'SELECT count(*)::int AS n FROM sync_runs')).toBe(0);
  }, 60_000);

  it('a master down with no replica to take over: /readyz says not ready, the start-up check says so in one line', async () => {
    // A cluster of three masters and no replicas of its own: the slots of a dead master stay
    // unserved, and after cluster-node-timeout every node says cluster_state:fail.
    const small = await startRedisCluster({ replicas: 0 });
    defer(() => small.close());
    const server = { REDIS_URL: 'redis://unused', REDIS_CLUSTER_NODES: small.nodesEnv.split(',') };
    // The readiness of the queue backend on that cluster (what /readyz asks).
    const backend = openQueueBackend({ kind: 'redis', redis: server, prefix: 'test-ready' }, silent);
    defer(() => backend.close());
    const readiness = () =>
      backend.ping().then(
        () => 'ready',
        (err: Error) => err.message,
      );
    // Ready once its own connection is up (it fails fast, so not before).
    await expect.poll(readiness, { timeout: 10_000 }).toBe('ready');
    await checkRedis(server);
    const [victim] = small.nodes;
    if (!victim) throw new Error('no node');
    await small.kill(victim.port);
    await expect.poll(readiness, { timeout: 20_000 }).toBe('Redis Cluster state is fail');
    const line = await checkRedis(server).then(
      () => 'passed',
      (err: Error) => err.message,
    );
    expect(line).toMatch(
      /^Redis Cluster at 127\.0\.0\.1:\d+ says cluster_state:fail, so not every slot is served: check it with redis-cli --cluster check 127\.0\.0\.1:\d+$/,
    );
  }, 60_000);

  it("the demo's prefix claim scans every master: a foreign key under the prefix is refused", async () => {
    const server = { REDIS_URL: 'redis://unused', REDIS_CLUSTER_NODES: cluster().nodesEnv.split(',') };
    const prefix = `claim-${randomUUID()}`;
    const claim = { server, prefix, markKey: 'demo', mark: 'ours' };
    const redis = openRedis(server, silent);
    try {
      // Someone else's key under the prefix, on whichever master holds the tag's slot.
      await redis.set(`${queuePrefix(prefix)}:theirs`, '1');
      expect(await claimPrefix(claim)).toBe(false);
      await redis.del(`${queuePrefix(prefix)}:theirs`);
      expect(await claimPrefix(claim)).toBe(true);
      expect(await redis.get(`${queuePrefix(prefix)}:demo`)).toBe('ours');
      // Marked: claimed again, keys and all.
      await redis.set(`${queuePrefix(prefix)}:more`, '1');
      expect(await claimPrefix(claim)).toBe(true);
    } finally {
      const keys = await keysByNode(`${queuePrefix(prefix)}*`);
      for (const k of keys.keys()) await redis.del(k);
      await closeRedis(redis);
    }
  });
});

function simKey(name: string): SimulatorKey {
  return {
    accessKeyId: `LTAI5tCluster${name}${randomBytes(6).toString('hex')}`,
    accessKeySecret: randomBytes(15).toString('hex'),
  };
}

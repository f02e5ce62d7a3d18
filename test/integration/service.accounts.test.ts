/**
 * Several accounts in one deployment: each with its own credentials, limiter and targets, syncing
 * into one database without mixing rows; and a clean close leaves nothing open.
 */
import { describe, expect, it } from 'vitest';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { Lifecycle } from '../../src/lifecycle.js';
import type { QueueBackend } from '../../src/queue/index.js';
import { openAccount, openMessaging, startWorkers } from '../../src/service.js';
import { usePipeline } from '../helpers/pipeline.js';

const startPipeline = usePipeline();

describe('two accounts in one deployment', () => {
  it('sync into one database without mixing rows, each with its own key and targets', async () => {
    const keys = [
      { accessKeyId: 'LTAI-account-a', accessKeySecret: 'secret-a-0123456789' },
      { accessKeyId: 'LTAI-account-b', accessKeySecret: 'secret-b-0123456789' },
    ];
    const p = await startPipeline({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, keys },
    });
    const [vpcA1, , vpcA3] = p.sim.world.vpcs('cn-hangzhou');
    const lifecycle = new Lifecycle();
    try {
      const msg = openMessaging(p.config, p.log, lifecycle, { syncAttempts: 1 });
      const [ka, kb] = keys as [(typeof keys)[0], (typeof keys)[0]];
      const a = openAccount(
        p.config,
        { name: 'prod', regions: ['cn-hangzhou'] },
        { credentials: staticCredentialsProvider(ka), backend: msg.backend, log: p.log },
        lifecycle,
      );
      const b = openAccount(
        p.config,
        {
          name: 'staging',
          regions: ['cn-hangzhou'],
          targets: [{ regionId: 'cn-hangzhou', vpcId: vpcA3 ?? '' }],
        },
        { credentials: staticCredentialsProvider(kb), backend: msg.backend, log: p.log },
        lifecycle,
      );
      await startWorkers(
        p.config,
        { ...p.database, ...msg, accounts: [a, b], log: p.log },
        lifecycle,
      ).ready();
      const done = await Promise.all(
        ['prod', 'staging'].map(async (account) => {
          const planId = await msg.queues.enqueuePlan({ account, regionId: 'cn-hangzhou' });
          const { targets } = await msg.queues.waitFor('plan', planId, 30_000);
          return Promise.all(targets.map((t) => msg.queues.waitFor('sync', t.jobId, 30_000)));
        }),
      );
      expect(done.map((d) => d.length)).toEqual([3, 1]);

      const rows = await p.db.pool.query<{ account: string; vpc_id: string; n: number }>(
        `SELECT account, vpc_id, count(*)::int AS n FROM classic_links WHERE removed_at IS NULL
          GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      const perAccount = (acct: string) => rows.rows.filter((r) => r.account === acct).map((r) => r.vpc_id);
      expect(perAccount('prod')).toEqual(p.sim.world.vpcs('cn-hangzhou').slice().sort());
      expect(perAccount('staging')).toEqual([vpcA3]);
      expect(perAccount('default')).toEqual([]);
      // Each account's calls were signed with its own key; staging never listed the VPCs.
      const byKey = (id: string) => p.sim.requests.filter((r) => r.accessKeyId === id);
      expect(byKey('LTAI-account-a').some((r) => r.action === 'DescribeVpcs')).toBe(true);
      expect(byKey('LTAI-account-b').some((r) => r.action === 'DescribeVpcs')).toBe(false);
      expect(
        byKey('LTAI-account-b').every((r) => r.params.VpcId === undefined || r.params.VpcId === vpcA3),
      ).toBe(true);
      // Events and targets are per account too.
      const targets = await p.database.store.listTargets({ account: 'staging' });
      expect(targets.map((t) => t.vpcId)).toEqual([vpcA3]);
      expect(
        (await p.database.store.listEvents({ account: 'staging' })).every((e) => e.vpcId === vpcA3),
      ).toBe(true);
      expect(vpcA1).toBeDefined();

      // A job for an account this process has no credentials for fails for good, at once.
      const [orphan] = await msg.queues.enqueueSync([
        { account: 'unknown', regionId: 'cn-hangzhou', vpcId: 'vpc-x1' },
      ]);
      await expect(msg.queues.waitFor('sync', orphan?.jobId ?? '', 30_000)).rejects.toThrow(/UnknownAccount/);
    } finally {
      await lifecycle.close();
    }
    // Everything this test opened is closed: no pool client checked out, no Redis client left.
    expect(p.database.pool.totalCount - p.database.pool.idleCount).toBe(0);
  });
});

describe("an account's fleet backs off when the API throttles", () => {
  /** Which of the limiter's lanes for one region's DescribeClassicLinkInstances are closed. */
  async function closedLanes(code: string): Promise<number> {
    const p = await startPipeline({ workers: false, sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1 } });
    const [vpcId = ''] = p.sim.world.vpcs('cn-hangzhou');
    const key = p.sim.keys[0];
    if (!key) throw new Error('no key');
    p.sim.setFaults({ failVpcs: { [vpcId]: code } });
    const config = { ...p.config, API_MAX_QPS: 4, API_RETRY_DEADLINE: 0 };
    const lifecycle = new Lifecycle();
    try {
      const msg = openMessaging(config, p.log, lifecycle);
      const account = openAccount(
        config,
        { name: 'prod', regions: ['cn-hangzhou'] },
        { credentials: staticCredentialsProvider(key), backend: msg.backend, log: p.log },
        lifecycle,
      );
      await expect(
        account.ecs.describeClassicLinkInstances({ regionId: 'cn-hangzhou', vpcId }),
      ).rejects.toMatchObject({ code });
      const lanes = Array.from(
        { length: 4 },
        (_, i) => `{${config.QUEUE_PREFIX}}:qps:prod:cn-hangzhou:ecs:DescribeClassicLinkInstances:${i}`,
      );
      const closed = async () => (await laneTtls(msg.backend, lanes)).filter((t) => t > 0);
      // The penalty is sent without waiting for it: wait until it has landed, or for the call's lane.
      await expect.poll(async () => (await closed()).length > 0).toBe(true);
      if (code !== 'ServiceUnavailable') await expect.poll(async () => (await closed()).length).toBe(4);
      return (await closed()).length;
    } finally {
      await lifecycle.close();
    }
  }

  it.each(['Throttling.User', 'Rejected.Throttling'])(
    '%s closes every lane of the key, for every process',
    async (code) => {
      expect(await closedLanes(code)).toBe(4);
    },
  );

  it('another error closes only the lane of the call it made', async () => {
    expect(await closedLanes('ServiceUnavailable')).toBe(1);
  });
});

/** The ms each lane key stays closed, on either queue backend's limiter store (≤ 0: open). */
async function laneTtls(backend: QueueBackend, keys: readonly string[]): Promise<number[]> {
  const store = backend.limiterStore();
  if (store.kind === 'redis') return Promise.all(keys.map((k) => store.redis.pttl(k)));
  const { rows } = await store.pool.query<{ key: string; expire: string | null }>(
    `SELECT key, expire FROM "${store.schema}"."${store.table}" WHERE key = ANY($1)`,
    [keys],
  );
  const now = Date.now();
  return keys.map((k) => {
    const row = rows.find((r) => r.key === k);
    return row?.expire ? Number(row.expire) - now : -2;
  });
}

/**
 * The service with DATABASE_URL through a real PgBouncer in transaction pooling
 * (test/helpers/pgbouncer.ts), its pool smaller than the service's, so transactions of different
 * clients share server connections: `migrate` over DATABASE_DIRECT_URL, a full, a no-op and a
 * churn round exact, and alerts delivered — woken by LISTEN on DATABASE_DIRECT_URL, or polled
 * (and said once) when DATABASE_DIRECT_URL is unset.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { queueSchema } from '../../src/queue/index.js';
import { runCli, spawnCli } from '../helpers/child.js';
import { useCleanup } from '../helpers/cleanup.js';
import { useAbsentDbs } from '../helpers/db.js';
import { captureLog } from '../helpers/log.js';
import { pgbouncerAvailable, usePgBouncer } from '../helpers/pgbouncer.js';
import { type Pipeline, usePipeline } from '../helpers/pipeline.js';
import { channelConfig, channelEnv, startReceiver } from '../helpers/receivers.js';
import { dbLinks, linkEvents, truthLinks } from '../helpers/rows.js';

const available = pgbouncerAvailable();

/** One link detached and one instance attached in each of the first `n` VPCs of the region. */
function churn(pl: Pipeline, n: number, regionId = 'cn-hangzhou'): string[] {
  const expected: string[] = [];
  for (const vpc of pl.sim.world.vpcs(regionId).slice(0, n)) {
    const gone = pl.sim.world.links(regionId, vpc)[0];
    if (!gone) throw new Error(`no link in ${vpc}`);
    pl.sim.world.detach(regionId, gone.instanceId, vpc);
    const fresh = pl.sim.world.createInstance(regionId);
    pl.sim.world.attach(regionId, fresh, vpc);
    expected.push(`removed ${vpc}/${gone.instanceId}`, `added ${vpc}/${fresh}`);
  }
  return expected.sort();
}

describe.skipIf(!available)('the service through PgBouncer (pool_mode = transaction)', () => {
  // Registered first, so it runs last: receivers close after the pipelines and their children.
  const defer = useCleanup();
  // Three server connections for a service pool of 14: clients take turns on them.
  const pgb = usePgBouncer({ poolSize: 3 });
  const open = usePipeline();
  const absentDb = useAbsentDbs();
  /**
   * DATABASE_URL through PgBouncer; DATABASE_DIRECT_URL the database itself, unless `pooledOnly`
   * (then the Postgres queue backend, on a test run of that backend, is pointed at it directly).
   */
  const through = (pooledOnly = false) => ({
    dbEnv: (db: { url: string }) => ({
      DATABASE_URL: pgb.via(db.url),
      ...(pooledOnly ? { QUEUE_DATABASE_URL: db.url } : { DATABASE_DIRECT_URL: db.url }),
    }),
  });

  it('the Postgres queue backend runs on DATABASE_DIRECT_URL: sync --once exact with DATABASE_URL through PgBouncer', async () => {
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 4 },
      ...through(),
    });
    const env = { ...pl.childEnv, QUEUE_BACKEND: 'postgres' };
    const once = await runCli(['sync', '--once', '--json'], env, 60_000);
    expect(once.stderr).toBe('');
    expect(once.code).toBe(0);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    // The queues are in the database, in the prefix's schema.
    const { rows } = await pl.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'job'`,
      [queueSchema(pl.config.QUEUE_PREFIX)],
    );
    expect(rows[0]?.n).toBe(1);
  });

  it('the Postgres queue backend through PgBouncer: refused at start with one line naming the fix', async () => {
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 1, linksPerVpc: 1 },
      ...through(true),
    });
    const { QUEUE_DATABASE_URL: _direct, ...pooled } = pl.childEnv;
    const prefix = `pgb-refused-${Date.now()}`;
    const env = { ...pooled, QUEUE_BACKEND: 'postgres', QUEUE_PREFIX: prefix };
    const once = await runCli(['sync', '--once'], env, 60_000);
    expect(once.code).toBe(1);
    const lines = once.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('QUEUE_DATABASE_URL');
    expect(lines[0]).toContain('unsupported startup parameter');
    expect(lines[0]).toContain('point QUEUE_DATABASE_URL, or DATABASE_DIRECT_URL, at Postgres itself');
    // Nothing of the queues was created through the pooler.
    const { rows } = await pl.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = $1',
      [queueSchema(prefix)],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('migrate goes over DATABASE_DIRECT_URL: creates the database PgBouncer cannot, then migrates it', async () => {
    const { url, exists } = absentDb('classiclink_pgb_cli_');
    const env = { DATABASE_URL: pgb.via(url), DATABASE_DIRECT_URL: url, LOG_LEVEL: 'warn' };
    const first = await runCli(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    // The queue schema of the default (Postgres) queue backend too, over the direct URL.
    expect(first.stdout).toMatch(
      /^applied \d+ migration\(s\)\nqueue schema classiclink_queue is up to date \(QUEUE_BACKEND=postgres\)\n$/,
    );
    expect(await exists()).toBe(true);
    const again = await runCli(['migrate'], env);
    expect(again).toMatchObject({
      code: 0,
      stdout:
        'database is up to date\nqueue schema classiclink_queue is up to date (QUEUE_BACKEND=postgres)\n',
    });
  });

  it('sync --once on a fresh deployment: the database made over DATABASE_DIRECT_URL, the round exact through PgBouncer', async () => {
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 3, linksPerVpc: 4 },
    });
    const { url, exists } = absentDb('classiclink_pgb_once_');
    const env = { ...pl.childEnv, DATABASE_URL: pgb.via(url), DATABASE_DIRECT_URL: url };
    const once = await runCli(['sync', '--once', '--json'], env, 60_000);
    expect(once.stderr).toBe('');
    expect(once.code).toBe(0);
    expect(await exists()).toBe(true);
    const pool = new pg.Pool({ connectionString: url });
    try {
      expect(await dbLinks(pool)).toEqual(truthLinks(pl.sim));
    } finally {
      await pool.end();
    }
  });

  it('a full round, a no-op round and a churn round are exact', async () => {
    const pl = await open({ sim: { vpcsPerRegion: 4, linksPerVpc: 5 }, ...through() });
    expect(pl.config.DATABASE_URL).toContain(`:${pgb.port}/`);

    const full = await pl.round();
    expect(full.every((o) => o.ok && o.result.outcome === 'applied' && o.result.baseline)).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const baseline = await linkEvents(pl.db.pool);
    expect(baseline).toHaveLength(truthLinks(pl.sim).length);
    expect(baseline.every((e) => e.baseline && e.change === 'added')).toBe(true);

    const before = await pl.db.pool.query(
      'SELECT xmin::text, * FROM classic_links ORDER BY vpc_id, instance_id',
    );
    const noop = await pl.round();
    expect(noop.every((o) => o.ok && o.result.added === 0 && o.result.removed === 0)).toBe(true);
    const after = await pl.db.pool.query(
      'SELECT xmin::text, * FROM classic_links ORDER BY vpc_id, instance_id',
    );
    expect(after.rows).toEqual(before.rows);
    expect(await linkEvents(pl.db.pool)).toHaveLength(baseline.length);

    const expected = churn(pl, 3);
    const churned = await pl.round();
    expect(churned.every((o) => o.ok)).toBe(true);
    expect(await dbLinks(pl.db.pool)).toEqual(truthLinks(pl.sim));
    const changes = (await linkEvents(pl.db.pool)).filter((e) => !e.baseline);
    expect(changes.map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`).sort()).toEqual(expected);
  });

  it('alerts: LISTEN on DATABASE_DIRECT_URL wakes the loop for a change applied through PgBouncer', async () => {
    const receiver = await startReceiver('webhook');
    defer(() => receiver.close());
    const pl = await open({
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
      env: channelEnv([receiver]),
      ...through(),
    });
    await pl.round();
    const captured = captureLog('info');
    const dispatcher = createAlertDispatcher({
      store: pl.database.store,
      channels: channelConfig([receiver]),
      log: captured.log,
      // Far beyond the test's timeout: only a NOTIFY can wake the loop in time.
      pollMs: 600_000,
      pace: false,
    });
    defer(() => dispatcher.close());
    const loop = new AbortController();
    const running = dispatcher.run(loop.signal);

    const expected = churn(pl, 1);
    const outcomes = await pl.round();
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const [alert] = await receiver.waitForAccepted(1);
    for (const change of expected) expect(alert?.raw).toContain(change.split('/')[1]);
    loop.abort();
    await running;
    expect(captured.text()).not.toContain('alerts are polled');
  });

  it('alerts without DATABASE_DIRECT_URL: `start` polls, says so once, and delivers every alert once', async () => {
    const receiver = await startReceiver('webhook');
    defer(() => receiver.close());
    const pl = await open({
      workers: false,
      sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
      env: { LOG_LEVEL: 'info', SYNC_INTERVAL: '1s', HTTP_PORT: '0', ...channelEnv([receiver]) },
      ...through(true),
    });
    expect(pl.childEnv.DATABASE_DIRECT_URL).toBeUndefined();
    const service = spawnCli(['start'], pl.childEnv, 'service');
    const said = await service.waitForLog((l) => l.msg.startsWith('alerts are polled every'), 30_000);
    expect(said.msg).toBe(
      'alerts are polled every 1000 ms: LISTEN on DATABASE_URL hears no NOTIFY: it goes through a transaction pooler (PgBouncer pool_mode=transaction keeps no session); set DATABASE_DIRECT_URL to a direct connection to the same database',
    );
    await expect
      .poll(async () => (await dbLinks(pl.db.pool)).length, { timeout: 30_000 })
      .toBe(truthLinks(pl.sim).length);

    // Two changes, one after the other: each alerted once.
    const vpc = pl.sim.world.vpcs('cn-hangzhou')[0] ?? '';
    for (let i = 1; i <= 2; i++) {
      const fresh = pl.sim.world.createInstance('cn-hangzhou');
      pl.sim.world.attach('cn-hangzhou', fresh, vpc);
      const alerts = await receiver.waitForAccepted(i);
      expect(alerts[i - 1]?.raw).toContain(fresh);
    }
    service.signal('SIGTERM');
    expect(await service.waitForExit(30_000)).toEqual({ code: 0, signal: null });
    const ids = receiver.accepted().map((r) => r.idempotencyKey);
    expect(new Set(ids).size).toBe(ids.length);
    expect(service.logs().filter((l) => l.msg.startsWith('alerts are polled'))).toHaveLength(1);
    expect(service.logs().filter((l) => l.level >= 50)).toEqual([]);
  });
});

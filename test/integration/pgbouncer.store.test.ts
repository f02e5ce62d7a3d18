/**
 * The store behind a real PgBouncer in transaction pooling (test/helpers/pgbouncer.ts): no named
 * prepared statement, no session state across transactions. Migrations hold their lock for one
 * transaction, the per-target advisory lock still serialises applies of one target, and LISTEN
 * hears NOTIFY only on DATABASE_DIRECT_URL — through the pooler it is found deaf, and says which
 * variable to set.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { connectDatabase, createStore, type Database } from '../../src/store/index.js';
import { migrateDatabase } from '../../src/store/migrate.js';
import { at } from '../helpers/clock.js';
import { useAbsentDbs, useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { pgbouncerAvailable, usePgBouncer } from '../helpers/pgbouncer.js';
import { count } from '../helpers/rows.js';
import { appliesRacingOnTheLock, scan, uniqueTarget } from '../helpers/store.js';

const available = pgbouncerAvailable();

describe.skipIf(!available)('the store through PgBouncer (pool_mode = transaction)', () => {
  // One server connection for all its clients: every statement of every client shares it, so a
  // named statement prepared by one client collides with the next client's (42P05), and session
  // state set by one is seen by the others.
  const tight = usePgBouncer({ poolSize: 1 });
  // Enough server connections for a lock holder and two waiters.
  const roomy = usePgBouncer({ poolSize: 4 });
  const db = useTestDb({ checkLeaks: true });
  const absentDb = useAbsentDbs();

  /** A pool on the test database through `bouncer`, ended after the test. */
  const pools: pg.Pool[] = [];
  async function pooled(bouncer: typeof tight, max = 10): Promise<pg.Pool> {
    const { url } = await db();
    const pool = new pg.Pool({ connectionString: bouncer.via(url), max });
    pool.on('error', () => {});
    pools.push(pool);
    return pool;
  }
  const databases: Database[] = [];
  function open(opts: Parameters<typeof connectDatabase>[0]): Database {
    const d = connectDatabase(opts);
    databases.push(d);
    return d;
  }
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    await Promise.all(databases.splice(0).map((d) => d.close()));
  });

  it('migrates through the pooler alone: four migrators at once, the migrations applied once', async () => {
    // The database exists (PgBouncer cannot create one) and was never migrated.
    const { name, url } = absentDb('classiclink_pgb_mig_');
    const admin = new pg.Client({ connectionString: url.replace(`/${name}`, '/postgres') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const via = roomy.via(url);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => migrateDatabase({ databaseUrl: via, log: silentLog })),
    );
    const applied = results.map((r) => r.applied).sort((a, b) => a - b);
    expect(applied.slice(0, 3)).toEqual([0, 0, 0]);
    expect(applied[3]).toBeGreaterThan(0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number; distinct: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT hash)::int AS distinct FROM drizzle.__drizzle_migrations',
      );
      expect(rows[0]).toEqual({ n: applied[3], distinct: applied[3] });
      // No lock outlives the migration on a pooled server connection.
      const locks = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
          AND database = (SELECT oid FROM pg_database WHERE datname = $1)`,
        [name],
      );
      expect(locks.rows[0]?.n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('uses no named prepared statement: applies, reads and the console from many clients over one server connection', async () => {
    const pool = await pooled(tight);
    const store = createStore({ pool, log: silentLog });
    const t = uniqueTarget();
    await scan(store, t, [], { minute: 0 });
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.startRun({ target: t, jobId: `j${i}`, attempt: 1, startedAt: at(1 + i) }),
      ),
    );
    // Concurrent calls: the pool opens a client per call, all sharing PgBouncer's one server.
    const [results, reads, burn] = await Promise.all([
      Promise.all(
        runs.map((runId, i) =>
          scan(store, t, ['i-1', 'i-2'], { minute: 1 + i, runId, channels: ['webhook'] }),
        ),
      ),
      Promise.all(Array.from({ length: 4 }, () => store.activeLinks(t))),
      Promise.all(
        Array.from({ length: 3 }, () => store.burnDown({ account: t.account, today: '2030-01-01' })),
      ),
    ]);
    expect(pool.totalCount).toBeGreaterThan(1);
    for (const r of results) expect(['applied', 'superseded']).toContain(r.result.outcome);
    expect(results.filter((r) => r.result.outcome === 'applied' && r.result.added.length > 0)).toHaveLength(
      1,
    );
    expect(reads.every((links) => Array.isArray(links))).toBe(true);
    expect(burn).toHaveLength(3);
    const { pool: direct } = await db();
    expect(
      await count(direct, 'SELECT count(*)::int AS n FROM link_events WHERE account = $1', [t.account]),
    ).toBe(2);
    expect(
      await count(
        direct,
        'SELECT count(*)::int AS n FROM alert_outbox o JOIN sync_runs r ON r.id = o.sync_run_id WHERE r.account = $1',
        [t.account],
      ),
    ).toBe(1);
  });

  it('serialises two concurrent applies of one target on the transaction-scoped advisory lock', async () => {
    const pool = await pooled(roomy);
    const { pool: direct } = await db();
    const store = createStore({ pool, log: silentLog });
    const t = uniqueTarget();
    await scan(store, t, ['i-1'], { minute: 0 });

    // The target's lock held by a transaction through PgBouncer; two applies through it too, both
    // seen waiting on the lock on server connections of their own (from a direct session).
    const outcomes = (await appliesRacingOnTheLock(store, t, pool, direct)).map((r) => r.result);
    // One added i-2; the other found it done (newer scan) or was superseded (older one).
    expect(outcomes.filter((r) => r.outcome === 'applied' && r.added.length === 1)).toHaveLength(1);
    expect(
      await count(
        direct,
        `SELECT count(*)::int AS n FROM link_events WHERE account = $1 AND instance_id = 'i-2'`,
        [t.account],
      ),
    ).toBe(1);
    // Transaction-scoped: nothing of it is left on PgBouncer's server connections.
    expect(
      await count(
        direct,
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database =
           (SELECT oid FROM pg_database WHERE datname = current_database())`,
      ),
    ).toBe(0);
  });

  it('LISTEN on DATABASE_DIRECT_URL hears the NOTIFY of an apply made through PgBouncer', async () => {
    const { url } = await db();
    const database = open({
      databaseUrl: roomy.via(url),
      directUrl: url,
      maxConnections: 4,
      log: silentLog,
    });
    const heard: string[] = [];
    let wake: () => void = () => {};
    const got = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const watch = await database.store.watchChanges((note) => {
      heard.push(`${note.vpcId} +${note.added}`);
      wake();
    });
    try {
      const t = uniqueTarget();
      await scan(database.store, t, ['i-1', 'i-2'], { minute: 0 });
      await got;
      expect(heard).toEqual([`${t.vpcId} +2`]);
    } finally {
      await watch.close();
    }
  });

  it('LISTEN through PgBouncer is found deaf, with the variable to set; so is a direct URL on another database', async () => {
    const { url } = await db();
    // A short probe: through the pooler the NOTIFY never arrives, however long it waits.
    const pooledOnly = open({
      databaseUrl: roomy.via(url),
      maxConnections: 4,
      listenProbeMs: 500,
      log: silentLog,
    });
    const err = await pooledOnly.store.watchOutbox(() => {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'FatalError', code: 'ListenUnheard' });
    expect((err as Error).message).toBe(
      'LISTEN on DATABASE_URL hears no NOTIFY: it goes through a transaction pooler (PgBouncer pool_mode=transaction keeps no session); set DATABASE_DIRECT_URL to a direct connection to the same database',
    );

    const elsewhere = open({
      databaseUrl: roomy.via(url),
      directUrl: url.replace(/\/[^/]+$/, '/postgres'),
      maxConnections: 4,
      listenProbeMs: 500,
      log: silentLog,
    });
    const wrong = await elsewhere.store.watchChanges(() => {}).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ name: 'FatalError', code: 'ListenUnheard' });
    expect((wrong as Error).message).toContain('point DATABASE_DIRECT_URL at the same database');
  });
});

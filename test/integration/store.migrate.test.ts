import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createStore } from '../../src/store/index.js';
import { defaultMigrationsFolder, migrateDatabase } from '../../src/store/migrate.js';
import { at } from '../helpers/clock.js';
import { useAbsentDbs, useTestDb } from '../helpers/db.js';
import { instanceAttrs, scan, uniqueTarget } from '../helpers/store.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb();
const journal = JSON.parse(readFileSync(`${defaultMigrationsFolder()}/meta/_journal.json`, 'utf8')) as {
  entries: { tag: string }[];
};
const MIGRATIONS = journal.entries.length;

/** Databases that do not exist yet, for migrateDatabase to create; dropped after each test. */
const absentDb = useAbsentDbs();

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

describe('migrateDatabase', () => {
  it('finds the migrations folder from src/store/ (and dist/store/, two levels below the package root)', () => {
    expect(defaultMigrationsFolder()).toMatch(/\/migrations$/);
    expect(MIGRATIONS).toBeGreaterThanOrEqual(2);
  });

  it('is a no-op on a migrated database', async () => {
    const { url } = await db();
    expect(await migrateDatabase({ databaseUrl: url, log })).toEqual({ applied: 0 });
    expect(await migrateDatabase({ databaseUrl: url, log })).toEqual({ applied: 0 });
  });

  it('creates a missing database and applies every migration', async () => {
    const { url } = absentDb('classiclink_mig_');
    expect(await migrateDatabase({ databaseUrl: url, log })).toEqual({ applied: MIGRATIONS });
    expect(await tables(url)).toEqual([
      'active_links',
      'alert_outbox',
      'change_feed',
      'classic_links',
      'cloud_events',
      'context_health',
      'instances',
      'link_event_causes',
      'link_event_days',
      'link_events',
      'link_history',
      'sync_runs',
      'sync_targets',
      'vpcs',
    ]);
  });

  it('lets several processes migrate one fresh database at once', async () => {
    const { url } = absentDb('classiclink_mig_');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => migrateDatabase({ databaseUrl: url, log })),
    );
    // Exactly one of them applied the migrations; the others waited on the lock and found none left.
    expect(results.map((r) => r.applied).sort()).toEqual([0, 0, 0, MIGRATIONS]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations',
      );
      expect(rows[0]?.n).toBe(MIGRATIONS);
    } finally {
      await client.end();
    }
  });

  it('names the host and port of DATABASE_URL when the server refuses the connection', async () => {
    // Port 1 on loopback: nothing listens there, so the connect is refused at once.
    const err = await migrateDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/x', log }).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ name: 'RetryableError', code: 'PG_UNREACHABLE' });
    expect(err.message).toBe(
      'Postgres is not reachable at 127.0.0.1:1 (connection refused): start it there, or point DATABASE_URL at the server',
    );
  });

  it("fails a broken migration with Postgres's SQLSTATE and message, applying none of it", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cl-migrations-'));
    mkdirSync(join(folder, 'meta'));
    writeFileSync(
      join(folder, 'meta/_journal.json'),
      JSON.stringify({
        version: '7',
        dialect: 'postgresql',
        entries: [{ idx: 0, version: '7', when: 1, tag: '0000_bad', breakpoints: true }],
      }),
    );
    writeFileSync(
      join(folder, '0000_bad.sql'),
      'CREATE TABLE half_done (id int);\n--> statement-breakpoint\nSELECT * FROM no_such_table;',
    );
    const { url } = absentDb('classiclink_mig_');
    const err = await migrateDatabase({ databaseUrl: url, log, migrationsFolder: folder }).catch((e) => e);
    expect(err).toMatchObject({ name: 'FatalError', code: 'SQLSTATE_42P01' });
    expect(err.message).toContain('no_such_table');
    expect(await tables(url)).toEqual([]);
    rmSync(folder, { recursive: true, force: true });
  });

  it('applies the attribution migrations to a database that already holds history', async () => {
    // The migrations as released before them (0000-0001), in a folder of their own.
    const folder = mkdtempSync(join(tmpdir(), 'cl-migrations-'));
    mkdirSync(join(folder, 'meta'));
    const released = journal.entries.slice(0, 2) as { tag: string }[];
    writeFileSync(join(folder, 'meta/_journal.json'), JSON.stringify({ ...journal, entries: released }));
    for (const { tag } of released) {
      copyFileSync(join(defaultMigrationsFolder(), `${tag}.sql`), join(folder, `${tag}.sql`));
    }
    const { url } = absentDb('classiclink_mig_');
    expect(await migrateDatabase({ databaseUrl: url, log, migrationsFolder: folder })).toEqual({
      applied: 2,
    });
    rmSync(folder, { recursive: true, force: true });

    const pool = new pg.Pool({ connectionString: url });
    try {
      const store = createStore({ pool, log });
      const t = uniqueTarget();
      await scan(store, t, ['i-1'], { minute: 0 });
      await scan(store, t, ['i-2'], { minute: 10 });

      expect(await migrateDatabase({ databaseUrl: url, log })).toEqual({ applied: MIGRATIONS - 2 });
      const { rows } = await pool.query(
        `SELECT instance_id, change, baseline, instance_name, vpc_name, cause_status FROM link_history ORDER BY id`,
      );
      const unknown = { instance_name: null, vpc_name: null, cause_status: null };
      expect(rows).toEqual([
        { instance_id: 'i-1', change: 'added', baseline: true, ...unknown },
        { instance_id: 'i-2', change: 'added', baseline: false, ...unknown },
        { instance_id: 'i-1', change: 'removed', baseline: false, ...unknown },
      ]);
      // The history from before is attributed like any other.
      const scope = { account: t.account, regionId: t.regionId };
      const pending = await store.pendingCauses(scope);
      expect(pending.map((p) => [p.change, p.instanceId, p.previousScanStartedAt])).toEqual([
        ['added', 'i-2', at(0)],
        ['removed', 'i-1', at(0)],
      ]);
      expect(await store.instancesMissingAttributes(scope)).toEqual(['i-2', 'i-1']);
      await store.upsertInstances({ ...scope, instances: [instanceAttrs('i-2')], seenAt: at(11) });
      const events = await store.listEvents({ account: t.account, instanceId: 'i-2' });
      expect(events.map((e) => e.instance?.name)).toEqual(['name-i-2']);
    } finally {
      await pool.end();
    }
  });

  it('reports a missing migrations folder clearly', async () => {
    const { url } = await db();
    await expect(
      migrateDatabase({ databaseUrl: url, log, migrationsFolder: '/nonexistent/migrations' }),
    ).rejects.toMatchObject({ name: 'FatalError', code: 'MIGRATIONS_MISSING' });
  });
});

/**
 * One database per test file (or test), cloned from the template that global-setup migrated:
 * `CREATE DATABASE … TEMPLATE` copies files, so a fresh, fully migrated database costs tens of
 * milliseconds. A database is dropped after a passing file and kept after a failing one, so the
 * rows a failing test left can be inspected with psql (its name is printed).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, expect, inject } from 'vitest';
import type { ChannelName } from '../../src/alerts/index.js';
import type { Link, TargetRef } from '../../src/links.js';
import { diffLinks, linkKey } from '../../src/links.js';
import type { ApplyScanResult, Store } from '../../src/store/index.js';
import { quoteIdent } from '../../src/store/migrate.js';

export const TEMPLATE_PREFIX = 'classiclink_template_';
export const TEST_DB_PREFIX = 'classiclink_test_';

/** The server under test: `TEST_DATABASE_URL` (any database on it), default the machine's Postgres. */
function serverUrl(): URL {
  return new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
}

/** URL of database `name` on the test server. */
export function testDatabaseUrl(name: string): string {
  const u = serverUrl();
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}

/** URL of the server's `postgres` database, for CREATE / DROP DATABASE. */
export function adminUrl(): string {
  return testDatabaseUrl('postgres');
}

/** A unique database name with the test prefix (no dashes: it stays a plain identifier). */
export function uniqueDbName(prefix = TEST_DB_PREFIX): string {
  return `${prefix}${randomUUID().replace(/-/g, '')}`;
}

export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Drops a database, disconnecting whoever is still in it (PG13+). */
export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

export interface TestDb {
  name: string;
  url: string;
  pool: pg.Pool;
  /** Closes the pool, then drops the database unless `keep` (then prints its name). Idempotent. */
  drop(opts?: { keep?: boolean }): Promise<void>;
}

/** Clones the migrated template into a new, uniquely named database. */
export async function createTestDb(): Promise<TestDb> {
  const template = inject('templateDb');
  const name = uniqueDbName();
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
  const url = testDatabaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // DROP DATABASE … WITH (FORCE) terminates connections that are still closing; their 'error'
  // must not become an unhandled error of the test run.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  let dropped: Promise<void> | undefined;
  return {
    name,
    url,
    pool,
    drop(opts) {
      dropped ??= (async () => {
        await pool.end();
        if (opts?.keep) {
          console.warn(`test database kept for inspection: psql ${url}`);
          return;
        }
        await dropDatabase(name);
      })();
      return dropped;
    },
  };
}

/**
 * Registers a test database for the calling test file: created on first use, dropped in
 * `afterAll` when every test passed, kept when one failed (pg-boss style). With `checkLeaks`,
 * every test must end with no client checked out of the pool (a transaction helper that forgets
 * to release on an error path fails the test that hit it).
 *
 *   const db = useTestDb();
 *   it('…', async () => { const { pool } = await db(); … });
 */
export function useTestDb(opts: { checkLeaks?: boolean } = {}): () => Promise<TestDb> {
  let created: Promise<TestDb> | undefined;
  let failed = false;
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      failed = true;
    });
  });
  if (opts.checkLeaks) {
    afterEach(async () => {
      if (!created) return;
      const { pool } = await created;
      expect({ checkedOut: pool.totalCount - pool.idleCount, waiting: pool.waitingCount }).toEqual({
        checkedOut: 0,
        waiting: 0,
      });
    });
  }
  afterAll(async () => {
    if (created) await (await created).drop({ keep: failed });
  });
  return () => {
    created ??= createTestDb();
    return created;
  };
}

// ---------------------------------------------------------------------------------------------
// Store fixtures: drive the store the way sync.ts does, with times chosen by the test.

/** A target of its own per test (a fresh account), so tests sharing a database never meet. */
export function uniqueTarget(vpcId = 'vpc-1'): TargetRef {
  return { account: `acct-${randomUUID().slice(0, 8)}`, regionId: 'cn-hangzhou', vpcId };
}

/** A fixed clock origin: `at(n)` is n minutes after it. Tests never read the real clock. */
export const T0 = new Date('2025-01-01T00:00:00.000Z');
export const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

export interface ScanOptions {
  /** Scan start; default `at(minute)`. */
  minute: number;
  /** Removal keys to confirm; default: every removal the diff against activeLinks() finds. */
  confirm?: Iterable<string>;
  channels?: readonly ChannelName[];
  alertOnBaseline?: boolean;
  runId?: string;
}

/**
 * startRun + applyScan of a scan that saw `instances` in the target's VPC, starting at
 * `at(minute)` and detected 30 seconds later.
 */
export async function scan(
  store: Store,
  target: TargetRef,
  instances: readonly string[],
  opts: ScanOptions,
): Promise<{ runId: string; result: ApplyScanResult }> {
  const startedAt = at(opts.minute);
  const links: Link[] = instances.map((instanceId) => ({ vpcId: target.vpcId, instanceId }));
  const runId =
    opts.runId ?? (await store.startRun({ target, jobId: `job-${randomUUID()}`, attempt: 1, startedAt }));
  const confirm = opts.confirm ?? diffLinks(await store.activeLinks(target), links).removed.map(linkKey);
  const result = await store.applyScan({
    runId,
    target,
    scanStartedAt: startedAt,
    links,
    pages: Math.max(1, Math.ceil(links.length / 100)),
    requestId: `req-${opts.minute}`,
    confirmedRemovals: new Set(confirm),
    channels: opts.channels ?? [],
    alertOnBaseline: opts.alertOnBaseline ?? false,
    detectedAt: new Date(startedAt.getTime() + 30_000),
  });
  return { runId, result };
}

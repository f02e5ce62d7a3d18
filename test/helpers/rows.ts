/**
 * Database readers: the rows tests assert on, read one way everywhere (typed, in a stable order),
 * the simulator's truth they are compared with, and polls that wait for a sync_runs row (tests
 * wait for rows, never for time).
 */
import type { Pool } from 'pg';
import { type ExpectPollOptions, expect } from 'vitest';
import type { RunningSimulator } from '../../src/simulator/index.js';

/** Active links in Postgres as sorted `vpc/instance` strings (of one region when given). */
export async function dbLinks(pool: Pool, regionId?: string): Promise<string[]> {
  const { rows } = await pool.query<{ k: string }>(
    `SELECT vpc_id || '/' || instance_id AS k FROM classic_links
      WHERE removed_at IS NULL AND ($1::text IS NULL OR region_id = $1) ORDER BY 1`,
    [regionId ?? null],
  );
  return rows.map((r) => r.k);
}

/** The simulator's truth as sorted `vpc/instance` strings (of one region when given). */
export function truthLinks(sim: RunningSimulator, regionId?: string): string[] {
  const regions = regionId ? [regionId] : sim.world.regions();
  return regions
    .flatMap((r) => sim.world.links(r))
    .map((l) => `${l.vpcId}/${l.instanceId}`)
    .sort();
}

export interface EventRow {
  id: string;
  vpc_id: string;
  instance_id: string;
  change: 'added' | 'removed';
  baseline: boolean;
  sync_run_id: string;
}

/** The link_events rows in the order they were written (of one account when given). */
export async function linkEvents(pool: Pool, opts: { account?: string } = {}): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    `SELECT id::text, vpc_id, instance_id, change, baseline, sync_run_id::text FROM link_events
      WHERE ($1::text IS NULL OR account = $1) ORDER BY link_events.id`,
    [opts.account ?? null],
  );
  return rows;
}

export interface RunRow {
  id: string;
  region_id: string;
  vpc_id: string;
  job_id: string;
  attempt: number;
  status: string;
  error_code: string | null;
  error_message: string | null;
  started_at: Date;
  finished_at: Date | null;
}

/** The sync_runs rows in the order they were started. */
export async function runs(pool: Pool): Promise<RunRow[]> {
  const { rows } = await pool.query<RunRow>(
    `SELECT id::text, region_id, vpc_id, job_id, attempt, status, error_code, error_message, started_at, finished_at
       FROM sync_runs ORDER BY sync_runs.id`,
  );
  return rows;
}

/** Polls the sync_runs rows through `pick` (expect.poll: chain the matcher that ends the wait). */
export function pollRuns<T>(pool: Pool, pick: (rows: RunRow[]) => T, opts?: ExpectPollOptions) {
  return expect.poll(async () => pick(await runs(pool)), opts);
}

/** The value of a `SELECT count(*)::int AS n …` query. */
export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(sql, params);
  return rows[0]?.n ?? 0;
}

/** How many runs are still 'running'. */
export function runningRuns(pool: Pool): Promise<number> {
  return count(pool, `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'running'`);
}

/**
 * Each `instances` / `vpcs` row of an account with its physical version (xmin) and its locker
 * (xmax): a write changes the first, equal or not, and a row lock (an ON CONFLICT DO UPDATE whose
 * WHERE is false still takes one, writing WAL) the second; a refresh that wrote and locked nothing
 * leaves both as they were.
 */
export async function attributeVersions(
  pool: Pool,
  table: 'instances' | 'vpcs',
  account: string,
): Promise<{ id: string; v: string }[]> {
  const key = table === 'instances' ? 'instance_id' : 'vpc_id';
  const { rows } = await pool.query<{ id: string; v: string }>(
    `SELECT ${key} AS id, xmin::text || '/' || xmax::text AS v FROM ${table} WHERE account = $1 ORDER BY 1`,
    [account],
  );
  return rows;
}

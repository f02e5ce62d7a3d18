/**
 * The change feed in tests: the simulator's admin API (changes that leave an ActionTrail record,
 * as a user's console or API call would), one feed poll run to its end, and the rows the feed
 * writes. Tests wait for jobs and rows, never for time.
 */
import type { Pool } from 'pg';
import type { FeedJobResult, Queues } from '../../src/queue/index.js';
import type { RunningSimulator } from '../../src/simulator/index.js';
import { admin } from './sim-admin.js';

export { admin };

/** Attaches or detaches through the admin API: the world changes and ActionTrail records the call. */
export async function change(
  sim: RunningSimulator,
  what: 'attach' | 'detach',
  link: { regionId: string; instanceId: string; vpcId: string },
): Promise<void> {
  const a = await admin(sim, 'POST', `/_sim/${what}`, { ...link, user: 'ops-admin' });
  if (a.status !== 200) throw new Error(`${what} failed: ${JSON.stringify(a.json)}`);
}

/** An unlinked instance of the region, made now. */
export async function newInstance(sim: RunningSimulator, regionId: string): Promise<string> {
  const a = await admin(sim, 'POST', '/_sim/instances', { regionId });
  return (a.json as { instanceId: string }).instanceId;
}

/** One poll of the feed of an account+region, run by the worker; resolves with what it did. */
export async function pollFeed(queues: Queues, account: string, regionId: string): Promise<FeedJobResult> {
  const job = await queues.feed.add('feed', { account, regionId });
  return queues.waitFor('feed', String(job.id), 30_000);
}

/** Waits until ActionTrail shows every record made so far (the simulator's visibility delay). */
export async function trailVisible(sim: RunningSimulator): Promise<void> {
  const last = Math.max(0, ...sim.actionTrail.entries().map((e) => e.visibleAt));
  while (Date.now() < last) await new Promise((r) => setTimeout(r, Math.max(5, last - Date.now())));
}

export interface FeedRow {
  account: string;
  region_id: string;
  cursor_at: Date;
  last_poll_at: Date | null;
  last_success_at: Date | null;
  last_error: string | null;
  consecutive_failures: number;
  records_seen: string;
  scans_scheduled: string;
}

export async function feedRows(pool: Pool): Promise<FeedRow[]> {
  const { rows } = await pool.query<FeedRow>('SELECT * FROM change_feed ORDER BY account, region_id');
  return rows;
}

/** `cloud_events` as `event_id received_via event_name`, in event time order. */
export async function cloudEvents(
  pool: Pool,
): Promise<{ event_id: string; received_via: string; event_name: string }[]> {
  const { rows } = await pool.query<{ event_id: string; received_via: string; event_name: string }>(
    'SELECT event_id, received_via, event_name FROM cloud_events ORDER BY event_time, event_id',
  );
  return rows;
}

/**
 * The invariants every scenario ends with once the world has settled: Postgres holds the truth,
 * every change that happened is recorded exactly once, nothing else changed, and every
 * alert-worthy run is delivered under its one outbox id.
 */
import { expect } from 'vitest';
import { count, dbLinks, type EventRow, linkEvents, runningRuns, truthLinks } from '../helpers/rows.js';
import { type Scenario, waitFor } from './harness.js';
import { linkPath } from './world-log.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

/** A named check: recorded in `results` (for the figures) and asserted. */
export function checker(results: CheckResult[]) {
  return (name: string, actual: unknown, expected: unknown): void => {
    const ok = JSON.stringify(actual) === JSON.stringify(expected);
    results.push({
      name,
      ok,
      detail: ok ? undefined : `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    });
    expect(actual, name).toEqual(expected);
  };
}

/**
 * Checks every invariant of a settled world and returns the named results (each also asserted).
 * `alerts` (default true): the changes outbox is delivered to the receiver, waiting up to
 * `alertTimeoutMs` for the dispatcher.
 */
export async function checkInvariants(
  s: Scenario,
  opts: { alerts?: boolean; alertTimeoutMs?: number } = {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = checker(results);

  // 1. The links in Postgres equal the simulator's truth.
  check('links equal the truth', await dbLinks(s.pool), truthLinks(s.sim));

  // 2. Every change that happened is recorded exactly once (non-baseline events = the change log).
  const events = await linkEvents(s.pool);
  const recorded = events
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`)
    .sort();
  const happened = s.log.changes
    .map((c) => `${c.op === 'attach' ? 'added' : 'removed'} ${c.vpcId}/${c.instanceId}`)
    .sort();
  check('every change recorded exactly once', recorded, happened);

  // 3. The events of each link alternate added/removed, starting with added.
  const perLink = new Map<string, string[]>();
  for (const e of events) {
    const k = linkPath(e.vpc_id, e.instance_id);
    perLink.set(k, [
      ...(perLink.get(k) ?? []),
      `${e.change}#${e.id}@${e.sync_run_id}${e.baseline ? 'b' : ''}`,
    ]);
  }
  const broken = [...perLink].filter(([, changes]) =>
    changes.some((c, i) => !c.startsWith(i % 2 === 0 ? 'added#' : 'removed#')),
  );
  check('events of each link alternate', broken, []);

  // 4. Nothing else changed: baseline events are the baseline links; link rows are exactly the
  //    links ever seen; run counters match the events; no run stays 'running'.
  const baselineEvents = events
    .filter((e) => e.baseline)
    .map((e) => linkPath(e.vpc_id, e.instance_id))
    .sort();
  check('baseline events are the baseline links', baselineEvents, [...s.log.baseline].sort());
  const { rows: linkRows } = await s.pool.query<{ k: string }>(
    `SELECT vpc_id || '/' || instance_id AS k FROM classic_links ORDER BY 1`,
  );
  check(
    'no link row beyond the links ever seen',
    linkRows.map((r) => r.k),
    [...new Set([...s.log.baseline, ...s.log.changes.map((c) => linkPath(c.vpcId, c.instanceId))])].sort(),
  );
  const { rows: counters } = await s.pool.query<{ run: string; added: number; removed: number }>(
    `SELECT id::text AS run, added, removed FROM sync_runs WHERE status = 'succeeded' AND (added > 0 OR removed > 0)`,
  );
  const fromEvents = new Map<string, { added: number; removed: number }>();
  for (const e of events) {
    const c = fromEvents.get(e.sync_run_id) ?? { added: 0, removed: 0 };
    c[e.change]++;
    fromEvents.set(e.sync_run_id, c);
  }
  check(
    'run counters match their events',
    counters.map((r) => `${r.run}:${r.added}:${r.removed}`).sort(),
    [...fromEvents].map(([run, c]) => `${run}:${c.added}:${c.removed}`).sort(),
  );
  check('no run left running', await runningRuns(s.pool), 0);

  if (opts.alerts !== false) results.push(...(await checkAlerts(s, events, opts.alertTimeoutMs ?? 60_000)));
  return results;
}

/** Every alert-worthy run delivered at least once under its outbox id, never two bodies per id. */
async function checkAlerts(s: Scenario, events: EventRow[], timeoutMs: number): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = checker(results);
  const changedRuns = [...new Set(events.filter((e) => !e.baseline).map((e) => e.sync_run_id))].sort();
  const { rows: outbox } = await s.pool.query<{ id: string; run: string }>(
    `SELECT id::text, sync_run_id::text AS run FROM alert_outbox WHERE kind = 'changes' AND channel = 'webhook'`,
  );
  check('one outbox row per alert-worthy run', outbox.map((r) => r.run).sort(), changedRuns);
  const ids = outbox.map((r) => r.id).sort();
  const acceptedIds = () => new Set(s.receiver.accepted().map((r) => String(r.headers['webhook-id'])));
  await waitFor(
    async () => acceptedIds(),
    (got) => ids.every((id) => got.has(id)),
    { timeout: timeoutMs, what: `delivery of outbox rows ${ids.join(', ')}` },
  ).catch(() => undefined);
  check(
    'every changes-outbox row delivered to the receiver',
    ids.filter((id) => !acceptedIds().has(id)),
    [],
  );
  const { rows: undelivered } = await s.pool.query<{ id: string }>(
    `SELECT id::text FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
  );
  // A row can be received and not yet recorded delivered for a moment: wait for the record.
  if (undelivered.length > 0) {
    await waitFor(
      () =>
        count(
          s.pool,
          `SELECT count(*)::int AS n FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
        ),
      (n) => n === 0,
      { timeout: timeoutMs, what: 'outbox rows recorded delivered' },
    ).catch(() => undefined);
  }
  const { rows: notDelivered } = await s.pool.query<{ id: string; status: string }>(
    `SELECT id::text, status FROM alert_outbox WHERE kind = 'changes' AND status <> 'delivered'`,
  );
  check('every changes-outbox row recorded delivered', notDelivered, []);
  const bodies = new Map<string, Set<string>>();
  for (const r of s.receiver.requests) {
    const id = String(r.headers['webhook-id']);
    bodies.set(id, (bodies.get(id) ?? new Set()).add(r.raw));
  }
  check(
    'no outbox id in two different bodies',
    [...bodies].filter(([, b]) => b.size > 1).map(([id]) => id),
    [],
  );
  const known = new Set(outbox.map((r) => r.id));
  const { rows: allOutbox } = await s.pool.query<{ id: string }>(`SELECT id::text FROM alert_outbox`);
  for (const r of allOutbox) known.add(r.id);
  check(
    'no delivery of an id the outbox does not hold',
    [...bodies.keys()].filter((id) => !known.has(id)),
    [],
  );
  return results;
}

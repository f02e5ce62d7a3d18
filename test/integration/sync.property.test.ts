/**
 * The completeness property end to end against real Postgres (runSync → applyScan), few runs: for
 * random before/after sets over several pages of 100 and a random lie in the pages, the events
 * committed are exactly the true difference and the links equal the truth — or the run fails and
 * nothing at all changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { runSync } from '../../src/sync/scan.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { detectableLie, idPool, memorySource, VPC } from '../helpers/memory-source.js';
import { linkEvents } from '../helpers/rows.js';
import { scan, uniqueTarget } from '../helpers/store.js';

const db = useTestDb({ checkLeaks: true });
const POOL = idPool(260);

describe('sync property with Postgres', () => {
  it('committed events are the true difference, or the run failed and nothing changed', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const set = fc.subarray(POOL, { minLength: 0 });
    await fc.assert(
      fc.asyncProperty(
        set,
        set,
        fc.option(detectableLie(4), { nil: undefined }),
        async (before, after, lie) => {
          const target = { ...uniqueTarget(VPC) };
          await scan(store, target, before, { minute: 0 });
          const source = memorySource(after, lie ? [lie] : [], 100);
          let failed = false;
          try {
            await runSync(
              { sourceFor: () => source, store, channels: ['webhook'], alertOnBaseline: false, maxScans: 2 },
              { target, jobId: `prop-${target.account}`, attempt: 1, log: silentLog },
            );
          } catch {
            failed = true;
          }
          const { rows: links } = await pool.query<{ i: string }>(
            `SELECT instance_id AS i FROM classic_links WHERE account = $1 AND removed_at IS NULL ORDER BY 1`,
            [target.account],
          );
          const events = (await linkEvents(pool, { account: target.account }))
            .filter((e) => !e.baseline)
            .map((e) => `${e.change} ${e.instance_id}`)
            .sort();
          const { rows: outbox } = await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM alert_outbox o JOIN sync_runs r ON r.id = o.sync_run_id WHERE r.account = $1`,
            [target.account],
          );
          if (failed) {
            expect(links.map((r) => r.i)).toEqual([...before].sort());
            expect(events).toEqual([]);
            expect(outbox[0]?.n).toBe(0);
            return;
          }
          const b = new Set(before);
          const a = new Set(after);
          const expected = [
            ...after.filter((x) => !b.has(x)).map((x) => `added ${x}`),
            ...before.filter((x) => !a.has(x)).map((x) => `removed ${x}`),
          ].sort();
          expect(links.map((r) => r.i)).toEqual([...after].sort());
          expect(events).toEqual(expected);
          expect(outbox[0]?.n).toBe(expected.length > 0 ? 1 : 0);
        },
      ),
      { numRuns: 25 },
    );
  });
});

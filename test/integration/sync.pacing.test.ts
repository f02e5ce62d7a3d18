/**
 * Plans pace their sync jobs to the API budget (plan.ts): a region whose jobs must wait for its
 * budget does not take every job slot while another region, with budget of its own, waits in the
 * queue behind it. Checked by the order in which runs finish, against real Redis and Postgres.
 */
import { describe, expect, it } from 'vitest';
import { captureLog } from '../helpers/log.js';
import { usePipeline } from '../helpers/pipeline.js';

const startPipeline = usePipeline();

const BUSY = 'cn-hangzhou';
const OTHER = 'cn-shanghai';
const VPCS = 12;
const QPS = 3;

describe('pacing sync jobs to the API budget', () => {
  it("a region waiting for its budget does not hold back another region's jobs", async () => {
    // One API slot and two job slots per process; 3 calls/s per region. BUSY's 12 jobs are
    // enqueued first, OTHER's 12 right after. Unpaced, BUSY's jobs would fill both job slots and
    // wait for BUSY's budget one after another: OTHER's first run could finish only after ~10 of
    // BUSY's. Paced, each region's jobs become ready at its own 3 per second, so they interleave.
    const pl = await startPipeline({
      sim: { regions: [BUSY, OTHER], vpcsPerRegion: VPCS, linksPerVpc: 2 },
      env: { API_MAX_QPS: String(QPS), SYNC_CONCURRENCY: '1' },
    });
    const planBusy = await pl.queues.enqueuePlan({ account: pl.config.SYNC_ACCOUNT, regionId: BUSY });
    const busy = (await pl.queues.waitFor('plan', planBusy, 30_000)).targets;
    const planOther = await pl.queues.enqueuePlan({ account: pl.config.SYNC_ACCOUNT, regionId: OTHER });
    const other = (await pl.queues.waitFor('plan', planOther, 30_000)).targets;
    expect(busy).toHaveLength(VPCS);
    expect(other).toHaveLength(VPCS);

    // The jobs of one plan are spaced 1/QPS apart, in Redis (delayed), not all ready at once —
    // but the first QPS jobs are: the limiter admits a second's worth of calls at once.
    const delays = await Promise.all(
      busy.map(async ({ jobId }) => (await pl.queues.sync.getJob(jobId))?.opts.delay ?? 0),
    );
    expect(delays.slice(0, QPS)).toEqual(Array.from({ length: QPS }, () => 0));
    expect(delays[QPS]).toBeGreaterThan(500);
    expect(delays.at(-1)).toBeGreaterThanOrEqual(((VPCS - 1) * 1_000) / QPS - 1_500);

    await Promise.all([...busy, ...other].map(({ jobId }) => pl.queues.waitFor('sync', jobId, 60_000)));
    const { rows } = await pl.db.pool.query<{ region_id: string }>(
      `SELECT region_id FROM sync_runs WHERE status = 'succeeded' ORDER BY finished_at, id`,
    );
    expect(rows).toHaveLength(2 * VPCS);
    const order = rows.map((r) => r.region_id);
    const busyBeforeOther = order.indexOf(OTHER);
    expect(busyBeforeOther).toBeGreaterThanOrEqual(0);
    // OTHER's first run finished before half of BUSY's had.
    expect(busyBeforeOther).toBeLessThan(VPCS / 2);
  }, 60_000);

  it("paces by the calls a job is expected to make: the pages of its target's last scan", async () => {
    // Four VPCs of 250 links: three pages each. The first plan knows nothing (one call a job); the
    // second expects three, so its jobs start three calls (one second at 3 calls/s) apart.
    const captured = captureLog();
    const pl = await startPipeline({
      sim: { regions: [BUSY], vpcsPerRegion: 4, linksPerVpc: 250 },
      env: { API_MAX_QPS: String(QPS), SYNC_CONCURRENCY: '1', SYNC_INTERVAL: '2s' },
      log: captured.log,
    });
    const tooSlow = () => captured.lines.filter((l) => l.includes('longer than SYNC_INTERVAL'));
    const planAndSync = async () => {
      const id = await pl.queues.enqueuePlan({ account: pl.config.SYNC_ACCOUNT, regionId: BUSY });
      const { targets } = await pl.queues.waitFor('plan', id, 30_000);
      const delays = await Promise.all(
        targets.map(async ({ jobId }) => (await pl.queues.sync.getJob(jobId))?.opts.delay ?? 0),
      );
      await Promise.all(targets.map(({ jobId }) => pl.queues.waitFor('sync', jobId, 60_000)));
      return delays;
    };
    const first = await planAndSync();
    expect(first.slice(0, QPS)).toEqual([0, 0, 0]);
    // Four calls at 3/s fit in SYNC_INTERVAL=2s; twelve do not (the last job starts 3 s in).
    expect(tooSlow()).toEqual([]);
    const second = await planAndSync();
    expect(tooSlow()).toHaveLength(1);
    expect(JSON.parse(tooSlow()[0] ?? '{}')).toMatchObject({
      level: 40,
      regionId: BUSY,
      targets: 4,
      expectedCalls: 12,
      maxQps: QPS,
      paceSeconds: 3,
      intervalSeconds: 2,
    });
    expect(second[0]).toBe(0);
    // Job i's first call is call 3i: ready at 3i / QPS s = i s (less the time the enqueue took).
    for (let i = 1; i < 4; i++) {
      expect(second[i]).toBeGreaterThan(i * 1_000 - 500);
      expect(second[i]).toBeLessThanOrEqual(i * 1_000);
    }
    const { rows } = await pl.db.pool.query<{ pages: number }>(
      `SELECT pages FROM sync_runs WHERE status = 'succeeded' ORDER BY id`,
    );
    expect(rows.map((r) => r.pages)).toEqual(Array.from({ length: 8 }, () => 3));
  }, 60_000);
});

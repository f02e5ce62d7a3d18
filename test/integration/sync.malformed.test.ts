/**
 * Malformed API answers through the whole sync pipeline (plan job → sync job → applyScan): for
 * each way an answer can be broken, the run fails with a clear code and NOTHING is applied — no
 * link row, no event, no outbox row — although the world did change. Once the answers are sound
 * again the next round records exactly the change.
 *
 * Two layers: bodies broken on the wire by the simulator (the client's validation must refuse
 * them), and pages that are well-formed one by one but wrong together (the completeness rules of
 * sync.ts must refuse the scan).
 */
import { describe, expect, it } from 'vitest';
import type { Link } from '../../src/links.js';
import type { MalformedKind } from '../../src/simulator/index.js';
import type { LinkPage, LinkSource } from '../../src/sync/source.js';
import { type Pipeline, type RoundOutcome, usePipeline } from '../helpers/pipeline.js';
import { dbLinks, linkEvents, runs } from '../helpers/rows.js';

const startPipeline = usePipeline();

type PageTamper = (page: LinkPage, pageNumber: number) => LinkPage;
const tamper: { fn: PageTamper | undefined } = { fn: undefined };

const REGION = 'cn-hangzhou';

/** One region, one VPC of 150 links (two pages), a baseline applied, then one detach and one attach. */
async function open(): Promise<{
  pl: Pipeline;
  vpcId: string;
  before: string[];
  gone: string;
  fresh: string;
}> {
  const pl = await startPipeline({
    sim: { regions: [REGION], vpcsPerRegion: 1, linksPerVpc: 150 },
    env: { ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hooks/never-called' },
    wrapSource: (s): LinkSource => ({
      ...s,
      page: async (t, n, size, o) => {
        const page = await s.page(t, n, size, o);
        return tamper.fn ? tamper.fn(page, n) : page;
      },
    }),
  });
  tamper.fn = undefined;
  const baseline = await pl.round();
  expect(baseline.every((o) => o.ok)).toBe(true);
  const vpcId = pl.sim.world.vpcs(REGION)[0] ?? '';
  const before = await dbLinks(pl.db.pool);
  const gone = pl.sim.world.links(REGION, vpcId)[0]?.instanceId ?? '';
  pl.sim.world.detach(REGION, gone, vpcId);
  const fresh = pl.sim.world.createInstance(REGION);
  pl.sim.world.attach(REGION, fresh, vpcId);
  return { pl, vpcId, before, gone, fresh };
}

async function nothingApplied(pl: Pipeline, before: string[]): Promise<void> {
  expect(await dbLinks(pl.db.pool)).toEqual(before);
  const counts = await pl.db.pool.query<{ events: number; outbox: number; rows: number }>(
    `SELECT (SELECT count(*)::int FROM link_events WHERE NOT baseline) AS events,
            (SELECT count(*)::int FROM alert_outbox) AS outbox,
            (SELECT count(*)::int FROM classic_links) AS rows`,
  );
  expect(counts.rows[0]).toEqual({ events: 0, outbox: 0, rows: before.length });
}

/** The round failed, and every failed run says `code` with a message matching `message`. */
async function failedWith(pl: Pipeline, outcomes: RoundOutcome[], code: string, message: RegExp) {
  expect(outcomes[0]?.ok).toBe(false);
  const failed = (await runs(pl.db.pool)).filter((r) => r.status === 'failed');
  expect(failed.length).toBeGreaterThan(0);
  for (const run of failed) {
    expect(run.error_code).toBe(code);
    expect(run.error_message).toMatch(message);
  }
}

/** After the broken round, a sound round records exactly the one detach and the one attach. */
async function recovers(pl: Pipeline, vpcId: string, gone: string, fresh: string): Promise<void> {
  pl.sim.setFaults({});
  tamper.fn = undefined;
  const [outcome] = await pl.round();
  expect(outcome?.ok && outcome.result).toMatchObject({ outcome: 'applied', added: 1, removed: 1 });
  const changes = (await linkEvents(pl.db.pool))
    .filter((e) => !e.baseline)
    .map((e) => `${e.change} ${e.vpc_id}/${e.instance_id}`)
    .sort();
  expect(changes).toEqual([`added ${vpcId}/${fresh}`, `removed ${vpcId}/${gone}`]);
}

describe('malformed bodies on the wire: the run fails with a clear code, nothing applied', () => {
  const cases: [MalformedKind, string, RegExp][] = [
    ['non-json', 'MalformedResponse', /not JSON/],
    ['truncated', 'MalformedResponse', /invalid or truncated JSON/],
    ['html', 'MalformedResponse', /not JSON \(content-type text\/html\)/],
    ['empty', 'MalformedResponse', /empty body/],
    ['wrong-types', 'MalformedResponse', /TotalCount: Invalid input: expected number, received string/],
    ['missing-fields', 'MalformedResponse', /TotalCount: Invalid input: expected number, received undefined/],
    ['negative-total', 'MalformedResponse', /TotalCount: Too small/],
    ['foreign-vpc', 'MalformedResponse', /foreign VPC/],
    ['duplicates', 'MalformedResponse', /twice on one page/],
    // Page 2 answered with page 1's links: well-formed, but the scan counts 100 of 150 links.
    ['page-echo', 'IncompleteScan', /counted 100 unique links .*TotalCount says 150/],
  ];
  it.each(cases)('%s → %s', async (kind, code, message) => {
    const { pl, vpcId, before, gone, fresh } = await open();
    pl.sim.setFaults({ malformedRate: 1, malformedKind: kind, actions: ['DescribeClassicLinkInstances'] });
    await failedWith(pl, await pl.round(), code, message);
    expect(pl.sim.requests.some((r) => r.fault === `malformed:${kind}`)).toBe(true);
    await nothingApplied(pl, before);
    await recovers(pl, vpcId, gone, fresh);
  });
});

/** Page 2's first link replaced by page 1's first link: a duplicate across pages. */
function repeatAcrossPages(): PageTamper {
  let first: Link | undefined;
  return (page, n) => {
    if (n === 1) first = page.links[0];
    return n === 2 && first ? { ...page, links: [first, ...page.links.slice(1)] } : page;
  };
}

describe('pages sound one by one but wrong together: the scan is incomplete, nothing applied', () => {
  const cases: [string, string, RegExp, PageTamper][] = [
    [
      'a huge TotalCount (beyond the 1,000-link VPC quota)',
      'IncompleteScan',
      /TotalCount says 1000000/,
      (page) => ({ ...page, totalCount: 1_000_000 }),
    ],
    [
      'TotalCount changing between pages',
      'IncompleteScan',
      /TotalCount changed from 150 to 151 on page 2/,
      (page, n) => (n === 2 ? { ...page, totalCount: page.totalCount + 1 } : page),
    ],
    [
      'a duplicate across pages (page 2 repeats a link of page 1)',
      'IncompleteScan',
      /unique links/,
      repeatAcrossPages(),
    ],
    [
      'a link dropped from a page',
      'IncompleteScan',
      /counted 149 unique links/,
      (page, n) => (n === 2 ? { ...page, links: page.links.slice(1) } : page),
    ],
    [
      'a link of another VPC than the one asked',
      'MalformedResponse',
      /lists i-x in vpc-elsewhere/,
      (page) => ({ ...page, links: [{ vpcId: 'vpc-elsewhere', instanceId: 'i-x' }, ...page.links.slice(1)] }),
    ],
  ];
  it.each(cases)('%s → %s', async (_what, code, message, fn) => {
    const { pl, vpcId, before, gone, fresh } = await open();
    tamper.fn = fn;
    await failedWith(pl, await pl.round(), code, message);
    await nothingApplied(pl, before);
    await recovers(pl, vpcId, gone, fresh);
  });
});

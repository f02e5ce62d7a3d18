/**
 * Property tests of the completeness rules and the diff (sync.ts scanTarget + confirmRemovals,
 * diff.ts), pure, over an in-memory source: for random before/after link sets and random page
 * lies, what a sync would record is exactly the true difference, or nothing at all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffLinks, linkKey } from '../../src/links.js';
import { confirmRemovals, scanTarget } from '../../src/sync/scan.js';
import type { LinkSource } from '../../src/sync/source.js';
import {
  anyLies,
  detectableLie,
  idPool,
  type Lie,
  linksOf,
  memorySource,
  VPC,
} from '../helpers/memory-source.js';

const PAGE = 3;
const POOL = idPool(24);
const TARGET = { account: 'a', regionId: 'cn-hangzhou', vpcId: VPC };
const set = fc.subarray(POOL);

/** What runSync would hand applyScan, or undefined when it applies nothing. */
async function wouldRecord(
  source: LinkSource,
  before: readonly string[],
): Promise<{ added: string[]; removed: string[] } | undefined> {
  const scan = await scanTarget(source, TARGET, { pageSize: PAGE });
  if (!scan.complete) return undefined;
  const scanned = new Set(scan.links.map((l) => l.instanceId));
  const candidates = linksOf(before).filter((l) => !scanned.has(l.instanceId));
  const { stillLinked, confirmedRemovals } = await confirmRemovals(source, TARGET, candidates);
  const { added, removed } = diffLinks(linksOf(before), [...scan.links, ...stillLinked]);
  // applyScan refuses (RemovalNotConfirmed) a removal the lookup did not confirm: nothing applied.
  if (removed.some((l) => !confirmedRemovals.has(linkKey(l)))) return undefined;
  return { added: added.map((l) => l.instanceId).sort(), removed: removed.map((l) => l.instanceId).sort() };
}

function truth(before: readonly string[], after: readonly string[]) {
  const b = new Set(before);
  const a = new Set(after);
  return {
    added: after.filter((x) => !b.has(x)).sort(),
    removed: before.filter((x) => !a.has(x)).sort(),
  };
}

const pagesOf = (n: number) => Math.max(1, Math.ceil(n / PAGE));

describe('sync properties (in-memory source)', () => {
  it('honest pages: the recorded events are exactly the true difference', async () => {
    await fc.assert(
      fc.asyncProperty(set, set, async (before, after) => {
        expect(await wouldRecord(memorySource(after, [], PAGE), before)).toEqual(truth(before, after));
      }),
      { numRuns: 300 },
    );
  });

  it('a lie the pages show (shuffle, duplicate, drop, TotalCount moving): the true difference or nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        set,
        set.chain((after) => fc.tuple(fc.constant(after), detectableLie(pagesOf(after.length) + 1))),
        async (before, [after, lie]) => {
          const recorded = await wouldRecord(memorySource(after, [lie], PAGE), before);
          if (recorded !== undefined) expect(recorded).toEqual(truth(before, after));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('the same lie on every scan never applies, whatever the sets (a lie that changes a page)', async () => {
    await fc.assert(
      fc.asyncProperty(set, fc.nat(), async (after, at) => {
        fc.pre(after.length > 0);
        const drop: Lie = { kind: 'drop', page: 1, at };
        expect(await wouldRecord(memorySource(after, [drop], PAGE), [])).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });

  it('any lies at all, several at once (even a consistent TotalCount lie): never a false event', async () => {
    await fc.assert(
      fc.asyncProperty(
        set,
        set.chain((after) => fc.tuple(fc.constant(after), anyLies(pagesOf(after.length) + 1))),
        async (before, [after, lies]) => {
          const recorded = await wouldRecord(memorySource(after, lies, PAGE), before);
          if (recorded === undefined) return;
          const t = truth(before, after);
          // Every recorded change happened (a lie can hide a new link for a round, never invent one,
          // and a removal is only recorded once the lookup confirms it).
          for (const id of recorded.added) expect(t.added).toContain(id);
          for (const id of recorded.removed) expect(t.removed).toContain(id);
        },
      ),
      { numRuns: 500 },
    );
  });
});

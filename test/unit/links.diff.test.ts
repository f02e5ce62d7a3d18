import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Link } from '../../src/links.js';
import { compareLinks, diffLinks, linkKey } from '../../src/links.js';

const l = (vpcId: string, instanceId: string): Link => ({ vpcId, instanceId });

/** Applies a diff to a set of links, as the store does to the active rows. */
function apply(current: readonly Link[], diff: { added: Link[]; removed: Link[] }): Link[] {
  const map = new Map(current.map((x) => [linkKey(x), x]));
  for (const r of diff.removed) map.delete(linkKey(r));
  for (const a of diff.added) map.set(linkKey(a), a);
  return [...map.values()].sort(compareLinks);
}

const normalise = (links: readonly Link[]): Link[] =>
  [...new Map(links.map((x) => [linkKey(x), { vpcId: x.vpcId, instanceId: x.instanceId }])).values()].sort(
    compareLinks,
  );

// Small alphabets so that overlaps between `current` and `scanned` are frequent.
const arbLink = fc.record({
  vpcId: fc.constantFrom('vpc-a', 'vpc-b', 'vpc-c'),
  instanceId: fc.constantFrom('i-1', 'i-2', 'i-3', 'i-10', 'i-20', 'I-1', 'i-ä'),
});
const arbLinks = fc.array(arbLink, { maxLength: 25 });

describe('diffLinks', () => {
  it('returns nothing for equal sets, whatever their order', () => {
    expect(diffLinks([l('v', 'i-2'), l('v', 'i-1')], [l('v', 'i-1'), l('v', 'i-2')])).toEqual({
      added: [],
      removed: [],
    });
  });

  it('finds added and removed links, sorted by vpc then instance', () => {
    const d = diffLinks(
      [l('vpc-b', 'i-1'), l('vpc-a', 'i-9'), l('vpc-a', 'i-2')],
      [l('vpc-a', 'i-2'), l('vpc-b', 'i-3'), l('vpc-a', 'i-10'), l('vpc-a', 'i-1')],
    );
    expect(d.added).toEqual([l('vpc-a', 'i-1'), l('vpc-a', 'i-10'), l('vpc-b', 'i-3')]);
    expect(d.removed).toEqual([l('vpc-a', 'i-9'), l('vpc-b', 'i-1')]);
  });

  it('keys on (vpcId, instanceId): the same instance in another VPC is another link', () => {
    const d = diffLinks([l('vpc-a', 'i-1')], [l('vpc-b', 'i-1')]);
    expect(d).toEqual({ added: [l('vpc-b', 'i-1')], removed: [l('vpc-a', 'i-1')] });
  });

  it('treats duplicates as one link', () => {
    const d = diffLinks([l('v', 'i-1'), l('v', 'i-1')], [l('v', 'i-2'), l('v', 'i-2'), l('v', 'i-1')]);
    expect(d).toEqual({ added: [l('v', 'i-2')], removed: [] });
  });

  it('handles empty inputs (baseline, and everything detached)', () => {
    expect(diffLinks([], [l('v', 'i-1')])).toEqual({ added: [l('v', 'i-1')], removed: [] });
    expect(diffLinks([l('v', 'i-1')], [])).toEqual({ added: [], removed: [l('v', 'i-1')] });
    expect(diffLinks([], [])).toEqual({ added: [], removed: [] });
  });

  it('does not share objects with its inputs', () => {
    const input = l('v', 'i-1');
    const d = diffLinks([], [input]);
    expect(d.added[0]).toEqual(input);
    expect(d.added[0]).not.toBe(input);
  });

  it('property: applying the diff to current yields scanned', () => {
    fc.assert(
      fc.property(arbLinks, arbLinks, (current, scanned) => {
        expect(apply(normalise(current), diffLinks(current, scanned))).toEqual(normalise(scanned));
      }),
    );
  });

  it('property: added and removed are disjoint, duplicate-free and sorted', () => {
    fc.assert(
      fc.property(arbLinks, arbLinks, (current, scanned) => {
        const { added, removed } = diffLinks(current, scanned);
        const addedKeys = new Set(added.map(linkKey));
        const removedKeys = new Set(removed.map(linkKey));
        expect(addedKeys.size).toBe(added.length);
        expect(removedKeys.size).toBe(removed.length);
        for (const k of addedKeys) expect(removedKeys.has(k)).toBe(false);
        expect(added).toEqual([...added].sort(compareLinks));
        expect(removed).toEqual([...removed].sort(compareLinks));
      }),
    );
  });

  it('property: idempotent — diffing the result of applying a diff gives nothing', () => {
    fc.assert(
      fc.property(arbLinks, arbLinks, (current, scanned) => {
        const next = apply(normalise(current), diffLinks(current, scanned));
        expect(diffLinks(next, scanned)).toEqual({ added: [], removed: [] });
      }),
    );
  });

  it('property: deterministic under input permutation', () => {
    fc.assert(
      fc.property(
        arbLinks,
        arbLinks,
        fc.func(fc.integer()),
        fc.func(fc.integer()),
        (current, scanned, f, g) => {
          const shuffle = (xs: Link[], h: (x: Link) => number) =>
            [...xs].sort((a, b) => h(a) - h(b) || compareLinks(a, b));
          expect(diffLinks(shuffle(current, f), shuffle(scanned, g))).toEqual(diffLinks(current, scanned));
        },
      ),
    );
  });

  it('property: removed ⊆ current and added ⊆ scanned', () => {
    fc.assert(
      fc.property(arbLinks, arbLinks, (current, scanned) => {
        const { added, removed } = diffLinks(current, scanned);
        const cur = new Set(current.map(linkKey));
        const scan = new Set(scanned.map(linkKey));
        for (const r of removed) expect(cur.has(linkKey(r)) && !scan.has(linkKey(r))).toBe(true);
        for (const a of added) expect(scan.has(linkKey(a)) && !cur.has(linkKey(a))).toBe(true);
      }),
    );
  });
});

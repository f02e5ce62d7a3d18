/**
 * An in-memory LinkSource over a fixed truth, with lies on demand, for property tests of the
 * completeness rules (sync.ts) and the diff: pages can be shuffled between calls, carry a
 * duplicate, drop a link, or state another TotalCount. The direct lookup always tells the truth
 * (it is a different API call, made later, by InstanceId).
 */
import fc from 'fast-check';
import type { Link } from '../../src/links.js';
import type { LinkPage, LinkSource } from '../../src/sync/source.js';

export type Lie =
  /** Every page call orders the links differently (an unstable sort on the server). */
  | { kind: 'shuffle'; seed: number }
  /** Page `page` repeats a link of the listing in place of one of its own. */
  | { kind: 'duplicate'; page: number; from: number; at: number }
  /** Page `page` leaves one link out. */
  | { kind: 'drop'; page: number; at: number }
  /** Page `page` states TotalCount + `delta`. */
  | { kind: 'total'; page: number; delta: number };

export const VPC = 'vpc-prop';

export function linksOf(ids: readonly string[]): Link[] {
  return ids.map((instanceId) => ({ vpcId: VPC, instanceId }));
}

function permute<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let a = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    const j = a % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** `truth` listed in pages of `pageSize` (whatever size is asked), with `lies` applied. */
export function memorySource(truth: readonly string[], lies: readonly Lie[], pageSize: number): LinkSource {
  const sorted = [...truth].sort();
  let calls = 0;
  return {
    discover: async () => [VPC],
    async page(_target, pageNumber): Promise<LinkPage> {
      calls++;
      let order = sorted;
      for (const lie of lies) if (lie.kind === 'shuffle') order = permute(sorted, lie.seed + calls);
      let ids = order.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
      let totalCount = sorted.length;
      for (const lie of lies) {
        if (lie.kind === 'shuffle' || lie.page !== pageNumber) continue;
        if (lie.kind === 'duplicate' && ids.length > 0 && sorted.length > 1) {
          const dup = sorted[lie.from % sorted.length] as string;
          const at = lie.at % ids.length;
          if (ids[at] !== dup && !ids.includes(dup)) ids = ids.map((id, i) => (i === at ? dup : id));
          else if (ids[at] !== dup) ids = ids.filter((_, i) => i !== at);
        } else if (lie.kind === 'drop' && ids.length > 0) {
          const at = lie.at % ids.length;
          ids = ids.filter((_, i) => i !== at);
        } else if (lie.kind === 'total') {
          totalCount = Math.max(0, totalCount + lie.delta);
        }
      }
      return { requestId: `mem-${calls}`, totalCount, pageNumber, pageSize, links: linksOf(ids) };
    },
    async lookup(_regionId, instanceIds) {
      const linked = new Set(truth);
      return linksOf(instanceIds.filter((id) => linked.has(id)));
    },
  };
}

/** Instance ids `i-000` … drawn as a subset of a pool of `n`. */
export function idPool(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `i-${String(i).padStart(3, '0')}`);
}

/**
 * Lies a scan must notice (each alone makes the pages disagree with TotalCount, or changes it
 * between pages): a shuffle, a duplicate, a drop, or another TotalCount on a page after the first.
 */
export function detectableLie(maxPage: number): fc.Arbitrary<Lie> {
  return fc.oneof(
    fc.record({ kind: fc.constant('shuffle' as const), seed: fc.nat() }),
    fc.record({
      kind: fc.constant('duplicate' as const),
      page: fc.integer({ min: 1, max: maxPage }),
      from: fc.nat(),
      at: fc.nat(),
    }),
    fc.record({
      kind: fc.constant('drop' as const),
      page: fc.integer({ min: 1, max: maxPage }),
      at: fc.nat(),
    }),
    fc.record({
      kind: fc.constant('total' as const),
      page: fc.integer({ min: 2, max: maxPage }),
      delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
    }),
  );
}

/** Any lies, several at once, including a consistent lie about TotalCount on page 1. */
export function anyLies(maxPage: number): fc.Arbitrary<Lie[]> {
  return fc.array(
    fc.oneof(
      detectableLie(maxPage),
      fc.record({
        kind: fc.constant('total' as const),
        page: fc.constant(1),
        delta: fc.integer({ min: -5, max: 5 }),
      }),
    ),
    { maxLength: 4 },
  );
}

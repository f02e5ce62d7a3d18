import { describe, expect, it } from 'vitest';
import { pagesInOrder } from '../../src/sync/paging.js';

describe('pagesInOrder', () => {
  it('yields pages in order although they resolve out of order, at most `parallel` in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const fetched: number[] = [];
    const fetch = async (n: number) => {
      inFlight++;
      most = Math.max(most, inFlight);
      fetched.push(n);
      // Later pages answer first.
      await new Promise((r) => setTimeout(r, (10 - n) * 2));
      inFlight--;
      return `page ${n}`;
    };
    const seen: [number, string][] = [];
    for await (const entry of pagesInOrder(2, 9, 3, fetch)) seen.push(entry);
    expect(seen.map(([n]) => n)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.map(([, p]) => p)).toEqual([2, 3, 4, 5, 6, 7, 8, 9].map((n) => `page ${n}`));
    expect(most).toBe(3);
    expect(fetched).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('fetches no further batch once the caller stops, and nothing when first > last', async () => {
    const fetched: number[] = [];
    const fetch = async (n: number) => {
      fetched.push(n);
      return n;
    };
    for await (const [n] of pagesInOrder(2, 10, 4, fetch)) if (n === 3) break;
    expect(fetched).toEqual([2, 3, 4, 5]);
    for await (const _ of pagesInOrder(2, 1, 4, fetch)) throw new Error('no page expected');
    expect(fetched).toEqual([2, 3, 4, 5]);
  });

  it('a page that fails ends the listing with its error', async () => {
    const fetch = async (n: number) => {
      if (n === 4) throw new Error('page 4 failed');
      return n;
    };
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const [n] of pagesInOrder(2, 9, 2, fetch)) seen.push(n);
      })(),
    ).rejects.toThrow('page 4 failed');
    expect(seen).toEqual([2, 3]);
  });
});

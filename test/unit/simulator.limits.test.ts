/** The simulator's pure pieces with an injected clock: the QPS window, the nonce memory, seeded ids. */
import { describe, expect, it } from 'vitest';
import { NonceCache } from '../../src/simulator/nonce-cache.js';
import { QpsLimiter } from '../../src/simulator/qps-limiter.js';
import { mulberry32, stream } from '../../src/simulator/random.js';
import { insertSorted, lowerBound, removeSorted } from '../../src/simulator/sorted.js';

describe('QpsLimiter (sliding one-second window)', () => {
  it('admits cap requests per second per key', () => {
    const q = new QpsLimiter();
    const at = (t: number) => q.admit('k', 3, t);
    expect([at(0), at(100), at(200), at(300), at(999)]).toEqual([true, true, true, false, false]);
    expect(q.admit('other', 3, 300)).toBe(true);
    // Sliding: at t=1000 the request of t=0 has left the window, not those of 100 and 200.
    expect([at(1000), at(1001), at(1100), at(1150)]).toEqual([true, false, true, false]);
  });

  it('a new cap starts afresh', () => {
    const q = new QpsLimiter();
    expect([q.admit('k', 1, 0), q.admit('k', 1, 1)]).toEqual([true, false]);
    expect(q.admit('k', 2, 2)).toBe(true);
  });
});

describe('NonceCache', () => {
  it('refuses a nonce inside the window and forgets it after', () => {
    const c = new NonceCache(1000);
    expect(c.remember('a', 0)).toBe(true);
    expect(c.remember('a', 999)).toBe(false);
    expect(c.remember('a', 1001)).toBe(true);
  });

  it('is bounded: the oldest nonces are forgotten first', () => {
    const c = new NonceCache(60_000, 3);
    for (const n of ['a', 'b', 'c', 'd']) expect(c.remember(n, 0)).toBe(true);
    expect(c.remember('d', 1)).toBe(false);
    expect(c.remember('a', 1)).toBe(true);
  });
});

describe('seeded randomness and sorted arrays', () => {
  it('mulberry32 and named streams are deterministic and independent', () => {
    const a = mulberry32(5);
    const b = mulberry32(5);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(stream(5, 'world')()).not.toBe(stream(5, 'faults')());
    expect(stream(5, 'world')()).toBe(stream(5, 'world')());
  });

  it('insert/remove keep order', () => {
    const arr: string[] = [];
    for (const v of ['m', 'c', 'x', 'c', 'a']) insertSorted(arr, v);
    expect(arr).toEqual(['a', 'c', 'm', 'x']);
    expect(lowerBound(arr, 'd')).toBe(2);
    expect(removeSorted(arr, 'c')).toBe(true);
    expect(removeSorted(arr, 'c')).toBe(false);
    expect(arr).toEqual(['a', 'm', 'x']);
  });
});

import { describe, expect, it } from 'vitest';
import { Lifecycle } from '../../src/lifecycle.js';

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Lifecycle', () => {
  it('starts every drain at once, before any releaser, and releases LIFO once all have drained', async () => {
    const seen: string[] = [];
    const lc = new Lifecycle();
    const a = deferred();
    const b = deferred();
    lc.add('pool', () => void seen.push('release pool'));
    lc.addDrain('workers', async () => {
      seen.push('drain workers');
      await a.promise;
      seen.push('workers drained');
    });
    lc.add('redis', () => void seen.push('release redis'));
    lc.addDrain('scheduler', async () => {
      seen.push('drain scheduler');
      await b.promise;
      seen.push('scheduler drained');
    });
    const closed = lc.close();
    // Both drains began in the call itself, neither waiting for the other.
    expect(seen).toEqual(['drain workers', 'drain scheduler']);
    expect(lc.signal.aborted).toBe(true);
    b.resolve();
    await b.promise;
    a.resolve();
    await closed;
    expect(seen).toEqual([
      'drain workers',
      'drain scheduler',
      'scheduler drained',
      'workers drained',
      'release redis',
      'release pool',
    ]);
    expect(lc.close()).toBe(closed);
  });

  it('runs every drain and releaser when one fails, then rethrows the first error', async () => {
    const errors: string[] = [];
    const seen: string[] = [];
    const lc = new Lifecycle();
    lc.add('pool', () => void seen.push('pool'));
    lc.addDrain('workers', () => {
      throw new Error('workers broke');
    });
    lc.addDrain('scheduler', () => void seen.push('scheduler'));
    await expect(lc.close((name) => errors.push(name))).rejects.toThrow('workers broke');
    expect(errors).toEqual(['workers']);
    expect(seen).toEqual(['scheduler', 'pool']);
    expect(() => lc.addDrain('late', () => {})).toThrow(/shutting down/);
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDelay, retryWithin } from '../../src/backoff.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import { fakeClock } from '../helpers/clock.js';

describe('backoffDelay: capped exponential with full jitter', () => {
  const opts = { baseMs: 100, capMs: 5_000 };
  it('is uniform in [0, base * 2^attempt)', () => {
    expect(backoffDelay(0, opts, () => 0)).toBe(0);
    expect(backoffDelay(0, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(400);
  });
  it('never exceeds the cap, even for huge attempt numbers', () => {
    for (const attempt of [6, 10, 50, 1000]) {
      expect(backoffDelay(attempt, opts, () => 0.9999)).toBeLessThan(5_000);
    }
  });
});

describe('retryWithin', () => {
  it('retries retryable errors until success', async () => {
    let calls = 0;
    const result = await retryWithin(
      async () => {
        calls++;
        if (calls < 3) throw new RetryableError('busy', { code: 'Throttling' });
        return 'ok';
      },
      { baseMs: 1, capMs: 1, deadlineMs: 10_000, random: () => 0 },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('does not retry fatal errors', async () => {
    let calls = 0;
    await expect(
      retryWithin(
        async () => {
          calls++;
          throw new FatalError('denied', { code: 'Forbidden.RAM' });
        },
        { baseMs: 1, capMs: 1, deadlineMs: 10_000, random: () => 0 },
      ),
    ).rejects.toMatchObject({ code: 'Forbidden.RAM' });
    expect(calls).toBe(1);
  });

  it('gives up with the last error when the next wait would pass the deadline', async () => {
    // Sleeping 0 ms (random() = 0) keeps the test instant while the fake clock counts the time.
    const c = fakeClock();
    let calls = 0;
    await expect(
      retryWithin(
        async () => {
          calls++;
          c.advance(400); // each attempt "takes" 400 ms
          throw new RetryableError('down', { code: 'ServiceUnavailable', httpStatus: 503 });
        },
        { baseMs: 1, capMs: 1, deadlineMs: 1_000, random: () => 0, now: c.ms },
      ),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(calls).toBe(3); // 400, 800, 1200 ≥ deadline
  });

  it('honours the server retry-after hint, capped', async () => {
    const waits: number[] = [];
    let calls = 0;
    await retryWithin(
      async () => {
        calls++;
        if (calls === 1) throw new RetryableError('slow down', { code: 'Throttling.User', retryAfterMs: 3 });
        if (calls === 2)
          throw new RetryableError('slow down', { code: 'Throttling.User', retryAfterMs: 99_999 });
        return 1;
      },
      { baseMs: 1, capMs: 5, deadlineMs: 10_000, onRetry: (_e, _a, ms) => waits.push(ms) },
    );
    expect(waits).toEqual([3, 5]);
  });

  it('stops at maxAttempts', async () => {
    let calls = 0;
    await expect(
      retryWithin(
        async () => {
          calls++;
          throw new Error('socket hang up');
        },
        { baseMs: 1, capMs: 1, deadlineMs: 10_000, maxAttempts: 4, random: () => 0 },
      ),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(calls).toBe(4);
  });

  it('an aborted signal ends the wait', async () => {
    const ac = new AbortController();
    const p = retryWithin(
      async () => {
        ac.abort();
        throw new RetryableError('x', { code: 'Throttling' });
      },
      { baseMs: 10_000, capMs: 10_000, deadlineMs: 60_000, random: () => 0.5, signal: ac.signal },
    );
    await expect(p).rejects.toMatchObject({ code: 'Throttling' });
  });
});

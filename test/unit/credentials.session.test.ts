/**
 * The refresh logic shared by every session provider, with a fake fetch and a fake clock: the
 * 15-minute stale window, one shared refresh, keeping valid credentials when a refresh fails,
 * short-lived credentials, and callers that give up.
 */
import { describe, expect, it } from 'vitest';
import { type SessionCredentials, STALE_MS, sessionProvider } from '../../src/credentials/index.js';
import { parseExpiration } from '../../src/credentials/session.js';
import { RetryableError } from '../../src/errors.js';
import { fakeClock } from '../helpers/clock.js';
import { captureLog } from '../helpers/log.js';

function setup(lifetimeMs = 3600_000) {
  const clock = fakeClock();
  const log = captureLog();
  let calls = 0;
  let fail: Error | undefined;
  let gate: Promise<void> | undefined;
  const provider = sessionProvider({
    name: 'test',
    log: log.log,
    now: clock.now,
    fetch: async (): Promise<SessionCredentials> => {
      calls++;
      const n = calls;
      if (gate) await gate;
      if (fail) throw fail;
      return {
        accessKeyId: `STS.${n}`,
        accessKeySecret: `secret-${n}`,
        securityToken: `token-${n}`,
        expiresAt: new Date(clock.now().getTime() + lifetimeMs),
      };
    },
  });
  return {
    clock,
    log,
    provider,
    calls: () => calls,
    failWith(e: Error | undefined) {
      fail = e;
    },
    hold(): () => void {
      let release = () => {};
      gate = new Promise<void>((r) => {
        release = () => {
          gate = undefined;
          r();
        };
      });
      return release;
    },
  };
}

describe('sessionProvider', () => {
  it('reuses credentials until 15 minutes before expiry, then refreshes', async () => {
    const t = setup();
    const first = await t.provider.get();
    t.clock.advance(3600_000 - STALE_MS - 1);
    expect(await t.provider.get()).toBe(first);
    expect(t.calls()).toBe(1);
    t.clock.advance(1);
    expect((await t.provider.get()).accessKeyId).toBe('STS.2');
    expect(t.calls()).toBe(2);
  });

  it('concurrent gets during a refresh share it; a caller that aborts does not cancel it for the others', async () => {
    const t = setup();
    const release = t.hold();
    const ac = new AbortController();
    const aborted = t.provider.get(ac.signal);
    const others = [t.provider.get(), t.provider.get()];
    ac.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    release();
    const [a, b] = await Promise.all(others);
    expect(a).toBe(b);
    expect(t.calls()).toBe(1);
  });

  it('a failed refresh with valid cached credentials keeps them, logs, and backs off before trying again', async () => {
    const t = setup();
    const first = await t.provider.get();
    t.clock.advance(50 * 60_000);
    t.failWith(new RetryableError('STS down', { code: 'ServiceUnavailable' }));
    expect(await t.provider.get()).toBe(first);
    expect(t.calls()).toBe(2);
    expect(t.log.text()).toMatch(/"code":"ServiceUnavailable".*credentials refresh failed/);
    expect(t.log.text()).not.toContain('secret-1');
    expect(t.log.text()).not.toContain('token-1');
    expect(await t.provider.get()).toBe(first);
    expect(t.calls()).toBe(2);
    t.clock.advance(10_000);
    t.failWith(undefined);
    expect((await t.provider.get()).accessKeyId).toBe('STS.3');
  });

  it('once the cached credentials have expired, the refresh error is thrown', async () => {
    const t = setup();
    await t.provider.get();
    t.clock.advance(3600_000);
    t.failWith(new RetryableError('STS down', { code: 'ServiceUnavailable' }));
    await expect(t.provider.get()).rejects.toMatchObject({ code: 'ServiceUnavailable' });
  });

  it('the first fetch failing is thrown (nothing cached), and the next get tries again', async () => {
    const t = setup();
    t.failWith(new RetryableError('no', { code: 'ECONNREFUSED' }));
    await expect(t.provider.get()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    t.failWith(undefined);
    await expect(t.provider.get()).resolves.toMatchObject({ accessKeyId: 'STS.2' });
  });

  it('credentials issued with less than 15 minutes left are used, and refreshed soon — not on every get', async () => {
    const t = setup(10 * 60_000);
    const first = await t.provider.get();
    expect(await t.provider.get()).toBe(first);
    expect(t.calls()).toBe(1);
    t.clock.advance(60_000);
    await t.provider.get();
    expect(t.calls()).toBe(2);
  });

  it('an already-aborted signal rejects without fetching', async () => {
    const t = setup();
    await expect(t.provider.get(AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
    expect(t.calls()).toBe(0);
  });
});

describe('parseExpiration', () => {
  it.each([
    ['2025-01-01T00:00:00Z', '2025-01-01T00:00:00.000Z'],
    ['2025-01-01T00:00:00.123Z', '2025-01-01T00:00:00.123Z'],
  ])('%s', (input, iso) => {
    expect(parseExpiration(input)?.toISOString()).toBe(iso);
  });
  it.each([[undefined], [''], ['2025-01-01 00:00:00'], ['2025-13-45T00:00:00Z'], [1735689600]])(
    'rejects %s',
    (v) => {
      expect(parseExpiration(v)).toBeUndefined();
    },
  );
});

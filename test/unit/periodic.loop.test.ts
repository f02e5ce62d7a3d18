import { describe, expect, it } from 'vitest';
import { startPeriodic } from '../../src/periodic.js';

/** A promise and the function that resolves it. */
function gate(): { wait: Promise<void>; open(): void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('startPeriodic', () => {
  it('stop() waits for the tick in flight, and no tick starts after it', async () => {
    const release = gate();
    const started = gate();
    let runs = 0;
    let ended = false;
    const loop = startPeriodic({
      everyMs: 1,
      onError: () => {},
      async run() {
        runs++;
        started.open();
        await release.wait;
        ended = true;
      },
    });
    await started.wait;
    const stopped = loop.stop();
    let stopResolved = false;
    void stopped.then(() => {
      stopResolved = true;
    });
    await Promise.resolve();
    expect(stopResolved).toBe(false);
    release.open();
    await stopped;
    expect(ended).toBe(true);
    expect(runs).toBe(1);
    expect(loop.stop()).toBe(stopped);
  });

  it('a failed tick is reported and the loop carries on; the tick sees its signal aborted on stop', async () => {
    const errors: string[] = [];
    const third = gate();
    let runs = 0;
    let seen: AbortSignal | undefined;
    const loop = startPeriodic({
      everyMs: 1,
      onError: (e) => errors.push(e.message),
      async run(signal) {
        runs++;
        seen = signal;
        if (runs === 1) throw new Error('boom');
        if (runs === 3) third.open();
      },
    });
    await third.wait;
    await loop.stop();
    expect(errors).toEqual(['boom']);
    expect(seen?.aborted).toBe(true);
  });

  it('immediate: false waits everyMs before the first tick', async () => {
    let runs = 0;
    const loop = startPeriodic({
      everyMs: 60_000,
      immediate: false,
      onError: () => {},
      async run() {
        runs++;
      },
    });
    await loop.first;
    await loop.stop();
    expect(runs).toBe(0);
  });
});

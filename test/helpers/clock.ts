/**
 * Time under the test's control: a fixed origin for rows written with chosen times (`at(n)`),
 * and a clock moved by hand for code that takes a `now` function. Tests never read the real
 * clock to decide an outcome.
 */

/** A fixed clock origin: `at(n)` is n minutes after it. */
const T0 = new Date('2025-01-01T00:00:00.000Z');
export const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);

export interface FakeClock {
  now(): Date;
  /** The same instant in epoch milliseconds (for options that take `now: () => number`). */
  ms(): number;
  advance(ms: number): void;
}

/** A clock the test moves by hand, starting at `start` (default T0). */
export function fakeClock(start: Date = T0): FakeClock {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    ms: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

/** The typed error a call fails with, for assertions on its code, class and message. */
import { FatalError, RetryableError } from '../../src/errors.js';

/** Awaits `p` and returns its RetryableError or FatalError; anything else fails the test. */
export async function caught(p: Promise<unknown>): Promise<RetryableError | FatalError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RetryableError || e instanceof FatalError) return e;
    throw new Error(`expected a typed error, got ${String(e)}`);
  }
  throw new Error('expected the call to fail');
}

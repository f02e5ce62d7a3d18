/**
 * One periodic loop: run a task now, then `everyMs` after each run ends, until stopped. The
 * scheduler's schedule keeper, the staleness monitor and retention use it.
 *
 * Why `stop()` waits for the tick in flight: a loop that stops its timer but not its running tick
 * lets that tick go on touching Redis or Postgres after the caller has closed them (the schedule
 * keeper raced queue shutdown so). A tick gets an AbortSignal that `stop()` aborts, so a long tick
 * can end early; a failed tick is reported to `onError` and the loop carries on.
 */
import { coerceError } from './errors.js';

export interface PeriodicOptions {
  /** Delay between the end of one run and the start of the next, in ms. */
  everyMs: number;
  /** The work of one tick. Aborted through `signal` when the loop stops. */
  run(signal: AbortSignal): Promise<void>;
  /** Called with a tick's error (not when the loop was stopping); the loop goes on. */
  onError(err: ReturnType<typeof coerceError>): void;
  /** Run the first tick at once (default) or only after `everyMs`. */
  immediate?: boolean;
}

export interface Periodic {
  /** Resolves when the first tick has ended (at once if `immediate` is false). */
  readonly first: Promise<void>;
  /** Stops the loop and resolves once the tick in flight, if any, has ended. Idempotent. */
  stop(): Promise<void>;
}

export function startPeriodic(opts: PeriodicOptions): Periodic {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  const tick = (): Promise<void> => {
    running = (async () => {
      try {
        await opts.run(abort.signal);
      } catch (caught) {
        if (!abort.signal.aborted) opts.onError(coerceError(caught));
      }
      if (!abort.signal.aborted) timer = setTimeout(tick, opts.everyMs);
    })();
    return running;
  };
  let first: Promise<void> = Promise.resolve();
  if (opts.immediate === false) timer = setTimeout(tick, opts.everyMs);
  else first = tick();
  return {
    first,
    stop() {
      stopping ??= (async () => {
        abort.abort();
        clearTimeout(timer);
        await running;
      })();
      return stopping;
    },
  };
}

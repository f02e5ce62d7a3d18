/**
 * The heap policy of the processes that sync (`start`, `sync --once`, `demo`).
 *
 * V8 sizes the old generation after each full collection at live size × a growing factor that it
 * picks from how fast the collector and the program have been — and, until it has measured them,
 * at the most it allows on a large machine: 4×. A worker's first full collection comes during
 * start-up, with ~23 MB live, so its next one waits until ~90 MB of old generation; under a big
 * plan (10,000 jobs enqueued while the first syncs run) the objects that outlive two scavenges —
 * jobs awaiting the API, pending Postgres and Redis replies — pile up to that before anything
 * frees them: the worker peaked at 190–208 MB RSS in the 1,000,000-link bench, then cycled
 * between 27 and 46 MB of heap for the rest of the run.
 *
 * A fixed growing factor of 1.3 (V8's own "conservative" factor) makes every full collection,
 * the first included, come at live × 1.3: the same bench peaked at ~142 MB, with the same wall
 * time (a full collection of a ~30 MB heap takes a few ms, every few seconds).
 * `v8.setFlagsFromString` is read by V8 at each limit computation, so setting it at start-up
 * applies to the whole run; Node leaves V8's flags unfrozen for this.
 */
import { setFlagsFromString } from 'node:v8';

/** Old generation grows by at most this share of the live heap between full collections. */
export const HEAP_GROWING_PERCENT = 30;

export function applyHeapPolicy(percent: number = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

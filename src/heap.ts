/**
 * The heap policy of the processes that sync (`start`, `sync --once`, `demo`).
 *
 * V8 sizes the old generation after each full collection at live size × a growing factor that it
 * picks from how fast the collector and the program have been — and, until it has measured them,
 * at the most it allows on a large machine. A worker's first full collection comes during start-up,
 * with little live, so the next one waits for a heap several times that size; under a big plan
 * (thousands of jobs enqueued while the first syncs run) the objects that outlive two scavenges —
 * jobs awaiting the API, pending Postgres and Redis replies — pile up to it before anything frees
 * them, and the worker's peak memory is set by that start-up guess, not by its working set.
 *
 * A fixed growing factor (V8's own "conservative" one) makes every full collection, the first
 * included, come at a small multiple of what is live, at no cost in wall time: README,
 * Performance, has the figures. `v8.setFlagsFromString` is read by V8 at each limit computation,
 * so setting it at start-up applies to the whole run; Node leaves V8's flags unfrozen for this.
 */
import { setFlagsFromString } from 'node:v8';

/** Old generation grows by at most this share of the live heap between full collections. */
const HEAP_GROWING_PERCENT = 30;

export function applyHeapPolicy(percent: number = HEAP_GROWING_PERCENT): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

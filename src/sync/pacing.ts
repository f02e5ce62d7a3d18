/**
 * How a plan releases its sync jobs, by the API calls they are expected to make (plan.ts): the
 * jobs whose first call is among the first `burst` calls are ready at once; a job whose first call
 * is call c (the calls of the jobs before it) is ready c × spacingMs after the enqueue.
 */
export interface Pacing {
  spacingMs: number;
  burst: number;
  /** Expected API calls of each target's job, in the order of the targets. */
  calls: readonly number[];
}

/** How long after the enqueue each target's job may start, in the order of `pacing.calls`. */
export function pacedStarts(pacing: Pacing): number[] {
  let callsBefore = 0;
  return pacing.calls.map((calls) => {
    const c = callsBefore;
    callsBefore += calls;
    return c < pacing.burst ? 0 : c * pacing.spacingMs;
  });
}

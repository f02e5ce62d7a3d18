/** The simulator's admin API (`/_sim/…`, unsigned), as tests call it over HTTP. */
import type { RunningSimulator } from '../../src/simulator/index.js';

export interface AdminAnswer {
  status: number;
  json: unknown;
}

/** One admin request; `body` is sent as JSON. */
export async function admin(
  sim: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<AdminAnswer> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

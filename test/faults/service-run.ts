/**
 * A scenario with the real service running as a child process (`start --role
 * scheduler,worker,alerts`) while a server under it is broken: started once every target has its
 * baseline, waited on until it works again, and finished with the invariants, the check that the
 * process kept running, and the figures. Shared by the files that break servers (servers.fault.ts,
 * cluster.fault.ts).
 */
import { expect } from 'vitest';
import { type Child, startCli } from '../helpers/child.js';
import { count } from '../helpers/rows.js';
import { type Scenario, waitFor } from './harness.js';
import { checkInvariants } from './invariants.js';
import type { ScenarioReport, Scenarios } from './setup.js';

const SUCCEEDED = `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`;

/** The service with every role, once all `targets` have their baseline (the scheduler's first rounds); recording starts then. */
export async function baselinedService(sc: Scenario, targets: number): Promise<Child> {
  const svc = await startCli(['start', '--role', 'scheduler,worker,alerts'], sc.childEnv, 'service');
  await waitFor(
    () =>
      count(
        sc.pool,
        'SELECT count(*)::int AS n FROM sync_targets WHERE last_applied_scan_started_at IS NOT NULL',
      ),
    (n) => n === targets,
    { timeout: 30_000, what: 'every target baselined' },
  );
  sc.log.start();
  return svc;
}

/** Waits for `n` more succeeded runs than now (the service is working again). */
export async function moreSucceeded(sc: Scenario, n: number, timeout = 45_000): Promise<void> {
  const now = await count(sc.pool, SUCCEEDED);
  await waitFor(
    () => count(sc.pool, SUCCEEDED),
    (m) => m >= now + n,
    { timeout, what: `${n} more succeeded runs` },
  );
}

/** The world settles, the invariants hold, the service process is still running; the figures. */
export async function finishRunning(
  scenarios: Scenarios,
  sc: Scenario,
  svc: Child,
  targets: number,
  report: Omit<ScenarioReport, 'rounds' | 'checks'>,
): Promise<void> {
  // The last scheduled rounds and a clean round of our own.
  await sc.settle();
  const rounds = await count(sc.pool, SUCCEEDED);
  const checks = await checkInvariants(sc);
  const alive = svc.proc.exitCode === null && svc.proc.signalCode === null;
  checks.push({ name: 'the service process kept running', ok: alive });
  expect(alive, 'the service process kept running').toBe(true);
  const failed = await count(sc.pool, `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'failed'`);
  scenarios.report(sc, {
    ...report,
    // Scheduled rounds: succeeded runs per target (every target is synced once per round).
    rounds: Math.round(rounds / targets),
    faults: { ...report.faults, 'runs failed by the outage': failed },
    checks,
  });
}

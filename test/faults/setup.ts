/**
 * What every fault scenario file shares: a scenario per test, closed after it together with every
 * child process and private server it started; the test's start time; and the figures report,
 * filled in from the scenario (API calls, simulator faults, world changes, duration).
 */
import { afterEach, beforeEach } from 'vitest';
import { killChildren } from '../helpers/child.js';
import { simulatorFaults, writeFigures } from './figures.js';
import { type Scenario, type ScenarioOptions, startScenario } from './harness.js';
import type { CheckResult } from './invariants.js';

export interface ScenarioReport {
  scenario: string;
  proves: string;
  rounds: number;
  /** Faults the test injected itself, by name (the simulator's are added from its request log). */
  faults?: Record<string, number>;
  checks: CheckResult[];
}

export interface Scenarios {
  /** Starts the test's scenario. */
  start(opts?: ScenarioOptions): Promise<Scenario>;
  /** Registers a private server (servers.ts) to close after the scenario. */
  own<T extends { close(): Promise<void> }>(server: T): T;
  /** Writes the test's figures. */
  report(sc: Scenario, r: ScenarioReport): void;
}

export function useScenarios(): Scenarios {
  let current: Scenario | undefined;
  const servers: { close(): Promise<void> }[] = [];
  let started = 0;
  beforeEach(() => {
    started = Date.now();
  });
  afterEach(async () => {
    await killChildren();
    await current?.close();
    current = undefined;
    for (const srv of servers.splice(0)) await srv.close();
  });
  return {
    async start(opts) {
      current = await startScenario(opts);
      return current;
    },
    own(server) {
      servers.push(server);
      return server;
    },
    report(sc, r) {
      writeFigures({
        scenario: r.scenario,
        proves: r.proves,
        rounds: r.rounds,
        apiCalls: sc.sim.requests.length,
        faults: { ...simulatorFaults(sc.sim), ...r.faults },
        checks: r.checks,
        changes: sc.log.changes.length,
        durationMs: Date.now() - started,
      });
    },
  };
}

/**
 * What each scenario reports: its figures (rounds, API calls, faults injected, checks, changes,
 * time), written to the run's directory and merged by results-setup.ts at teardown.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { RunningSimulator } from '../../src/simulator/index.js';
import type { CheckResult } from './invariants.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where each scenario writes its figures (merged into results/latest.json at teardown). */
    faultsRunDir: string;
  }
}

export interface ScenarioFigures {
  scenario: string;
  proves: string;
  rounds: number;
  apiCalls: number;
  /** Fault name → how many times it was injected (simulator faults from its request log, plus ours). */
  faults: Record<string, number>;
  checks: CheckResult[];
  changes: number;
  durationMs: number;
}

/** Faults the simulator injected, by kind, from its request log. */
export function simulatorFaults(sim: RunningSimulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of sim.requests) {
    if (r.fault === undefined) continue;
    const kind = r.fault.startsWith('failVpc:') ? 'failVpc' : r.fault;
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

export function writeFigures(f: ScenarioFigures): void {
  const dir = inject('faultsRunDir');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${f.scenario.replace(/[^a-z0-9]+/gi, '-')}.json`),
    `${JSON.stringify(f, null, 2)}\n`,
  );
}

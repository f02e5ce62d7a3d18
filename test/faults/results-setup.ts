/**
 * Global setup of the fault suite: gives every scenario a directory for its figures, and at the
 * end merges them into `test/faults/results/latest.json` (`latest-postgres.json` for a run on the
 * Postgres queue backend, TEST_QUEUE_BACKEND=postgres; git-ignored) and prints a summary table.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { ScenarioFigures } from './figures.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

function table(rows: ScenarioFigures[]): string {
  const head = ['scenario', 'rounds', 'API calls', 'faults injected', 'checks passed', 'changes', 'time'];
  const body = rows.map((r) => {
    const faults = Object.values(r.faults).reduce((a, b) => a + b, 0);
    const passed = r.checks.filter((c) => c.ok).length;
    return [
      r.scenario,
      String(r.rounds),
      String(r.apiCalls),
      String(faults),
      `${passed}/${r.checks.length}`,
      String(r.changes),
      `${(r.durationMs / 1000).toFixed(1)}s`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'classiclink-faults-'));
  project.provide('faultsRunDir', dir);
  const started = new Date();
  return () => {
    const rows: ScenarioFigures[] = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioFigures);
    rmSync(dir, { recursive: true, force: true });
    if (rows.length === 0) return;
    const totals = {
      scenarios: rows.length,
      rounds: rows.reduce((a, r) => a + r.rounds, 0),
      apiCalls: rows.reduce((a, r) => a + r.apiCalls, 0),
      faultsInjected: rows.reduce((a, r) => a + Object.values(r.faults).reduce((x, y) => x + y, 0), 0),
      checks: rows.reduce((a, r) => a + r.checks.length, 0),
      checksPassed: rows.reduce((a, r) => a + r.checks.filter((c) => c.ok).length, 0),
      worldChanges: rows.reduce((a, r) => a + r.changes, 0),
    };
    mkdirSync(RESULTS, { recursive: true });
    const backend = process.env.TEST_QUEUE_BACKEND ?? 'redis';
    const file = backend === 'redis' ? 'latest.json' : `latest-${backend}.json`;
    writeFileSync(
      join(RESULTS, file),
      `${JSON.stringify({ queueBackend: backend, startedAt: started.toISOString(), finishedAt: new Date().toISOString(), totals, scenarios: rows }, null, 2)}\n`,
    );
    console.log(
      `\nFault suite figures, queue backend ${backend} (test/faults/results/${file}):\n${table(rows)}`,
    );
    console.log(
      `totals: ${totals.scenarios} scenarios, ${totals.rounds} rounds, ${totals.apiCalls} API calls, ` +
        `${totals.faultsInjected} faults injected, ${totals.checksPassed}/${totals.checks} invariant checks passed, ` +
        `${totals.worldChanges} world changes${totals.checksPassed === totals.checks ? ', each recorded exactly once' : ''}\n`,
    );
  };
}

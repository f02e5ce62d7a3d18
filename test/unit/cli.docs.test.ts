/**
 * The docs match the tool: the README's Commands table lists every flag commander registers (and
 * no other), every metric the ops/ dashboard and rules use exists and is in the README's list, and
 * `--help` shows each default in a form its option accepts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, type CliActions } from '../../src/cli/program.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');

/** The text of a `## title` section of the README. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

function program(): Command {
  const notRun = async (): Promise<number> => {
    throw new Error('not run');
  };
  const actions = new Proxy({}, { get: () => notRun }) as unknown as CliActions;
  const quiet = { write: () => true };
  return buildProgram(actions, { stdout: quiet, stderr: quiet }, () => {});
}

const commands = () => program().commands.filter((c) => c.name() !== 'help');

describe('README Commands table', () => {
  /** command name → flags named in the first cell of its rows. */
  function documented(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const line of section('Commands').split('\n')) {
      const cell = /^\| `([^`]+)` \|/.exec(line)?.[1];
      if (cell === undefined) continue;
      const name = cell.split(' ')[0] ?? '';
      const flags = out.get(name) ?? new Set<string>();
      for (const m of cell.matchAll(/--[a-z][a-z-]*/g)) flags.add(m[0]);
      out.set(name, flags);
    }
    return out;
  }

  it('has a row for every command, and each command row names every flag it takes (and no other)', () => {
    const table = documented();
    const registered = commands();
    expect([...table.keys()].sort()).toEqual(registered.map((c) => c.name()).sort());
    for (const cmd of registered) {
      const flags = cmd.options.map((o) => o.long ?? '').sort();
      expect([...(table.get(cmd.name()) ?? [])].sort(), `README row(s) of ${cmd.name()}`).toEqual(flags);
    }
  });

  it('mentions --version', () => {
    expect(program().options.map((o) => o.long)).toContain('--version');
    expect(section('Commands')).toContain('`--version`');
  });
});

describe('--help defaults', () => {
  it('are shown in a form the option accepts: parsing what help shows gives the default', () => {
    for (const cmd of commands()) {
      for (const o of cmd.options) {
        if (o.defaultValue === undefined || o.isBoolean()) continue;
        const shown = o.defaultValueDescription || JSON.stringify(o.defaultValue);
        const what = `${cmd.name()} ${o.long} (default: ${shown})`;
        if (o.parseArg) expect(o.parseArg(shown, undefined), what).toEqual(o.defaultValue);
        else expect(shown, what).toBe(String(o.defaultValue));
      }
    }
  });
});

describe('metrics in ops/', () => {
  const used = [
    ...new Set(
      [read('ops/grafana-dashboard.json'), read('ops/prometheus-rules.yml')].flatMap((text) =>
        [...text.matchAll(/classiclink_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')),
      ),
    ),
  ].sort();

  it('finds some', () => {
    expect(used.length).toBeGreaterThan(5);
  });

  it('each exists in src/metrics.ts', () => {
    const m = createMetrics({ log: createLogger({ level: 'silent' }), processMetrics: false });
    const names = m.registry.getMetricsAsArray().map((x) => x.name);
    for (const name of used) expect(names, name).toContain(name);
  });

  it("each is in the README's metrics list", () => {
    const list =
      /^Metrics \(bounded labels only[\s\S]*?\n\n/m.exec(section('HTTP, metrics and dashboards'))?.[0] ?? '';
    expect(list).not.toBe('');
    for (const name of used) expect(list, name).toMatch(new RegExp(`\`${name}(\\{[a-z,]+\\})?\``));
  });
});

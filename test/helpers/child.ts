/**
 * Child processes of the real CLI (`bin/classiclink-sync.js`, compiled by `pretest` / `npm run
 * build`) for process-level tests: signals, exit codes, several processes on one Redis prefix.
 *
 * Every child is registered; `killChildren()` (call it in `afterEach`) SIGKILLs whatever is still
 * running and waits for it to exit; a test process that ends without it (a run interrupted) takes
 * its children with it. Children can share an OS process group (`processGroup()`), as the processes
 * of one machine, or one container, do: one `kill(-pgid)` then ends the whole group at once. Every byte a child wrote is kept, so a test can assert that a
 * secret never reached stdout or stderr (`capturedOutput()`). Tests wait for log lines or exits,
 * never for time: `waitForLog` resolves on a matching JSON log line, with a bounded timeout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const CLI = fileURLToPath(new URL('../../bin/classiclink-sync.js', import.meta.url));

/** One pino JSON line, as the CLI writes them to a non-TTY stdout. */
export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines of stdout so far (non-JSON lines are skipped). */
  logs(): LogLine[];
  /** Resolves with the first log line (past or future) that matches; rejects after `timeoutMs`. */
  waitForLog(match: string | ((l: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Exit, or rejects if the process is still running after `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<Exit>;
  signal(sig: NodeJS.Signals): void;
}

const children = new Set<Child>();
const groups = new Set<ProcessGroup>();
let captured = '';

// A test process that ends without killChildren() (a run interrupted) leaves no child behind.
process.once('exit', () => {
  for (const c of children) c.signal('SIGKILL');
  for (const g of groups) g.kill('SIGKILL');
});

/**
 * An OS process group of children (`spawnCli(…, { group })`): the processes of one simulated
 * machine, or of one role on it. Its first member founds it (the group's id is that member's pid);
 * the others join it. Node cannot call setpgid, so each member starts as a tiny perl (Debian's
 * perl-base is essential) that joins the group and execs node in its place: the pid, pipes and
 * exit status are node's own. (`detached: true` would start a new session per child, and a
 * process cannot join a group of another session.)
 */
export interface ProcessGroup {
  name: string;
  /** The group id (its first member's pid); undefined until a member is spawned. */
  pgid: number | undefined;
  members: Child[];
  /** One kill(-pgid, sig): every process of the group at once. A no-op once no member is left. */
  kill(sig: NodeJS.Signals): void;
  /** Resolves when every member has exited. */
  exited(): Promise<Exit[]>;
}

export function processGroup(name: string): ProcessGroup {
  const group: ProcessGroup = {
    name,
    pgid: undefined,
    members: [],
    kill(sig) {
      // Only while a member is unreaped: the group exists, so its id is nobody else's. (Once all
      // are gone, the number may be another process's group: never signal it then.)
      const alive = group.members.some((m) => m.proc.exitCode === null && m.proc.signalCode === null);
      if (group.pgid === undefined || !alive) return;
      try {
        process.kill(-group.pgid, sig);
      } catch {
        // ESRCH: no process of the group is left
      }
    },
    exited: () => Promise.all(group.members.map((m) => m.exited)),
  };
  groups.add(group);
  return group;
}

/**
 * Joins process group ARGV[0] (0: founds one of its own) and execs the rest. A member may be
 * spawned before the founder has made its group: the join is retried for a few seconds.
 */
const JOIN_GROUP = [
  'my $g = shift; my $n = 0;',
  'until (setpgrp(0, $g)) { die "setpgrp($g): $!\\n" if ++$n > 500; select(undef, undef, undef, 0.01) }',
  'exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\\n";',
].join(' ');

/**
 * The environment of a child: only what the test passes plus PATH/HOME, so nothing from the
 * developer's shell (their own keys, LOG_LEVEL, DATABASE_URL) leaks into a test.
 */
function childEnvironment(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {
    // An empty home: no developer's ~/.aliyun or ~/.alibabacloud credentials, and never a probe
    // of the ECS metadata address (this machine only talks to loopback).
    HOME: emptyHome(),
    ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
  };
  for (const k of ['PATH', 'TMPDIR', 'TZ']) {
    const v = process.env[k];
    if (v !== undefined) base[k] = v;
  }
  return { ...base, ...env };
}

let home: string | undefined;
function emptyHome(): string {
  home ??= mkdtempSync(join(tmpdir(), 'classiclink-home-'));
  return home;
}

function parseLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v === 'object' && v !== null && 'msg' in v) out.push(v as LogLine);
    } catch {
      // a line cut in half by the read: the next call sees it whole
    }
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what()}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Whom a child runs as: another user than the runner's (the runner must be root). */
export interface RunAs {
  uid: number;
  gid: number;
}

export interface SpawnOptions {
  /** Run as another user (the runner must be root). */
  runAs?: RunAs;
  /** Run in this OS process group (founding it with the first member). */
  group?: ProcessGroup;
}

/** Starts `classiclink-sync <args>` with `env`; registers it for `killChildren()`. */
export function spawnCli(
  args: readonly string[],
  env: Record<string, string>,
  name = args.join(' '),
  opts: SpawnOptions = {},
): Child {
  const { group } = opts;
  const command = group
    ? (['perl', ['-e', JOIN_GROUP, String(group.pgid ?? 0), process.execPath, CLI, ...args]] as const)
    : ([process.execPath, [CLI, ...args]] as const);
  const proc = spawn(command[0], command[1], {
    env: childEnvironment(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts.runAs,
  });
  if (group && group.pgid === undefined) group.pgid = proc.pid;
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    captured += s;
    notify();
  });
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
    captured += s;
    notify();
  });
  const exited = new Promise<Exit>((resolve) => {
    // 'close' (not 'exit'): stdout and stderr have been read to the end.
    proc.once('close', (code, signal) => {
      notify();
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const child: Child = {
    name,
    proc,
    pid: proc.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    logs: () => parseLines(out),
    exited,
    waitForExit: (timeoutMs = 15_000) => withTimeout(exited, timeoutMs, () => `${name} to exit`),
    waitForLog(match, timeoutMs = 20_000) {
      const test = typeof match === 'string' ? (l: LogLine) => l.msg === match : match;
      const found = () => child.logs().find(test);
      return withTimeout(
        new Promise<LogLine>((resolve, reject) => {
          const check = () => {
            const hit = found();
            if (hit) {
              waiters.delete(check);
              resolve(hit);
            } else if (done) {
              waiters.delete(check);
              reject(new Error(`${name} exited before the log line; stderr: ${err.slice(-2000)}`));
            }
          };
          waiters.add(check);
          check();
        }),
        timeoutMs,
        () => `a log line ${typeof match === 'string' ? `"${match}"` : '(predicate)'} from ${name}`,
      );
    },
    signal(sig) {
      if (!done) proc.kill(sig);
    },
  };
  children.add(child);
  group?.members.push(child);
  return child;
}

/** Starts `classiclink-sync <args>` and resolves once it logged that it started (within `timeoutMs`). */
export async function startCli(
  args: readonly string[],
  env: Record<string, string>,
  name = args.join(' '),
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<Child> {
  const child = spawnCli(args, env, name, opts);
  await child.waitForLog('classiclink-sync started', opts.timeoutMs);
  return child;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded: SIGKILLed and rejected after `timeoutMs`). */
export async function runCli(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<CliResult> {
  const child = spawnCli(args, env);
  try {
    const { code, signal } = await child.waitForExit(timeoutMs);
    return { code, signal, stdout: child.stdout(), stderr: child.stderr() };
  } catch (err) {
    child.signal('SIGKILL');
    // What the child said before it hung is the only clue left: put it in the failure.
    const tail = (text: string) => text.split('\n').slice(-15).join('\n');
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\n--- stdout (tail) ---\n${tail(child.stdout())}\n--- stderr (tail) ---\n${tail(child.stderr())}`,
    );
  }
}

/** stderr of a clean failure: one line, no stack trace; returns the line. */
export function expectOneLine(r: CliResult): string {
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0] ?? '';
}

/** SIGKILLs every child still running and waits for them (afterEach). */
export async function killChildren(): Promise<void> {
  const all = [...children];
  children.clear();
  for (const c of all) c.signal('SIGKILL');
  // Whatever a child of a group started of its own goes with the group.
  for (const g of groups) g.kill('SIGKILL');
  groups.clear();
  await Promise.all(all.map((c) => c.exited));
}

/** Everything every child of this test file wrote to stdout and stderr. */
export function capturedOutput(): string {
  return captured;
}

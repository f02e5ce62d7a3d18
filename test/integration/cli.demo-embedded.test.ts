/**
 * `demo --embedded`: the demo on a Postgres it starts itself from the npm-installed binaries, and
 * nothing of that server left afterwards — no process on its directory, no directory — whether
 * the demo ends by itself, by SIGINT or SIGTERM, or is killed (SIGKILL, as a crash). Postgres
 * refuses root: run as root (CI), the server must run as `nobody`; run as a normal user, as that
 * user. As root this file also runs the demo as a normal user (`nobody`).
 *
 * No Redis is configured: the demo's queues are on BullMQ's Postgres backend, in the embedded
 * server's own database — the demo needs nothing but Node.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, CLI, killChildren, type RunAs, spawnCli } from '../helpers/child.js';
import { adminUrl } from '../helpers/db.js';

const isRoot = process.getuid?.() === 0;

/** `nobody`, when the runner is root and `nobody` can run the CLI from this checkout; else why not. */
function normalUser(): RunAs | string {
  if (!isRoot) return 'the runner is not root: the other tests already run the demo as a normal user';
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  const probe = spawnSync(process.execPath, [CLI, '--version'], { uid, gid, encoding: 'utf8' });
  if (probe.status !== 0) return `user nobody cannot run ${CLI} (${probe.stderr.trim()})`;
  return { uid, gid };
}

/**
 * Processes of the server on `dir`: the postmaster names its data directory on its command line,
 * and every Postgres process works in it (cwd), backends too.
 */
function serverProcesses(dir: string): { pid: number; uid: number }[] {
  const found: { pid: number; uid: number }[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const cwd = (() => {
        try {
          return readlinkSync(`/proc/${pid}/cwd`);
        } catch {
          return '';
        }
      })();
      if (!cmdline.includes(dir) && !cwd.startsWith(dir)) continue;
      const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      found.push({ pid: Number(pid), uid });
    } catch {
      // gone while we looked
    }
  }
  return found;
}

async function waitForOutput(child: Child, re: RegExp, timeout = 90_000): Promise<void> {
  await expect
    .poll(() => re.test(child.stdout()) || child.proc.exitCode !== null, { timeout, interval: 100 })
    .toBe(true);
  expect(child.stdout(), `stderr: ${child.stderr()}`).toMatch(re);
}

/** The demo's embedded server directory, as its banner names it. */
function bannerDir(child: Child): string {
  const dir = /its files, in (\S+), are removed at exit/.exec(child.stdout())?.[1];
  expect(dir, child.stdout()).toBeDefined();
  return dir ?? '';
}

/** A change line of the demo (not a baseline). */
const CHANGE = /^\S+ +[+-] (added|removed) /m;

/** No REDIS_URL, no REDIS_CLUSTER_NODES: what a machine with Node alone gives the demo. */
const demoEnv = (more: Record<string, string> = {}) => ({ LOG_LEVEL: 'warn', ...more });

/** Starts the demo on an embedded server; resolves with it and its directory once the banner is out. */
async function startDemo(
  args: string[] = [],
  env = demoEnv(),
  runAs?: RunAs,
): Promise<{ demo: Child; dir: string }> {
  const demo = spawnCli(['demo', '--embedded', '--interval', '1s', ...args], env, 'demo --embedded', {
    runAs,
  });
  await waitForOutput(demo, /Ctrl-C to stop/);
  const dir = bannerDir(demo);
  expect(existsSync(`${dir}/data/PG_VERSION`), 'the cluster is in the directory the banner names').toBe(true);
  return { demo, dir };
}

/** After the demo's exit, nothing of its server: no process, no directory. */
function expectGone(demo: Child, dir: string): void {
  expect(serverProcesses(dir), 'server processes left').toEqual([]);
  expect(existsSync(dir), `${dir} left`).toBe(false);
  expect(demo.stdout()).toContain(`embedded Postgres stopped; ${dir} removed`);
}

afterEach(killChildren);

describe('demo --embedded', () => {
  it('runs on its own Postgres, prints changes, and leaves nothing after Ctrl-C', async () => {
    // A deployment's DATABASE_URL is ignored: --embedded never asks its server anything.
    const { demo, dir } = await startDemo([], demoEnv({ DATABASE_URL: adminUrl() }));
    const banner = demo.stdout();
    expect
      .soft(banner)
      .toMatch(/^--embedded: starting an embedded Postgres for this demo, removed at exit$/m);
    expect.soft(banner).toMatch(/^embedded Postgres \d+\.\d+: creating a cluster in \S+ \(initdb\)/m);
    expect
      .soft(banner)
      .toMatch(
        /^ {2}database +classiclink_demo on an embedded PostgreSQL \d+\.\d+ at 127\.0\.0\.1:\d+, started for this demo/m,
      );
    expect.soft(banner).toMatch(/^ {2}ignored +DATABASE_URL\b/m);
    // No Redis: the queues are in the embedded server's database.
    expect
      .soft(banner)
      .toMatch(/^ {2}queues +BullMQ's Postgres backend, schema classiclink_demo_queue of classiclink_demo/m);
    // The server runs, never as root: as root, it runs as nobody.
    const procs = serverProcesses(dir);
    expect(procs.length, 'server processes').toBeGreaterThan(0);
    const expectedUid = isRoot
      ? Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }))
      : process.getuid?.();
    for (const p of procs) expect.soft(p.uid, `uid of server process ${p.pid}`).toBe(expectedUid);

    await waitForOutput(demo, CHANGE);
    demo.signal('SIGINT');
    const exit = await demo.waitForExit(60_000);
    expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
    expect(demo.stdout()).toMatch(/demo stopped: \d+ added \(baseline\), \d+ added, \d+ removed/);
    expectGone(demo, dir);
  }, 180_000);

  it('leaves nothing when it ends by itself (--duration)', async () => {
    const { demo, dir } = await startDemo(['--duration', '1s']);
    const exit = await demo.waitForExit(60_000);
    expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
    expectGone(demo, dir);
  }, 120_000);

  it('leaves nothing when the demo is killed: its keeper stops the server', async () => {
    const { demo, dir } = await startDemo();
    expect(serverProcesses(dir).length).toBeGreaterThan(0);
    demo.signal('SIGKILL');
    await demo.waitForExit(10_000);
    // Nothing of the demo runs any more to say when: wait for the directory to go. The keeper
    // removes it only once the server has exited, so by then no server process is left. (Postgres
    // would also stop by itself within a minute of its directory going: that must not count.)
    await expect.poll(() => existsSync(dir), { timeout: 60_000, interval: 100 }).toBe(false);
    expect(serverProcesses(dir), 'server processes left').toEqual([]);
  }, 120_000);

  const user = normalUser();
  (typeof user === 'string' ? it.skip : it)(
    `as a normal user: the server runs as that user, and SIGTERM leaves nothing${typeof user === 'string' ? ` (skipped: ${user})` : ''}`,
    async () => {
      const runAs = user as RunAs;
      // HOME: the runner's empty home is root's (0700); the demo reads no file from it.
      const { demo, dir } = await startDemo([], demoEnv({ HOME: '/' }), runAs);
      const procs = serverProcesses(dir);
      expect(procs.length).toBeGreaterThan(0);
      for (const p of procs) expect.soft(p.uid, `uid of server process ${p.pid}`).toBe(runAs.uid);
      await waitForOutput(demo, CHANGE);
      demo.signal('SIGTERM');
      const exit = await demo.waitForExit(60_000);
      expect(exit, demo.stderr()).toEqual({ code: 0, signal: null });
      expectGone(demo, dir);
    },
    180_000,
  );
});

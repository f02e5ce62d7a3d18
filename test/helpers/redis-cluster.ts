/**
 * A real Redis Cluster of the machine's own `redis-server` (Debian's 7.0): six nodes on spare
 * loopback ports — three masters, three replicas — each a child process in a temp directory of
 * its own, joined by `redis-cli --cluster create … --cluster-replicas 1`. The nodes require a
 * password (so every cluster test also logs in), and fail over fast (`cluster-node-timeout` 1 s).
 * With a certificate, the nodes speak TLS only, to clients and to each other (three masters suffice).
 *
 * For the tests that break it: the slot of a key (`CLUSTER KEYSLOT`), the master serving a slot,
 * killing that master (SIGKILL; its replica is promoted), and moving a slot to another master key
 * by key as `redis-cli --cluster reshard` does (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT
 * NODE), so clients meet ASK, TRYAGAIN and MOVED meanwhile. Waits are on the cluster's own state,
 * never sleeps; `close()` stops every node and removes the directories.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, ownRedisAvailable, waitForOutput } from './servers.js';
import { type Certificates, has } from './tls.js';

const run = promisify(execFile);

/** Where the cluster tests can run: redis-server and redis-cli (7.0's `--cluster`) installed. */
export const clusterAvailable = (): boolean => ownRedisAvailable() && has('redis-cli', ['--version']);

/** `cluster-node-timeout`: a master unreachable this long is failed over to its replica. */
export const NODE_TIMEOUT_MS = 1_000;

/** One line of CLUSTER NODES. */
export interface ClusterNodeView {
  id: string;
  port: number;
  master: boolean;
  /** Marked failed (`fail`) or suspected (`fail?`) by the node that answered. */
  failed: boolean;
  /** The master's id, for a replica. */
  masterId: string | undefined;
  /** Slot ranges served, inclusive (`[start, end]`); empty for a replica. */
  slots: [number, number][];
}

export interface RedisClusterNode {
  port: number;
  /** False once killed. */
  alive(): boolean;
}

export interface RedisCluster {
  /** The REDIS_CLUSTER_NODES value: every node's `redis://:password@127.0.0.1:port` (`rediss://` with TLS), comma-joined. */
  nodesEnv: string;
  password: string;
  nodes: readonly RedisClusterNode[];
  /** `CLUSTER KEYSLOT key`. */
  keyslot(key: string): Promise<number>;
  /** The port of the master that serves `slot` now, in the view of a live node. */
  masterOf(slot: number): Promise<number>;
  /** A live node's view of the cluster. */
  view(): Promise<ClusterNodeView[]>;
  /** A command on one node (an admin connection of the test, logged in). */
  on(port: number): Redis;
  /** SIGKILLs a node and returns at once (killMasterOf waits for the failover). */
  kill(port: number): Promise<void>;
  /**
   * SIGKILLs the master of `slot`; resolves once a replica has taken its slots over and every live
   * node says `cluster_state:ok`. Returns the killed and the promoted node's ports.
   */
  killMasterOf(slot: number): Promise<{ killed: number; promoted: number }>;
  /**
   * Moves `slot` from its master to another one, `batch` keys per MIGRATE, calling `between()`
   * after each batch (the test paces the move there); then SETSLOT NODE on every master. Returns
   * the ports and the number of keys moved.
   */
  moveSlot(
    slot: number,
    opts?: { batch?: number; between?: () => Promise<void> },
  ): Promise<{ from: number; to: number; keys: number }>;
  /** Redirections and retries the nodes answered so far (INFO errorstats), summed over live nodes. */
  errorStats(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Parses CLUSTER NODES. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', masterId = '-', , , , , ...slotFields] = line.split(' ');
      const port = Number(addr.split('@')[0]?.split(':').pop());
      const slots: [number, number][] = [];
      for (const f of slotFields) {
        if (f.startsWith('[')) continue; // a migration in progress, not a served range
        const [a, b] = f.split('-').map(Number);
        if (a !== undefined) slots.push([a, b ?? a]);
      }
      const flagList = flags.split(',');
      return {
        id,
        port,
        master: flagList.includes('master'),
        failed: flagList.includes('fail') || flagList.includes('fail?'),
        masterId: masterId === '-' ? undefined : masterId,
        slots,
      };
    });
}

const serves = (n: ClusterNodeView, slot: number) => n.slots.some(([a, b]) => slot >= a && slot <= b);

/** Polls `probe` until `ok`; a probe that throws (a node going away) is asked again. */
async function until<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (ok(v)) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Redis Cluster: timed out after ${timeoutMs}ms waiting for ${what} (last: ${String(last)})`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts the nodes (six: three masters with a replica each; three with `replicas: 0`), creates
 * the cluster, and waits until every node and replica is in step. With `tls`, the nodes listen with
 * TLS only, on that certificate, and talk to each other over TLS too (`tls-cluster`, `tls-replication`).
 */
export async function startRedisCluster(
  opts: { password?: string; tls?: Certificates; replicas?: 0 | 1 } = {},
): Promise<RedisCluster> {
  const password = opts.password ?? `cluster-${Math.random().toString(36).slice(2, 12)}`;
  const replicas = opts.replicas ?? 1;
  const tls = opts.tls;
  const root = mkdtempSync(join(tmpdir(), 'classiclink-cluster-'));
  const procs = new Map<number, ChildProcess>();
  const admins = new Map<number, Redis>();
  const ports: number[] = [];
  // A test process that ends without close() (a test timed out before its cleanup, a run
  // interrupted) takes its nodes with it, instead of leaving six servers behind.
  const killAll = () => {
    for (const p of procs.values()) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const close = async () => {
    process.off('exit', killAll);
    for (const a of admins.values()) a.disconnect();
    admins.clear();
    await Promise.all([...procs.keys()].map((p) => kill(p)));
    rmSync(root, { recursive: true, force: true });
  };
  const kill = async (port: number) => {
    const p = procs.get(port);
    procs.delete(port);
    admins.get(port)?.disconnect();
    admins.delete(port);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  const on = (port: number): Redis => {
    let a = admins.get(port);
    if (!a) {
      a = new Redis({
        host: '127.0.0.1',
        port,
        password,
        maxRetriesPerRequest: 1,
        ...(tls ? { tls: { ca: readFileSync(tls.ca) } } : {}),
      });
      a.on('error', () => {});
      admins.set(port, a);
    }
    return a;
  };
  const live = () => ports.filter((p) => procs.has(p));
  const anyLive = () => {
    const p = live()[0];
    if (p === undefined) throw new Error('Redis Cluster: no live node');
    return p;
  };
  const view = async (port = anyLive()) => parseClusterNodes(String(await on(port).call('CLUSTER', 'NODES')));
  const state = async (port: number) =>
    /cluster_state:ok/.test(String(await on(port).call('CLUSTER', 'INFO'))) ? 'ok' : 'fail';
  /** Every live node says ok and sees every slot served by a live, unfailed master. */
  const healthy = async () => {
    for (const port of live()) {
      if ((await state(port)) !== 'ok') return false;
      const v = await view(port);
      const masters = v.filter((n) => n.master && !n.failed && procs.has(n.port));
      const covered = masters.flatMap((n) => n.slots).reduce((sum, [a, b]) => sum + (b - a + 1), 0);
      if (covered !== 16_384) return false;
    }
    return true;
  };

  try {
    for (let i = 0; i < 3 * (1 + replicas); i++) {
      const port = await freePort();
      const nodeDir = join(root, String(port));
      mkdirSync(nodeDir);
      const p = spawn(
        'redis-server',
        [
          ...(tls
            ? ['--port', '0', '--tls-port', String(port), '--tls-cluster', 'yes', '--tls-replication', 'yes']
                .concat([
                  '--tls-cert-file',
                  tls.cert,
                  '--tls-key-file',
                  tls.key,
                  '--tls-ca-cert-file',
                  tls.ca,
                ])
                .concat(['--tls-auth-clients', 'no'])
            : ['--port', String(port)]),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout',
          String(NODE_TIMEOUT_MS),
          '--requirepass',
          password,
          '--masterauth',
          password,
          '--save',
          '',
          '--appendonly',
          'no',
          // A replica's first sync starts at once (7.0 waits 5 s for more replicas by default).
          '--repl-diskless-sync',
          'yes',
          '--repl-diskless-sync-delay',
          '0',
          '--dir',
          nodeDir,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      procs.set(port, p);
      ports.push(port);
      await waitForOutput(p, /Ready to accept connections/, 15_000, `cluster node ${port}`);
    }
    await run(
      'redis-cli',
      [
        '-a',
        password,
        '--no-auth-warning',
        ...(tls ? ['--tls', '--cacert', tls.ca] : []),
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    await until(healthy, Boolean, 'every node to say cluster_state:ok');
    // Every replica has its master's data (a failover needs an in-sync replica), and every node
    // knows all six.
    await until(
      async () => {
        for (const port of ports) {
          const info = String(await on(port).info('replication'));
          if (/role:slave/.test(info) && !/master_link_status:up/.test(info)) return false;
          if ((await view(port)).length !== ports.length) return false;
        }
        return true;
      },
      Boolean,
      'every replica in sync',
    );
  } catch (err) {
    await close();
    throw err;
  }

  const keyslot = async (key: string) => Number(await on(anyLive()).call('CLUSTER', 'KEYSLOT', key));
  const masterOf = async (slot: number) => {
    const m = (await view()).find((n) => n.master && !n.failed && serves(n, slot));
    if (!m) throw new Error(`Redis Cluster: no master serves slot ${slot}`);
    return m.port;
  };

  return {
    nodesEnv: ports.map((p) => `${tls ? 'rediss' : 'redis'}://:${password}@127.0.0.1:${p}`).join(','),
    password,
    nodes: ports.map((port) => ({ port, alive: () => procs.has(port) })),
    keyslot,
    masterOf,
    view: () => view(),
    on,
    kill,
    async killMasterOf(slot) {
      const killed = await masterOf(slot);
      await kill(killed);
      const promoted = await until(
        async () => {
          if (!(await healthy())) return undefined;
          const p = await masterOf(slot);
          return p === killed ? undefined : p;
        },
        (p) => p !== undefined,
        `a replica to take slot ${slot} over from ${killed}`,
      );
      return { killed, promoted: promoted as number };
    },
    async moveSlot(slot, moveOpts = {}) {
      const batch = moveOpts.batch ?? 10;
      const v = await view();
      const source = v.find((n) => n.master && !n.failed && serves(n, slot));
      const target = v.find((n) => n.master && !n.failed && procs.has(n.port) && n !== source);
      if (!source || !target) throw new Error(`Redis Cluster: cannot move slot ${slot}`);
      const src = on(source.port);
      const dst = on(target.port);
      // The order redis-cli uses: IMPORTING on the target first, then MIGRATING on the source.
      await dst.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
      await src.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
      let moved = 0;
      for (;;) {
        const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', String(slot), String(batch))) as string[];
        if (keys.length === 0) break;
        await src.call(
          'MIGRATE',
          '127.0.0.1',
          String(target.port),
          '',
          '0',
          '5000',
          'AUTH',
          password,
          'KEYS',
          ...keys,
        );
        moved += keys.length;
        await moveOpts.between?.();
      }
      // The target first, then the source, then every other master (redis-cli's order).
      const others = v.filter(
        (n) => n.master && !n.failed && procs.has(n.port) && n !== source && n !== target,
      );
      for (const n of [target, source, ...others]) {
        await on(n.port).call('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
      }
      await until(
        async () => {
          for (const port of live()) {
            const owner = (await view(port)).find((n) => n.master && serves(n, slot));
            if (owner?.id !== target.id) return false;
          }
          return true;
        },
        Boolean,
        `every node to agree slot ${slot} is on ${target.port}`,
      );
      return { from: source.port, to: target.port, keys: moved };
    },
    async errorStats() {
      const sums: Record<string, number> = {};
      for (const port of live()) {
        const info = String(await on(port).info('errorstats'));
        for (const m of info.matchAll(/^errorstat_([A-Z]+):count=(\d+)/gm)) {
          const [, name = '', n = '0'] = m;
          sums[name] = (sums[name] ?? 0) + Number(n);
        }
      }
      return sums;
    },
    close,
  };
}

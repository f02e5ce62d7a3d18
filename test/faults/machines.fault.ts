/**
 * Two machines of one fleet, simulated on one: each runs a whole deployment's worth of roles —
 * `start --role scheduler`, three `start --role worker`, `start --role alerts`, `start --role
 * http` — as OS process groups of its own (one per role), with its own `HOSTNAME`, on one
 * QUEUE_PREFIX of a real Redis Cluster and one database reached through a real PgBouncer in
 * transaction pooling (DATABASE_DIRECT_URL direct, for migrations and the alerts role's LISTEN).
 * While the world changes, machine A's worker group is SIGKILLed with scans in flight (one
 * kill(-pgid): its three workers at once, as when a machine dies), then started again. At the end:
 * Postgres holds the truth, each change is recorded once, each alert is delivered once (no
 * idempotency key twice) and names every change once, and both machines' HTTP roles serve it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { syncJobConcurrency } from '../../src/service.js';
import { type Child, type ProcessGroup, processGroup, startCli } from '../helpers/child.js';
import { createTestDb } from '../helpers/db.js';
import { pgbouncerAvailable, startPgBouncer } from '../helpers/pgbouncer.js';
import { clusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { count, runningRuns, truthLinks } from '../helpers/rows.js';
import { type Scenario, waitFor } from './harness.js';
import { checker, checkInvariants } from './invariants.js';
import { moreSucceeded } from './service-run.js';
import { useScenarios } from './setup.js';
import { startChurn } from './world-log.js';

const scenarios = useScenarios();

const SIM = { regions: ['cn-hangzhou', 'cn-beijing'], vpcsPerRegion: 8, linksPerVpc: 5 };
const TARGETS = SIM.regions.length * SIM.vpcsPerRegion;
const WORKERS = 3;
/** What the simulator adds to every answer: scans take a little while, as on the real API. */
const BASE_FAULTS = { latencyMs: 30 };
/** Held on the listing while the kill is set up, so scans are in flight when it comes. */
const HOLD_MS = 3_000;
/** Twelve processes start at once on two cores. */
const START_MS = 60_000;

interface Machine {
  hostname: string;
  env: Record<string, string>;
  scheduler: Child;
  workers: ProcessGroup;
  alerts: Child;
  http: Child;
}

/** One process group per role, as a machine runs one unit (or container) per role. */
async function startMachine(sc: Scenario, hostname: string): Promise<Machine> {
  const env = { ...sc.childEnv, HOSTNAME: hostname };
  const role = (r: string, group = processGroup(`${hostname} ${r}`), name = `${hostname} ${r}`) =>
    startCli(['start', '--role', r], env, name, { group, timeoutMs: START_MS });
  const [scheduler, alerts, http, workers] = await Promise.all([
    role('scheduler'),
    role('alerts'),
    role('http'),
    startWorkers(env, hostname),
  ]);
  return { hostname, env, scheduler, alerts, http, workers };
}

/** A machine's worker group: WORKERS `start --role worker` processes in one process group. */
async function startWorkers(env: Record<string, string>, hostname: string): Promise<ProcessGroup> {
  const group = processGroup(`${hostname} workers`);
  await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      startCli(['start', '--role', 'worker'], env, `${hostname} worker ${i + 1}`, {
        group,
        timeoutMs: START_MS,
      }),
    ),
  );
  return group;
}

const applied = (group: ProcessGroup) =>
  group.members.reduce((n, w) => n + w.logs().filter((l) => l.msg === 'scan applied').length, 0);

/** A process's group id, from /proc/<pid>/stat (the field after the state, past the command's parentheses). */
function processGroupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null;

/** Every link the `http` role serves (`/v1/links`, page by page), as sorted `vpc/instance`. */
async function servedLinks(http: Child): Promise<string[]> {
  const base = String((await http.waitForLog('HTTP server listening')).url);
  const out: string[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '1000', ...(cursor === null ? {} : { cursor }) });
    const res = await fetch(`${base}/v1/links?${q}`);
    if (res.status !== 200) throw new Error(`${http.name}: /v1/links answered ${res.status}`);
    const body = (await res.json()) as {
      links: { vpcId: string; instanceId: string }[];
      nextCursor: string | null;
    };
    out.push(...body.links.map((l) => `${l.vpcId}/${l.instanceId}`));
    cursor = body.nextCursor;
  } while (cursor !== null);
  return out.sort();
}

async function ready(http: Child): Promise<number> {
  const base = String((await http.waitForLog('HTTP server listening')).url);
  return (await fetch(`${base}/readyz`)).status;
}

/** The changes the webhook receiver accepted, one `added vpc/instance` per link, over every delivery. */
function alertedChanges(sc: Scenario): string[] {
  const out: string[] = [];
  for (const r of sc.receiver.accepted()) {
    const body = r.json as {
      type: string;
      data: { baseline: boolean; added: Link[]; removed: Link[] };
    };
    if (body.type !== 'classiclink.links.changed' || body.data.baseline) continue;
    for (const l of body.data.added) out.push(`added ${l.vpcId}/${l.instanceId}`);
    for (const l of body.data.removed) out.push(`removed ${l.vpcId}/${l.instanceId}`);
  }
  return out.sort();
}
type Link = { vpcId: string; instanceId: string };

describe.skipIf(!clusterAvailable() || !pgbouncerAvailable())(
  'fault: two machines of one fleet, one machine loses its workers',
  () => {
    it("a machine's worker group SIGKILLed mid-round and restarted: exact state, each change and each alert once", async () => {
      const cluster = scenarios.own(await startRedisCluster());
      // Eight server connections for twelve processes' pools (ten clients each): they take turns.
      const pgb = scenarios.own(await startPgBouncer({ poolSize: 8 }));
      const db = await createTestDb();
      scenarios.own({ close: () => db.drop() });
      const sc = await scenarios.start({
        sim: { ...SIM, faults: BASE_FAULTS },
        // The test's own pool reads Postgres directly; the service goes through PgBouncer.
        databaseUrl: db.url,
        redisClusterNodes: cluster.nodesEnv,
        env: {
          DATABASE_URL: pgb.via(db.url),
          DATABASE_DIRECT_URL: db.url,
          SYNC_INTERVAL: '2s',
          SYNC_CONCURRENCY: '2',
        },
      });
      const { config } = sc;
      const [a, b] = await Promise.all([startMachine(sc, 'fleet-a'), startMachine(sc, 'fleet-b')]);
      if (!a || !b) throw new Error('two machines expected');
      await waitFor(
        () =>
          count(
            sc.pool,
            'SELECT count(*)::int AS n FROM sync_targets WHERE last_applied_scan_started_at IS NOT NULL',
          ),
        (n) => n === TARGETS,
        { timeout: 60_000, what: 'every target baselined' },
      );
      sc.log.start();

      const stop = startChurn(sc.sim, sc.log, { everyMs: 300, seed: 1717 });
      const killed = a.workers;
      let restarted: ProcessGroup | undefined;
      // Sync jobs one worker process runs at once (their run rows are 'running' meanwhile).
      const heldByB = WORKERS * syncJobConcurrency(config);
      // The three workers are one OS process group, whose id is its first member's pid.
      const groupIds = killed.members.map((w) => processGroupOf(w.pid));
      try {
        // Two rounds of all twelve processes with the world changing.
        await moreSucceeded(sc, 2 * TARGETS);
        // Mid-round: the listing answers slowly, so the scans of a round are all in flight at once.
        // More running than machine B's workers can hold means machine A's hold some of them.
        sc.sim.setFaults({ ...BASE_FAULTS, latencyMs: HOLD_MS, actions: ['DescribeClassicLinkInstances'] });
        await waitFor(
          () => runningRuns(sc.pool),
          (n) => n > heldByB,
          {
            timeout: 30_000,
            what: `more than ${heldByB} scans in flight (more than machine B's workers hold)`,
          },
        );
        killed.kill('SIGKILL');
        const exits = await killed.exited();
        expect(exits.map((e) => e.signal)).toEqual(Array(WORKERS).fill('SIGKILL'));
        sc.sim.setFaults(BASE_FAULTS);
        // The machine comes back: its worker group starts again (another process group).
        restarted = await startWorkers(a.env, a.hostname);
        const group = restarted;
        await waitFor(
          async () => applied(group),
          (n) => n > 0,
          { timeout: 45_000, what: 'a scan applied by the restarted worker group' },
        );
        await moreSucceeded(sc, 2 * TARGETS);
      } finally {
        stop();
      }
      if (!restarted) throw new Error('the worker group was not restarted');
      const again = restarted;
      // The last scheduled rounds and a clean round of the test's own.
      await sc.settle();

      const checks = await checkInvariants(sc);
      const check = checker(checks);
      const lost = await count(
        sc.pool,
        `SELECT count(*)::int AS n FROM sync_runs WHERE error_code = 'WorkerLost'`,
      );
      check('the killed workers were one process group', groupIds, Array(WORKERS).fill(killed.pgid));
      // The runs the killed workers left running were picked up again and closed as WorkerLost.
      check('the kill hit scans in flight (runs closed as WorkerLost)', lost > 0, true);
      const schedules = (await sc.queues.listSchedules('plan')).map((x) => x.id).sort();
      check(
        'one plan schedule per region with a scheduler on each machine',
        schedules,
        config.regions.map((r) => `plan:default:${r}`).sort(),
      );
      const perGroup = { 'fleet-b': applied(b.workers), 'fleet-a restarted': applied(again) };
      check(
        'both machines worked: scans applied by machine B and by A after its restart',
        Object.entries(perGroup)
          .filter(([, n]) => n === 0)
          .map(([g]) => `${g} applied none`),
        [],
      );
      const others = [a.scheduler, a.alerts, a.http, b.scheduler, b.alerts, b.http, ...b.workers.members];
      check(
        'no process stopped but the killed worker group',
        [...others, ...again.members].filter((c) => !alive(c)).map((c) => c.name),
        [],
      );
      // Each alert once: two alerts roles claim from one outbox, none delivers a row twice.
      const keys = sc.receiver.accepted().map((r) => r.idempotencyKey ?? '');
      check(
        'each alert delivered once (no idempotency key accepted twice)',
        keys.filter((k, i) => keys.indexOf(k) !== i),
        [],
      );
      check(
        'every change alerted exactly once',
        alertedChanges(sc),
        sc.log.changes
          .map((c) => `${c.op === 'attach' ? 'added' : 'removed'} ${c.vpcId}/${c.instanceId}`)
          .sort(),
      );
      // Both machines' HTTP roles (through PgBouncer, on the cluster) are ready and serve the truth.
      check("both machines' /readyz answer 200", [await ready(a.http), await ready(b.http)], [200, 200]);
      const truth = truthLinks(sc.sim);
      check(
        "both machines' /v1/links serve the truth",
        [await servedLinks(a.http), await servedLinks(b.http)],
        [truth, truth],
      );

      const succeeded = await count(
        sc.pool,
        `SELECT count(*)::int AS n FROM sync_runs WHERE status = 'succeeded'`,
      );
      scenarios.report(sc, {
        scenario: 'two machines: a worker group SIGKILLed',
        proves: `two machines of one fleet (scheduler, ${WORKERS} workers, alerts, http each; own process groups and HOSTNAME) on a Redis Cluster and through PgBouncer (transaction pooling): one machine's worker group SIGKILLed with scans in flight and restarted loses and doubles nothing, and every alert goes out once`,
        rounds: Math.round(succeeded / TARGETS),
        faults: {
          'worker groups SIGKILLed (3 processes)': 1,
          'runs closed as WorkerLost': lost,
        },
        checks,
      });
    });
  },
);

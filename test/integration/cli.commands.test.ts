/**
 * The CLI as an operator meets it: child processes of `bin/classiclink-sync.js` against the
 * simulator, a cloned database and a fresh queue prefix. Exit codes (0 ok, 1 failure or bad
 * configuration, 2 usage), what goes to stdout and stderr, and that no secret is ever printed.
 */

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { type CliResult, expectOneLine, runCli, spawnCli } from '../helpers/child.js';
import { createTestDb, useAbsentDbs } from '../helpers/db.js';
import { useFilePipeline } from '../helpers/pipeline.js';
import { changedRun, scan, uniqueTarget } from '../helpers/store.js';

const COMMANDS = [
  'migrate',
  'start',
  'sync',
  'links',
  'events',
  'history',
  'status',
  'alerts',
  'simulate',
  'demo',
];

// No child of this file, a trace-level run included, prints the AccessKey secret.
const pl = useFilePipeline({ workers: false }, { checkSecret: true });

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { ...pl.childEnv, ...env });
const absentDb = useAbsentDbs();

function noStack(r: CliResult): void {
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).not.toMatch(/^\s+at /m);
}

const regions = () => pl.sim.world.regions();
const vpcs = (regionId: string) => pl.sim.world.vpcs(regionId);
const allVpcs = () => regions().flatMap(vpcs);
const vpc = (regionId = 'cn-hangzhou', i = 0): string => {
  const v = vpcs(regionId)[i];
  if (!v) throw new Error('no VPC');
  return v;
};

interface SyncJson {
  ok: boolean;
  account: string;
  regions: string[];
  planErrors: string[];
  targets: {
    target: { regionId: string; vpcId: string };
    status: string;
    result?: { linksSeen: number; added: number; removed: number };
    error?: string;
  }[];
}

interface LinksJson {
  count: number;
  at: string | null;
  links: { regionId: string; vpcId: string; instanceId: string }[];
}

const keysOf = (links: LinksJson['links']) => links.map((l) => `${l.vpcId}/${l.instanceId}`).sort();
const truth = () =>
  regions()
    .flatMap((r) => pl.sim.world.links(r))
    .map((l) => `${l.vpcId}/${l.instanceId}`)
    .sort();

describe('sync --once, links, events, status (sequential, one database)', () => {
  let firstRound: string[] = [];
  let between = '';

  it('sync --once: exit 0 and a per-target summary on stdout', async () => {
    const r = await cli(['sync', '--once']);
    expect(r.code, r.stderr).toBe(0);
    noStack(r);
    for (const v of allVpcs()) expect(r.stdout).toMatch(new RegExp(`${v}\\s+succeeded \\(baseline\\)`));
    expect(r.stdout).toContain(`6 target(s): 6 ok, 0 failed; ${truth().length} added, 0 removed`);
    firstRound = truth();
    between = new Date().toISOString();
  });

  it('sync --once --json: parseable JSON, ok, one entry per target', async () => {
    // Round 2 after a change: one link goes, one comes.
    const v = vpc();
    const gone = pl.sim.world.links('cn-hangzhou', v)[0];
    if (!gone) throw new Error('no link');
    pl.sim.world.detach('cn-hangzhou', gone.instanceId, v);
    pl.sim.world.attach('cn-hangzhou', pl.sim.world.createInstance('cn-hangzhou'), v);

    const r = await cli(['sync', '--once', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as SyncJson;
    expect(out.ok).toBe(true);
    expect(out.planErrors).toEqual([]);
    expect(out.targets.map((t) => t.target.vpcId).sort()).toEqual(allVpcs().sort());
    expect(out.targets.every((t) => t.status === 'succeeded')).toBe(true);
    const changed = out.targets.find((t) => t.target.vpcId === v);
    expect(changed?.result).toMatchObject({ added: 1, removed: 1 });
  });

  it('links: now and --at a time before the second round (text and JSON)', async () => {
    const [now, then, text, textAt] = await Promise.all([
      cli(['links', '--json']),
      cli(['links', '--json', '--at', between]),
      cli(['links']),
      cli(['links', '--at', between]),
    ]);
    for (const r of [now, then, text, textAt]) expect(r.code, r.stderr).toBe(0);
    const nowJson = JSON.parse(now.stdout) as LinksJson;
    const thenJson = JSON.parse(then.stdout) as LinksJson;
    expect(keysOf(nowJson.links)).toEqual(truth());
    expect(keysOf(thenJson.links)).toEqual(firstRound);
    expect(thenJson.at).toBe(between);
    expect(keysOf(nowJson.links)).not.toEqual(keysOf(thenJson.links));
    expect(text.stdout).toContain(`${truth().length} link(s) now`);
    expect(textAt.stdout).toContain(`${firstRound.length} link(s) at ${between}`);
    for (const k of truth()) expect(text.stdout).toContain(k.split('/')[1]);
  });

  it('links --region and --vpc filter', async () => {
    const [byRegion, byVpc] = await Promise.all([
      cli(['links', '--json', '--region', 'cn-beijing']),
      cli(['links', '--json', '--vpc', vpc('cn-beijing', 1)]),
    ]);
    expect(keysOf((JSON.parse(byRegion.stdout) as LinksJson).links)).toEqual(
      pl.sim.world
        .links('cn-beijing')
        .map((l) => `${l.vpcId}/${l.instanceId}`)
        .sort(),
    );
    expect(keysOf((JSON.parse(byVpc.stdout) as LinksJson).links)).toEqual(
      pl.sim.world
        .links('cn-beijing', vpc('cn-beijing', 1))
        .map((l) => `${l.vpcId}/${l.instanceId}`)
        .sort(),
    );
  });

  it('events: baseline plus the two changes (text and JSON, filters)', async () => {
    // psql prints timestamptz as `2026-12-06 23:28:20.123+00`: pasted as is, it means the same time.
    const psqlForm = between.replace('T', ' ').replace('Z', '+00');
    const [all, changedVpc, text, since, sincePsql] = await Promise.all([
      cli(['events', '--json']),
      cli(['events', '--json', '--vpc', vpc()]),
      cli(['events']),
      cli(['events', '--json', '--since', between]),
      cli(['events', '--json', '--since', psqlForm]),
    ]);
    for (const r of [all, changedVpc, text, since, sincePsql]) expect(r.code, r.stderr).toBe(0);
    expect(sincePsql.stdout).toBe(since.stdout);
    type Ev = { events: { change: string; baseline: boolean; vpcId: string }[]; count: number };
    const allJson = JSON.parse(all.stdout) as Ev;
    expect(allJson.count).toBe(firstRound.length + 2);
    expect(allJson.events.filter((e) => e.baseline)).toHaveLength(firstRound.length);
    const sinceJson = JSON.parse(since.stdout) as Ev;
    expect(sinceJson.events.map((e) => e.change).sort()).toEqual(['added', 'removed']);
    expect((JSON.parse(changedVpc.stdout) as Ev).events.every((e) => e.vpcId === vpc())).toBe(true);
    expect(text.stdout).toContain(`${firstRound.length + 2} event(s)`);
    expect(text.stdout).toContain('added (baseline)');
  });

  it('sync --once --region and --vpc sync only those targets', async () => {
    const [byRegion, byVpc] = await Promise.all([
      cli(['sync', '--once', '--json', '--region', 'cn-beijing']),
      cli(['sync', '--once', '--json', '--vpc', vpc('cn-hangzhou', 2)]),
    ]);
    expect(byRegion.code, byRegion.stderr).toBe(0);
    expect(byVpc.code, byVpc.stderr).toBe(0);
    const r = JSON.parse(byRegion.stdout) as SyncJson;
    expect(r.regions).toEqual(['cn-beijing']);
    expect(r.targets.map((t) => t.target.vpcId).sort()).toEqual([...vpcs('cn-beijing')].sort());
    const v = JSON.parse(byVpc.stdout) as SyncJson;
    expect(v.targets.map((t) => t.target.vpcId)).toEqual([vpc('cn-hangzhou', 2)]);
  });

  it('a failing target: exit 1, the error code in the summary (text and JSON)', async () => {
    const bad = vpc('cn-beijing', 0);
    pl.sim.setFaults({ failVpcs: { [bad]: 'Forbidden.RAM' } });
    const text = await cli(['sync', '--once']);
    expect(text.code, text.stderr).toBe(1);
    noStack(text);
    const line = text.stdout.split('\n').find((l) => l.includes(bad));
    expect(line).toMatch(/failed/);
    expect(line).toContain('Forbidden.RAM');
    expect(text.stdout).toContain('6 target(s): 5 ok, 1 failed');
    // Log lines (the sync's warnings) go to stderr; stdout is the summary alone.
    expect(text.stdout).not.toMatch(/^\{/m);
    expect(text.stderr).toContain('Forbidden.RAM');

    const json = await cli(['sync', '--once', '--json']);
    expect(json.code, json.stderr).toBe(1);
    // stdout is the JSON document alone, even when the sync logs warnings.
    const out = JSON.parse(json.stdout) as SyncJson;
    expect(out.ok).toBe(false);
    const failed = out.targets.filter((t) => t.status === 'failed');
    expect(failed.map((t) => t.target.vpcId)).toEqual([bad]);
    expect(failed[0]?.error).toContain('Forbidden.RAM');
  });

  it('status: per target, text and JSON, with the last error', async () => {
    const [text, json] = await Promise.all([cli(['status']), cli(['status', '--json'])]);
    expect(text.code, text.stderr).toBe(0);
    expect(json.code, json.stderr).toBe(0);
    const bad = vpc('cn-beijing', 0);
    type St = {
      targets: { vpcId: string; consecutiveFailures: number; lastErrorCode: string | null; stale: boolean }[];
    };
    const out = JSON.parse(json.stdout) as St;
    expect(out.targets.map((t) => t.vpcId).sort()).toEqual(allVpcs().sort());
    expect(out.targets.find((t) => t.vpcId === bad)).toMatchObject({
      consecutiveFailures: 2,
      lastErrorCode: 'Forbidden.RAM',
    });
    expect(out.targets.filter((t) => t.vpcId !== bad).every((t) => t.consecutiveFailures === 0)).toBe(true);
    expect(out.targets.every((t) => !t.stale)).toBe(true);
    const badLine = text.stdout.split('\n').find((l) => l.includes(bad));
    expect(badLine).toContain('Forbidden.RAM');
    expect(badLine).toMatch(/\bfailing$/);
    expect(text.stdout).toContain('6 target(s), 1 failing, 0 stale');
    // Alert delivery is part of the status: no channel here, so nothing waits or died.
    expect(text.stdout).toContain('alerts: 0 delivered, 0 waiting, 0 dead-lettered');
    expect((JSON.parse(json.stdout) as { alerts: { dead: number; pending: number } }).alerts).toMatchObject({
      dead: 0,
      pending: 0,
    });
  });

  it('a trace-level sync --once prints no secret', async () => {
    const r = await cli(['sync', '--once', '--vpc', vpc()], { LOG_LEVEL: 'trace' });
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toContain(pl.childEnv.ALIBABA_CLOUD_ACCESS_KEY_SECRET);
  });
});

describe('alerts', () => {
  interface AlertJson {
    id: string;
    channel: string;
    syncRunId: string;
    status: string;
    attempts: number;
    lastError: string | null;
  }
  const alertsOf = async (runId: string): Promise<AlertJson[]> => {
    const r = await cli(['alerts', '--json', '--limit', '1000']);
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { count: number; alerts: AlertJson[] };
    return body.alerts
      .filter((a) => a.syncRunId === runId)
      .sort((a, b) => a.channel.localeCompare(b.channel));
  };

  it('lists the outbox by status and channel; --requeue puts dead-lettered alerts back, once', async () => {
    const { runId } = await changedRun(pl.database.store, ['slack', 'webhook']);
    // The webhook receiver was down for every attempt: its row is dead-lettered.
    await pl.db.pool.query(
      `UPDATE alert_outbox SET status = 'dead', attempts = 12, last_error = 'HTTP_503: webhook answered HTTP 503'
        WHERE sync_run_id = $1 AND channel = 'webhook'`,
      [runId],
    );
    const before = await alertsOf(runId);
    expect(before.map((a) => [a.channel, a.status])).toEqual([
      ['slack', 'pending'],
      ['webhook', 'dead'],
    ]);
    const deadId = before[1]?.id as string;

    const dead = await cli(['alerts', '--status', 'dead', '--channel', 'webhook']);
    expect(dead.code, dead.stderr).toBe(0);
    expect(dead.stdout).toContain(deadId);
    expect(dead.stdout).toContain('HTTP_503: webhook answered HTTP 503');
    expect(dead.stdout).not.toContain(before[0]?.id as string);
    expect(dead.stdout).toMatch(/dead-lettered: `alerts --requeue` delivers them again/);
    const byId = await cli(['alerts', '--id', deadId.toUpperCase(), '--json']);
    expect((JSON.parse(byId.stdout) as { alerts: AlertJson[] }).alerts.map((a) => a.id)).toEqual([deadId]);

    const requeued = await cli(['alerts', '--requeue', '--channel', 'webhook']);
    expect(requeued.code, requeued.stderr).toBe(0);
    expect(requeued.stdout).toMatch(/^1 dead-lettered alert\(s\) back to pending/);
    const after = await alertsOf(runId);
    expect(after.map((a) => [a.channel, a.status, a.attempts])).toEqual([
      ['slack', 'pending', 0],
      ['webhook', 'pending', 0],
    ]);
    // The same id: a receiver that got an earlier attempt still deduplicates it.
    expect(after[1]?.id).toBe(deadId);

    const again = await cli(['alerts', '--requeue', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ requeued: 0 });
  });
});

describe('usage errors: exit 2, one message naming the problem, no stack trace', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['unknown flag', ['links', '--frob'], /unknown option '--frob'/],
    ['sync without --once', ['sync'], /--once is required/],
    ['--at yesterday', ['links', '--at', 'yesterday'], /--at.*yesterday.*ISO-8601/],
    ['--region Hangzhou', ['sync', '--once', '--region', 'Hangzhou'], /--region.*Hangzhou.*region id/],
    ['--since 12:00', ['events', '--since', '12:00'], /--since.*12:00/],
    ['--limit 0', ['events', '--limit', '0'], /--limit.*whole number/],
    ['--role nope', ['start', '--role', 'nope'], /--role.*nope/],
    [
      'alerts --status nope',
      ['alerts', '--status', 'nope'],
      /--status.*nope.*pending, delivering, delivered, dead/,
    ],
    ['alerts --channel nope', ['alerts', '--channel', 'nope'], /--channel.*nope/],
    ['alerts --id x', ['alerts', '--id', 'x'], /--id.*UUID/],
    [
      'alerts --requeue --status delivered',
      ['alerts', '--requeue', '--status', 'delivered'],
      /--requeue only moves dead-lettered alerts/,
    ],
    // Contradictory flags.
    [
      'alerts --requeue --status dead',
      ['alerts', '--requeue', '--status', 'dead'],
      /--requeue always moves dead-lettered alerts: drop --status dead/,
    ],
    ['alerts --requeue --limit 5', ['alerts', '--requeue', '--limit', '5'], /--requeue .*drop --limit/],
    [
      'simulate --churn-interval without --churn',
      ['simulate', '--port', '0', '--churn-interval', '2s'],
      /--churn-interval needs --churn/,
    ],
    [
      'simulate --eventbridge-token without a target',
      ['simulate', '--port', '0', '--eventbridge-token', 'x'],
      /--eventbridge-token, --eventbridge-auth and --eventbridge-delay need --eventbridge-target/,
    ],
    [
      'simulate --eventbridge-target not http(s)',
      ['simulate', '--port', '0', '--eventbridge-target', 'ftp://127.0.0.1/hook'],
      /--eventbridge-target.*expected an http\(s\) URL/,
    ],
    [
      'events --until before --since',
      ['events', '--since', '2026-01-02', '--until', '2026-01-01'],
      /--until must be later than --since/,
    ],
    [
      'a time without its UTC offset',
      ['events', '--since', '2026-12-06 23:28:20'],
      /--since.*needs its UTC offset, e\.g\. 2026-12-06 23:28:20\+00/,
    ],
  ];
  it('bad commands, flags and values: one line each', async () => {
    const results = await Promise.all(cases.map(([, args]) => cli(args)));
    cases.forEach(([name, , message], i) => {
      const r = results[i] as CliResult;
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(expectOneLine(r), name).toMatch(message);
      expect(r.stderr, name).toMatch(/^classiclink-sync( [a-z]+)?: /);
      noStack(r);
    });
  });

  it('a region that is not configured', async () => {
    const r = await cli(['sync', '--once', '--region', 'cn-shanghai']);
    expect(r.code, r.stderr).toBe(2);
    expect(expectOneLine(r)).toMatch(/region cn-shanghai is not configured/);
  });

  it('no command prints the help and exits 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('Usage: classiclink-sync');
  });
});

describe('--help and --version', () => {
  it('on the root and every command: exit 0, usage on stdout, nothing on stderr', async () => {
    const commands = [undefined, ...COMMANDS];
    const results = await Promise.all(commands.map((c) => cli(c ? [c, '--help'] : ['--help'])));
    commands.forEach((c, i) => {
      const r = results[i] as CliResult;
      expect(r.code, `${c ?? 'root'} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`Usage: classiclink-sync${c ? ` ${c}` : ''}`);
      expect(r.stderr).toBe('');
      // Where the configuration comes from, on every page.
      expect(r.stdout).toMatch(/Configuration comes from environment variables/);
      expect(r.stdout).toContain('.env.example');
      // Defaults in the form the option takes: never milliseconds for a duration, a JSON array or
      // a quoted string.
      expect(r.stdout, c).not.toMatch(/default:\s+(\[|")/);
    });
    const simulate = results[COMMANDS.indexOf('simulate') + 1] as CliResult;
    expect(simulate.stdout).toMatch(/--churn-interval <duration>[\s\S]*\(default: 4s\)/);
    expect(simulate.stdout).toMatch(/\(default:\s+cn-hangzhou,cn-beijing\)/);
    const demo = results[COMMANDS.indexOf('demo') + 1] as CliResult;
    expect(demo.stdout).toMatch(/--interval <duration>[\s\S]*\(default:\s+5s\)/);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });
});

describe('configuration and dependency errors: exit 1, one line', () => {
  it('SYNC_INTERVAL=5x names the variable', async () => {
    const commands = [['status'], ['sync', '--once'], ['start', '--role', 'scheduler']];
    for (const r of await Promise.all(commands.map((args) => cli(args, { SYNC_INTERVAL: '5x' })))) {
      expect(r.code, r.stderr).toBe(1);
      expect(expectOneLine(r)).toMatch(/SYNC_INTERVAL: expected a duration/);
    }
  });

  it('a missing AccessKey for a command that calls the API', async () => {
    const r = await runCli(['sync', '--once'], {
      ...pl.childEnv,
      ALIBABA_CLOUD_ACCESS_KEY_ID: '',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: '',
    });
    expect(r.code).toBe(1);
    // No source of the credential chain applies: one line listing what was tried.
    expect(expectOneLine(r)).toMatch(/MissingCredentials: no Alibaba Cloud credentials found; tried: env/);
  });

  it('Postgres unreachable: one line naming the host and port of DATABASE_URL, the password not shown', async () => {
    const url = 'postgres://postgres:pg-password-xyz@127.0.0.1:1/classiclink';
    const commands = [['status'], ['links'], ['sync', '--once'], ['migrate']];
    for (const r of await Promise.all(commands.map((args) => cli(args, { DATABASE_URL: url })))) {
      expect(r.code, r.stderr).toBe(1);
      const line = expectOneLine(r);
      expect(line).toMatch(/cannot reach Postgres at 127\.0\.0\.1:1: connection refused/);
      expect(line).toContain('start Postgres on 127.0.0.1:1, or point DATABASE_URL at the server');
      // Not a Debian command for the default port.
      expect(line).not.toMatch(/pg_ctlcluster|5432/);
      expect(line).not.toContain('pg-password-xyz');
      expect(r.stdout).toBe('');
    }
  });

  it('Redis unreachable: one line naming the host and port of REDIS_URL', async () => {
    const r = await cli(['sync', '--once'], {
      REDIS_URL: 'redis://:redis-password-xyz@127.0.0.1:1',
      QUEUE_BACKEND: 'redis',
    });
    expect(r.code, r.stderr).toBe(1);
    const line = expectOneLine(r);
    expect(line).toMatch(/cannot reach Redis at 127\.0\.0\.1:1: connection refused/);
    expect(line).toContain('REDIS_URL');
    expect(line).not.toMatch(/redis-server|6379|redis-password-xyz/);
  });

  it('a refused login is told from an unreachable server, the password not shown', async () => {
    // The machine's Postgres trusts every connection from loopback, but not a role it lacks.
    const pgUrl = 'postgres://no_such_role_xyz:pg-password-xyz@127.0.0.1:5432/classiclink';
    const [links, syncOnce] = await Promise.all([
      cli(['links'], { DATABASE_URL: pgUrl }),
      cli(['sync', '--once'], { DATABASE_URL: pgUrl }),
    ]);
    for (const r of [links, syncOnce]) {
      expect(r.code, r.stderr).toBe(1);
      const line = expectOneLine(r);
      expect(line).toMatch(
        /^classiclink-sync: Postgres at 127\.0\.0\.1:5432 refused the login \(.*no_such_role_xyz/,
      );
      expect(line).toContain('check the user');
      expect(line).not.toContain('cannot reach');
      expect(line).not.toContain('pg-password-xyz');
    }
    // A Redis ACL user that does not exist: WRONGPASS, a refused login, not an outage.
    const redis = await cli(['sync', '--once'], {
      REDIS_URL: 'redis://no_such_user:redis-password-xyz@127.0.0.1:6379',
      QUEUE_BACKEND: 'redis',
    });
    expect(redis.code, redis.stderr).toBe(1);
    const line = expectOneLine(redis);
    expect(line).toMatch(/^classiclink-sync: Redis at 127\.0\.0\.1:6379 refused the login \(WRONGPASS/);
    expect(line).toContain('check the user and password in REDIS_URL');
    expect(line).not.toContain('redis-password-xyz');
  });

  it('read commands on a missing or unmigrated database say to run migrate, and create nothing', async () => {
    const missing = absentDb('classiclink_missing_');
    const empty = await createTestDb({ migrated: false });
    const where = new URL(missing.url).host;
    try {
      const reads = [['links'], ['events'], ['history', '--vpc', 'vpc-abc'], ['status'], ['alerts']];
      const [onMissing, onEmpty] = await Promise.all(
        [missing, empty].map((db) => Promise.all(reads.map((args) => cli(args, { DATABASE_URL: db.url })))),
      );
      for (const r of onMissing ?? []) {
        expect(r.code, r.stderr).toBe(1);
        expect(expectOneLine(r)).toContain(
          `database "${missing.name}" does not exist on ${where}: run \`classiclink-sync migrate\``,
        );
      }
      for (const r of onEmpty ?? []) {
        expect(r.code, r.stderr).toBe(1);
        const line = expectOneLine(r);
        expect(line).toContain(`database "${empty.name}" on ${where} is not migrated`);
        expect(line).toMatch(/run `classiclink-sync migrate`$/);
        expect(line).not.toMatch(/SQLSTATE/);
      }
      // Nothing was created: the missing database is still missing.
      const again = await cli(['status'], { DATABASE_URL: missing.url });
      expect(expectOneLine(again)).toMatch(/does not exist/);
    } finally {
      await empty.drop();
    }
  });
});

describe('events: the newest first', () => {
  it('shows the newest --limit events (oldest first) and says how many more match', async () => {
    // One account of its own: a baseline of 5 links, then 10 scans each adding one link.
    const target = uniqueTarget();
    const store = pl.database.store;
    const linked = ['i-base1', 'i-base2', 'i-base3', 'i-base4', 'i-base5'];
    await scan(store, target, linked, { minute: 0 });
    for (let n = 1; n <= 10; n++) {
      linked.push(`i-new${n}`);
      await scan(store, target, [...linked], { minute: n });
    }
    const env = { SYNC_ACCOUNT: target.account };
    const [json, text, all] = await Promise.all([
      cli(['events', '--json', '--limit', '4'], env),
      cli(['events', '--limit', '4'], env),
      cli(['events', '--json'], env),
    ]);
    for (const r of [json, text, all]) expect(r.code, r.stderr).toBe(0);
    type Ev = { count: number; total: number; events: { instanceId: string }[] };
    const out = JSON.parse(json.stdout) as Ev;
    expect(out.events.map((e) => e.instanceId)).toEqual(['i-new7', 'i-new8', 'i-new9', 'i-new10']);
    expect(out).toMatchObject({ count: 4, total: 15 });
    expect(text.stdout.trim().split('\n').at(-1)).toBe(
      'showing the newest 4 of 15 event(s); narrow with --since / --until, or raise --limit',
    );
    expect(text.stdout.indexOf('i-new7')).toBeLessThan(text.stdout.indexOf('i-new10'));
    expect(text.stdout).not.toContain('i-base1');
    const everything = JSON.parse(all.stdout) as Ev;
    expect(everything).toMatchObject({ count: 15, total: 15 });
  });
});

describe('HTTP_TOKEN is for the http role only', () => {
  it('links and sync --once run with HTTP_HOST beyond loopback and no token', async () => {
    const env = { HTTP_HOST: '0.0.0.0' };
    const [links, syncOnce] = await Promise.all([
      cli(['links'], env),
      cli(['sync', '--once', '--vpc', vpc('cn-hangzhou', 1)], env),
    ]);
    expect(links.code, links.stderr).toBe(0);
    expect(syncOnce.code, syncOnce.stderr).toBe(0);
    expect(`${links.stderr}${syncOnce.stderr}`).not.toContain('HTTP_TOKEN');
  });
});

describe('a wrong AccessKey secret', () => {
  it('is one line per failure ending "check ALIBABA_CLOUD_ACCESS_KEY_SECRET", not the string to sign', async () => {
    const r = await cli(['sync', '--once'], { ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-simulators-secret' });
    expect(r.code, r.stderr).toBe(1);
    const failures = r.stdout.split('\n').filter((l) => l.includes('SignatureDoesNotMatch'));
    expect(failures.length, r.stdout).toBeGreaterThan(0);
    for (const line of failures) expect(line).toMatch(/; check ALIBABA_CLOUD_ACCESS_KEY_SECRET$/);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toMatch(/string to sign|canonical request|x-acs-signature-nonce/i);
    }
  });
});

describe('the simulator prints enough environment for sync --once', () => {
  // ACTIONTRAIL_ENDPOINT too: `start` with those lines must read the simulator's ActionTrail.
  it('its env lines, plus a database and a queue prefix, make a successful sync --once', async () => {
    const sim = spawnCli(['simulate', '--port', '0', '--seed', '3'], {}, 'simulate');
    await expect.poll(() => sim.stdout(), { timeout: 20_000 }).toContain('admin API');
    const env: Record<string, string> = {};
    for (const m of sim.stdout().matchAll(/^ {4}([A-Z][A-Z0-9_]+)=(\S*)$/gm))
      env[m[1] as string] = m[2] as string;
    expect(Object.keys(env).sort()).toEqual([
      'ACTIONTRAIL_ENDPOINT',
      'ALIBABA_CLOUD_ACCESS_KEY_ID',
      'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
      'ECS_ENDPOINT',
      'SYNC_REGIONS',
      'VPC_ENDPOINT',
    ]);
    const db = await createTestDb();
    const prefix = `test-banner-${randomUUID()}`;
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      // Only what the banner printed, a database and a prefix: nothing of this file's pipeline.
      const r = await runCli(['sync', '--once'], { ...env, DATABASE_URL: db.url, QUEUE_PREFIX: prefix });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/\d+ target\(s\): (\d+) ok, 0 failed/);
    } finally {
      sim.signal('SIGTERM');
      const keys = await redis.keys(`{${prefix}}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await db.drop();
    }
  });
});

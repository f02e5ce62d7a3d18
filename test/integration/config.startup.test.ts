/**
 * A bad environment variable or accounts-file field stops `start` (and `sync --once`) before it
 * touches anything: one line naming it, exit 1, no Redis key under the queue prefix, no database
 * created. Also: HTTP_HOST beyond loopback without HTTP_TOKEN refuses to start the http role (and
 * only it: test/integration/cli.commands.test.ts runs links and sync --once so).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type CliResult, killChildren, runCli } from '../helpers/child.js';
import { useAbsentDbs } from '../helpers/db.js';
import { scanKeys } from '../helpers/redis.js';

const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
afterEach(() => killChildren());
afterAll(async () => {
  await redis.quit().catch(() => redis.disconnect());
});

const accountsDir = mkdtempSync(join(tmpdir(), 'classiclink-accounts-'));
function accountsFile(content: unknown): string {
  const file = join(accountsDir, `${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const GOOD = {
  SYNC_REGIONS: 'cn-hangzhou',
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI5tStartupTest',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'startup-secret-never-printed',
  // Nothing answers here: had the process got this far, the API call would fail loudly.
  ECS_ENDPOINT: 'http://127.0.0.1:9',
  VPC_ENDPOINT: 'http://127.0.0.1:9',
  HTTP_PORT: '0',
};

const absentDb = useAbsentDbs();

/**
 * A fresh queue prefix and a database that does not exist, in `GOOD` plus `over`; `untouched()`
 * asserts that nothing was written under the prefix and the database was never created.
 */
function freshEnv(over: Record<string, string> = {}) {
  const prefix = `startup-${randomUUID()}`;
  const db = absentDb('classiclink_startup_');
  return {
    env: { ...GOOD, QUEUE_PREFIX: prefix, DATABASE_URL: db.url, ...over },
    async untouched(): Promise<void> {
      expect(await scanKeys(redis, `{${prefix}}*`)).toEqual([]);
      expect(await db.exists()).toBe(false);
    },
  };
}

/** Each command failed with exit 1 and one stderr line matching `line`, nothing on stdout. */
function expectRefused(commands: string[][], results: CliResult[], line: RegExp): void {
  for (const [i, r] of results.entries()) {
    const args = commands[i] ?? [];
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(line);
    expect(r.stdout).toBe('');
  }
}

const cases: [string, () => Record<string, string>, RegExp][] = [
  [
    'SYNC_INTERVAL=5x',
    () => ({ SYNC_INTERVAL: '5x' }),
    /^classiclink-sync: invalid configuration: SYNC_INTERVAL: /,
  ],
  [
    'API_MAX_QPS=0',
    () => ({ API_MAX_QPS: '0' }),
    /invalid configuration: API_MAX_QPS=0: must be a whole number from 1 to 10000$/,
  ],
  [
    'ALERT_WEBHOOK_URL=ftp://…',
    () => ({ ALERT_WEBHOOK_URL: 'ftp://127.0.0.1/hook' }),
    /ALERT_WEBHOOK_URL: expected a http or https URL/,
  ],
  ['SYNC_REGIONS missing', () => ({ SYNC_REGIONS: '' }), /SYNC_REGIONS: required/],
  [
    'ACCOUNTS_FILE with a bad field',
    () => ({
      ACCOUNTS_FILE: accountsFile({
        accounts: [{ name: 'prod', credentials: { source: 'chain' }, regions: ['Hangzhou'] }],
      }),
    }),
    /accounts\[0\] \(prod\)\.regions/,
  ],
  [
    'ACCOUNTS_FILE that does not exist',
    () => ({ ACCOUNTS_FILE: join(accountsDir, 'missing.yaml') }),
    /missing\.yaml/,
  ],
];

describe('a bad value starts nothing', () => {
  it.each(cases)('start with %s: one line, exit 1, no Redis key, no database', async (_name, bad, line) => {
    const { env, untouched } = freshEnv(bad());
    const commands = [['start'], ['sync', '--once']];
    const results = await Promise.all(commands.map((args) => runCli(args, env)));
    expectRefused(commands, results, line);
    for (const r of results) {
      expect(`${r.stdout}${r.stderr}`).not.toContain(GOOD.ALIBABA_CLOUD_ACCESS_KEY_SECRET);
    }
    await untouched();
  });
});

describe('credentials and API endpoints are checked before anything is written', () => {
  async function expectNothingWritten(
    commands: string[][],
    over: Record<string, string>,
    line: RegExp,
  ): Promise<void> {
    const { env, untouched } = freshEnv(over);
    const results = await Promise.all(commands.map((args) => runCli(args, env)));
    expectRefused(commands, results, line);
    await untouched();
  }

  it('no credentials: start and sync --once say so in one line; no database, no Redis key', async () => {
    await expectNothingWritten(
      [['start'], ['start', '--role', 'worker'], ['sync', '--once']],
      { ALIBABA_CLOUD_ACCESS_KEY_ID: '', ALIBABA_CLOUD_ACCESS_KEY_SECRET: '' },
      /^classiclink-sync: MissingCredentials: no Alibaba Cloud credentials found; tried: env/,
    );
  });

  it('sync --once with nothing answering at the endpoint: one line naming it, nothing written', async () => {
    // GOOD points both APIs at a closed loopback port: the service would retry, a one-shot says so.
    await expectNothingWritten(
      [['sync', '--once']],
      {},
      /^classiclink-sync: cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): check ECS_ENDPOINT$/,
    );
  });

  it('sync --once --region that is not configured: a usage error before anything is written', async () => {
    const { env, untouched } = freshEnv();
    const r = await runCli(['sync', '--once', '--region', 'cn-beijing'], env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(/^classiclink-sync sync: region cn-beijing is not configured/);
    await untouched();
  });
});

describe('HTTP_TOKEN', () => {
  it('start (http role) with HTTP_HOST beyond loopback and no token: one line, exit 1, nothing created', async () => {
    const { env, untouched } = freshEnv({ HTTP_HOST: '0.0.0.0' });
    for (const args of [['start'], ['start', '--role', 'http']]) {
      const r = await runCli(args, env);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^classiclink-sync: invalid configuration: HTTP_TOKEN: required when HTTP_HOST \(0\.0\.0\.0\) is not a loopback address/,
      );
    }
    await untouched();
  });
});

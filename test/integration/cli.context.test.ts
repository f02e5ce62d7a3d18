/**
 * `events`, `history` and `links` show each change's context — the instance's name and tags, the
 * VPC's name, who made the change — as child processes of the real CLI over rows the store's
 * verbs wrote: a cause found, not found, unavailable, pending, and none for a baseline; `-` for
 * what was never described; hostile names, tags and actors verbatim in `--json` and escaped and
 * cut in text, where they can neither forge a row nor drive the terminal.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createStore } from '../../src/store/index.js';
import { type CliResult, runCli } from '../helpers/child.js';
import { at } from '../helpers/clock.js';
import {
  CONTROL,
  type ContextWorld,
  contextWorld,
  detected,
  foundCause,
  HOSTILE,
  HOSTILE_ACTOR,
  HOSTILE_TAGS,
  PENDING_CAUSE,
  PROD_VPC,
  worldContextHealth,
} from '../helpers/context.js';
import { useTestDb } from '../helpers/db.js';

const log = createLogger({ level: 'silent' });
const db = useTestDb();

let world: ContextWorld;
let env: Record<string, string>;

beforeAll(async () => {
  const { pool, url } = await db();
  world = await contextWorld(createStore({ pool, log }));
  env = { DATABASE_URL: url, SYNC_ACCOUNT: world.target.account };
});

async function cli(args: string[]): Promise<CliResult> {
  const r = await runCli(args, env);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** The line of a text table that names `instanceId` as a whole word (exactly one). */
function lineOf(text: string, instanceId: string): string {
  const lines = text.split('\n').filter((l) => new RegExp(`\\s${instanceId}\\s`).test(l));
  expect(lines, `${instanceId} in\n${text}`).toHaveLength(1);
  return lines[0] as string;
}

/** Every line free of control characters, none carrying the 4 KB, and exactly `count` of them. */
function expectSafeText(text: string, count: number): void {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(count);
  for (const line of lines) expect(line).not.toMatch(CONTROL);
  expect(text).not.toContain('x'.repeat(100));
  expect(text).not.toContain('y'.repeat(100));
}

/** What the text shows of i-evil: escaped, then cut to 40 columns with `…`. */
const EVIL_NAME = `evil"name'<script>alert(1)</script>🦄\\n…`;
const EVIL_TAGS = `<script>=生产,env=prod,evil"name'<scrip…`;
const EVIL_ACTOR = `by mallory\\r\\x1b[1A${'y'.repeat(23)}… (ram-user) from 192.0.2.1 at 00:06:00Z`;

/** The JSON of `--json` and `/v1` for one row (the fields this file checks). */
interface ContextJson {
  instanceId: string;
  baseline?: boolean;
  instance: { name: string | null; status: string | null; privateIp: string | null; tags: object } | null;
  vpc: { name: string | null; cidr: string | null } | null;
  cause: { status: string; actor: { name: string | null } | null; resolvedAt: string | null } | null;
}
const byInstance = (rows: ContextJson[]) => new Map(rows.map((r) => [r.instanceId, r]));

describe('events', () => {
  it('prints the name, tags, VPC name and cause of each change after the columns it had', async () => {
    const { stdout } = await cli(['events']);
    expectSafeText(stdout, 9);
    const [header] = stdout.split('\n');
    expect(header).toMatch(
      /^DETECTED\s+CHANGE\s+REGION\s+VPC\s+INSTANCE\s+RUN\s+INSTANCE NAME\s+TAGS\s+VPC NAME\s+CAUSE$/,
    );
    const row = (id: string) => lineOf(stdout, id);
    expect(row('i-base')).toMatch(
      /^\S+Z\s+added \(baseline\)\s+cn-hangzhou\s+vpc-ctx\s+i-base\s+\d+\s+db-0\s+env=prod,team=web\s+prod-vpc$/,
    );
    expect(row('i-found')).toMatch(
      /\s+added\s+cn-hangzhou\s+vpc-ctx\s+i-found\s+\d+\s+web-01\s+env=prod\s+prod-vpc\s+by ops-admin \(ram-user\) from 1\.2\.3\.4 at 00:05:12Z$/,
    );
    expect(row('i-gone')).toMatch(
      /\s+i-gone\s+\d+\s+生产-web-02 \(released\)\s+env=prod\s+prod-vpc\s+cause unknown$/,
    );
    expect(row('i-noperm')).toMatch(
      /\s+i-noperm\s+\d+\s+batch-03\s+\(none\)\s+prod-vpc\s+cause unavailable \(no ActionTrail permission\)$/,
    );
    expect(row('i-pending')).toMatch(/\s+i-pending\s+\d+\s+-\s+-\s+prod-vpc\s+cause pending$/);
    expect(row('i-bare')).toMatch(
      /\s+added \(baseline\)\s+cn-hangzhou\s+vpc-bare\s+i-bare\s+\d+\s+-\s+-\s+-$/,
    );
    expect(stdout.split('\n').at(-2)).toBe('7 event(s)');
  });

  it('prints hostile names, tags and actors escaped and cut, on their own row', async () => {
    const { stdout } = await cli(['events', '--instance', 'i-evil']);
    expectSafeText(stdout, 3);
    const row = lineOf(stdout, 'i-evil');
    expect(row).toContain(`  ${EVIL_NAME}  `);
    expect(row).toContain(`  ${EVIL_TAGS}  `);
    expect(row.endsWith(`  ${EVIL_ACTOR}`)).toBe(true);
  });

  it('--json carries instance, vpc and cause on every event: verbatim, null where unknown', async () => {
    const { stdout } = await cli(['events', '--json']);
    const out = JSON.parse(stdout) as { count: number; events: ContextJson[] };
    expect(out.count).toBe(7);
    for (const e of out.events)
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['instance', 'vpc', 'cause']));
    const e = byInstance(out.events);
    expect(e.get('i-base')).toMatchObject({
      baseline: true,
      instance: {
        name: 'db-0',
        status: 'Running',
        privateIp: '10.0.0.1',
        tags: { env: 'prod', team: 'web' },
      },
      vpc: PROD_VPC,
      cause: null,
    });
    expect(e.get('i-found')?.cause).toEqual(foundCause(world.attachFound, detected(10)));
    expect(e.get('i-found')?.instance).toMatchObject({ name: 'web-01', privateIp: '10.0.0.7' });
    expect(e.get('i-evil')?.instance?.name).toBe(HOSTILE);
    expect(e.get('i-evil')?.instance?.tags).toEqual(HOSTILE_TAGS);
    expect(e.get('i-evil')?.cause).toEqual(foundCause(world.attachEvil, detected(10)));
    expect(e.get('i-evil')?.cause?.actor?.name).toBe(HOSTILE_ACTOR);
    expect(e.get('i-gone')?.cause).toEqual({
      ...PENDING_CAUSE,
      status: 'not_found',
      resolvedAt: at(25).toISOString(),
    });
    expect(e.get('i-noperm')?.cause).toEqual({
      ...PENDING_CAUSE,
      status: 'unavailable',
      resolvedAt: expect.any(String),
    });
    expect(e.get('i-noperm')?.instance?.tags).toEqual({});
    expect(e.get('i-gone')?.instance).toMatchObject({
      name: '生产-web-02',
      releasedAt: at(42).toISOString(),
    });
    expect(e.get('i-found')?.instance).toMatchObject({ releasedAt: null });
    expect(e.get('i-pending')).toMatchObject({ instance: null, vpc: PROD_VPC, cause: PENDING_CAUSE });
    expect(e.get('i-bare')).toMatchObject({ baseline: true, instance: null, vpc: null, cause: null });
  });
});

describe('history', () => {
  it('--instance: the timeline with its context, and where it stands now', async () => {
    const [text, json] = await Promise.all([
      cli(['history', '--instance', 'i-evil']),
      cli(['history', '--instance', 'i-evil', '--json']),
    ]);
    expectSafeText(text.stdout, 3);
    expect(lineOf(text.stdout, 'i-evil')).toContain(`  ${EVIL_NAME}  `);
    expect(text.stdout).toContain(`now: linked to vpc-ctx (cn-hangzhou) since ${detected(10).toISOString()}`);
    const out = JSON.parse(json.stdout) as { events: ContextJson[]; linkedNow: ContextJson[] };
    expect(out.events).toHaveLength(1);
    expect(out.events[0]?.instance?.name).toBe(HOSTILE);
    expect(out.linkedNow[0]?.instance?.tags).toEqual(HOSTILE_TAGS);
    expect(out.linkedNow[0]?.cause).toEqual(foundCause(world.attachEvil, detected(10)));
  });

  it('--vpc: each change of the VPC with its cause', async () => {
    const { stdout } = await cli(['history', '--vpc', 'vpc-ctx']);
    expectSafeText(stdout, 8);
    expect(lineOf(stdout, 'i-pending')).toMatch(/cause pending$/);
    expect(lineOf(stdout, 'i-found')).toMatch(/by ops-admin \(ram-user\) from 1\.2\.3\.4 at 00:05:12Z$/);
    expect(stdout).toContain('now: 6 link(s) in vpc-ctx');
  });
});

describe('links', () => {
  it('prints each link with its names, tags and the cause of the change that linked it', async () => {
    const { stdout } = await cli(['links']);
    expectSafeText(stdout, 9);
    expect(stdout.split('\n')[0]).toMatch(
      /^REGION\s+VPC\s+INSTANCE\s+LINKED SINCE\s+INSTANCE NAME\s+TAGS\s+VPC NAME\s+CAUSE$/,
    );
    expect(lineOf(stdout, 'i-base')).toMatch(/\s+i-base\s+\S+Z\s+db-0\s+env=prod,team=web\s+prod-vpc$/);
    expect(lineOf(stdout, 'i-found')).toMatch(
      /\s+web-01\s+env=prod\s+prod-vpc\s+by ops-admin \(ram-user\) from 1\.2\.3\.4 at 00:05:12Z$/,
    );
    expect(lineOf(stdout, 'i-evil')).toContain(`  ${EVIL_NAME}  ${EVIL_TAGS}  prod-vpc  ${EVIL_ACTOR}`);
    expect(lineOf(stdout, 'i-pending')).toMatch(/\s+i-pending\s+\S+Z\s+-\s+-\s+prod-vpc\s+cause pending$/);
    expect(lineOf(stdout, 'i-bare')).toMatch(/\s+vpc-bare\s+i-bare\s+\S+Z\s+-\s+-\s+-$/);
    expect(stdout).toContain('7 link(s) now');
  });

  it('--json, now and --at a time: the same context fields as events', async () => {
    const [now, then] = await Promise.all([
      cli(['links', '--json']),
      cli(['links', '--json', '--at', at(35).toISOString()]),
    ]);
    const links = byInstance((JSON.parse(now.stdout) as { links: ContextJson[] }).links);
    expect([...links.keys()].sort()).toEqual(
      ['i-bare', 'i-base', 'i-evil', 'i-found', 'i-gone', 'i-noperm', 'i-pending'].sort(),
    );
    expect(links.get('i-base')).toMatchObject({ baseline: true, vpc: PROD_VPC, cause: null });
    expect(links.get('i-found')?.cause).toEqual(foundCause(world.attachFound, detected(10)));
    expect(links.get('i-evil')?.instance?.name).toBe(HOSTILE);
    expect(links.get('i-pending')).toMatchObject({ baseline: false, instance: null, cause: PENDING_CAUSE });
    expect(links.get('i-bare')).toMatchObject({ instance: null, vpc: null, cause: null });
    const past = byInstance((JSON.parse(then.stdout) as { links: ContextJson[] }).links);
    expect(past.has('i-pending')).toBe(false);
    expect(past.get('i-noperm')?.cause?.status).toBe('unavailable');
    expect(past.get('i-gone')?.cause?.status).toBe('not_found');
  });
});

describe('status', () => {
  it('shows per region whether instances and ActionTrail can be read, since when, and the last ok', async () => {
    const text = (await cli(['status'])).stdout;
    const lines = text.split('\n');
    const header = lines.findIndex((l) => l.startsWith('context'));
    expect(header, text).toBeGreaterThan(0);
    expect(lines[header + 1]).toMatch(/^REGION\s+SOURCE\s+STATE\s+SINCE\s+LAST CHECK\s+LAST OK\s+DETAIL$/);
    const row = (source: string) =>
      lines.find((l) => new RegExp(`^cn-hangzhou\\s+${source}\\s`).test(l)) ?? '';
    expect(row('instances')).toMatch(
      /\sok\s+2025-01-01T00:41:00Z\s+2025-01-01T00:50:00Z\s+2025-01-01T00:50:00Z\s+-$/,
    );
    expect(row('actiontrail')).toMatch(
      /\spermission_denied\s+2025-01-01T00:35:00Z\s+2025-01-01T00:35:00Z\s+2025-01-01T00:12:00Z\s+LookupEvents was refused \(Forbidden\.RAM\)/,
    );
    expect(text).toContain('2 check(s), 1 permission(s) missing, 0 failing');
  });

  it('--json: the context per account+region, whole', async () => {
    const out = JSON.parse((await cli(['status', '--json'])).stdout) as {
      attribution: string;
      context: unknown;
    };
    expect(out.attribution).toBe('on');
    expect(out.context).toEqual(worldContextHealth(world));
  });
});

/**
 * ACCOUNTS_FILE: a table of one wrong value per field, each giving exactly one clear line naming
 * the file, the account (index and name) and the field — the same for JSON and YAML — plus parse
 * errors that never quote the file, duplicate names, unknown fields, and the single-account
 * fallback of a deployment without the file.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { accountsFromConfig, describeAccount, resolveAccounts } from '../../src/accounts.js';
import { AccountsFileError, loadAccounts } from '../../src/accounts-file.js';
import { ConfigError } from '../../src/config.js';

const SECRET = 'acct-secret-NEVER-ECHOED';
const ROLE = 'acs:ram::1234567890123456:role/classiclink-sync';
const ENV = {
  PROD_AK: 'LTAI.prod',
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI.default',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 's',
};

type Json = Record<string, unknown>;

function base(): { accounts: Json[] } & Json {
  return {
    accounts: [
      { name: 'dev', credentials: { source: 'chain' }, regions: ['cn-hangzhou'] },
      {
        name: 'prod',
        credentials: {
          source: 'ram_role_arn',
          roleArn: ROLE,
          roleSessionName: 'sync-prod',
          durationSeconds: 3600,
          base: { source: 'static', accessKeyId: 'LTAI.base', accessKeySecret: SECRET },
        },
        regions: ['cn-beijing'],
        targets: ['cn-shanghai:vpc-uf6abc', 'cn-shanghai:vpc-uf6abc'],
        maxQps: 3,
      },
    ],
  };
}

function files(
  content: Json,
  format: 'json' | 'yaml',
): { file: string; readFile: (p: string) => Promise<string> } {
  const file = `accounts.${format}`;
  const text = format === 'json' ? JSON.stringify(content, null, 2) : stringify(content);
  return {
    file,
    readFile: async (p) => {
      if (p !== file) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return text;
    },
  };
}

async function problems(
  content: Json,
  format: 'json' | 'yaml',
  env: Record<string, string> = ENV,
): Promise<string[]> {
  const err = await loadAccounts({ ...files(content, format), env }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AccountsFileError);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).not.toContain(SECRET);
  return [...(err as AccountsFileError).problems];
}

/** Applies `fn` to a fresh valid file and returns it. */
function mutate(fn: (f: ReturnType<typeof base>, prod: Json, creds: Json) => void): Json {
  const f = base();
  const prod = f.accounts[1] as Json;
  fn(f, prod, prod.credentials as Json);
  return f;
}

const P = 'accounts[1] (prod)';
const C = `${P}.credentials`;

const CASES: [string, Json, string][] = [
  ['accounts missing', {}, 'accounts: required'],
  ['accounts empty', { accounts: [] }, 'accounts: list at least one account'],
  ['unknown top-level field', mutate((f) => Object.assign(f, { version: 2 })), 'version: unknown field'],
  [
    'account not a mapping',
    mutate((f) => f.accounts.push('x' as unknown as Json)),
    'accounts[2]: expected a mapping (object)',
  ],
  ['name missing', mutate((_f, p) => delete p.name), 'accounts[1].name: required'],
  [
    'name malformed',
    mutate((_f, p) => Object.assign(p, { name: 'prod east' })),
    'accounts[1].name: expected 1-64 letters, digits, _ . or -',
  ],
  [
    'name not a string',
    mutate((_f, p) => Object.assign(p, { name: 7 })),
    'accounts[1].name: expected a string',
  ],
  [
    'duplicate name',
    mutate((_f, p) => Object.assign(p, { name: 'dev' })),
    'accounts[1] (dev).name: duplicate account name (also accounts[0])',
  ],
  [
    'unknown account field',
    mutate((_f, p) => Object.assign(p, { region: 'cn-hangzhou' })),
    `${P}.region: unknown field`,
  ],
  [
    'regions not a list',
    mutate((_f, p) => Object.assign(p, { regions: 'cn-beijing' })),
    `${P}.regions: expected a list`,
  ],
  [
    'region malformed',
    mutate((_f, p) => Object.assign(p, { regions: ['Beijing'] })),
    `${P}.regions[0]: expected a region id like cn-hangzhou`,
  ],
  [
    'no regions and no targets',
    mutate((_f, p) => Object.assign(p, { regions: [], targets: undefined })),
    `${P}.regions: required (or targets): list at least one region`,
  ],
  [
    'target malformed',
    mutate((_f, p) => Object.assign(p, { targets: ['cn-shanghai/vpc-1'] })),
    `${P}.targets[0]: expected region:vpc-id, e.g. cn-hangzhou:vpc-bp1abc`,
  ],
  ['maxQps zero', mutate((_f, p) => Object.assign(p, { maxQps: 0 })), `${P}.maxQps: must be at least 1`],
  [
    'accountId not digits',
    mutate((_f, p) => Object.assign(p, { accountId: 'acs:123' })),
    `${P}.accountId: expected the Alibaba Cloud account id (digits)`,
  ],
  [
    'maxQps fractional',
    mutate((_f, p) => Object.assign(p, { maxQps: 1.5 })),
    `${P}.maxQps: expected a whole number`,
  ],
  ['maxQps a string', mutate((_f, p) => Object.assign(p, { maxQps: '5' })), `${P}.maxQps: expected a number`],
  [
    'maxQps too high',
    mutate((_f, p) => Object.assign(p, { maxQps: 20_000 })),
    `${P}.maxQps: must be at most 10000`,
  ],
  ['credentials missing', mutate((_f, p) => delete p.credentials), `${C}: required`],
  [
    'credentials source unknown',
    mutate((_f, _p, c) => Object.assign(c, { source: 'sso' })),
    `${C}.source: expected source to be one of env, static, profile, ecs_ram_role, ram_role_arn, oidc, chain`,
  ],
  [
    'roleArn malformed',
    mutate((_f, _p, c) => Object.assign(c, { roleArn: 'role/x' })),
    `${C}.roleArn: expected a RAM role ARN like acs:ram::1234567890123456:role/name`,
  ],
  ['roleArn missing', mutate((_f, _p, c) => delete c.roleArn), `${C}.roleArn: required`],
  [
    'durationSeconds too short',
    mutate((_f, _p, c) => Object.assign(c, { durationSeconds: 600 })),
    `${C}.durationSeconds: must be at least 900`,
  ],
  [
    'durationSeconds too long',
    mutate((_f, _p, c) => Object.assign(c, { durationSeconds: 86_400 })),
    `${C}.durationSeconds: must be at most 43200`,
  ],
  [
    'roleSessionName malformed',
    mutate((_f, _p, c) => Object.assign(c, { roleSessionName: 'has space' })),
    `${C}.roleSessionName: expected 2-64 letters, digits, . @ _ or -`,
  ],
  [
    'stsEndpoint malformed',
    mutate((_f, _p, c) => Object.assign(c, { stsEndpoint: 'ftp://sts' })),
    `${C}.stsEndpoint: expected an http(s) URL or a host name like sts.cn-hangzhou.aliyuncs.com`,
  ],
  [
    'stsRegion malformed',
    mutate((_f, _p, c) => Object.assign(c, { stsRegion: 'evil.com/x' })),
    `${C}.stsRegion: expected a region id like cn-hangzhou`,
  ],
  [
    'unknown credentials field',
    mutate((_f, _p, c) => Object.assign(c, { secret: SECRET })),
    `${C}.secret: unknown field`,
  ],
  [
    'base cannot itself be ram_role_arn',
    mutate((_f, _p, c) => Object.assign(c, { base: { source: 'ram_role_arn', roleArn: ROLE } })),
    `${C}.base.source: expected source to be one of env, static, profile, ecs_ram_role, oidc, chain`,
  ],
  [
    'static secret missing',
    mutate((_f, _p, c) => delete (c.base as Json).accessKeySecret),
    `${C}.base.accessKeySecret: required`,
  ],
  [
    'static secret of the wrong type (value not echoed)',
    mutate((_f, _p, c) => Object.assign(c.base as Json, { accessKeySecret: 12345 })),
    `${C}.base.accessKeySecret: expected a string`,
  ],
  [
    'static secret empty',
    mutate((_f, _p, c) => Object.assign(c.base as Json, { accessKeySecret: '  ' })),
    `${C}.base.accessKeySecret: must not be empty`,
  ],
  [
    'env names a variable that is not set',
    mutate((_f, p) =>
      Object.assign(p, {
        credentials: { source: 'env', accessKeyIdVar: 'PROD_AK', accessKeySecretVar: 'PROD_SECRET' },
      }),
    ),
    `${C}.accessKeySecretVar: environment variable PROD_SECRET is not set`,
  ],
  [
    'env variable name malformed',
    mutate((_f, p) => Object.assign(p, { credentials: { source: 'env', accessKeyIdVar: 'prod-ak' } })),
    `${C}.accessKeyIdVar: expected an environment variable name like PROD_AK_ID`,
  ],
  [
    'profile name missing',
    mutate((_f, p) => Object.assign(p, { credentials: { source: 'profile' } })),
    `${C}.profile: required`,
  ],
  [
    'oidc provider ARN malformed',
    mutate((_f, p) =>
      Object.assign(p, {
        credentials: { source: 'oidc', roleArn: ROLE, oidcProviderArn: 'x', oidcTokenFile: '/var/run/token' },
      }),
    ),
    `${C}.oidcProviderArn: expected an OIDC provider ARN like acs:ram::1234567890123456:oidc-provider/name`,
  ],
  [
    'ecs_ram_role with an unknown field',
    mutate((_f, p) => Object.assign(p, { credentials: { source: 'ecs_ram_role', role: 'R' } })),
    `${C}.role: unknown field`,
  ],
];

describe.each(['json', 'yaml'] as const)('loadAccounts (%s)', (format) => {
  it('parses a valid file into account specs', async () => {
    const accounts = await loadAccounts({ ...files(base(), format), env: ENV });
    expect(accounts).toEqual([
      {
        name: 'dev',
        regions: ['cn-hangzhou'],
        targets: undefined,
        maxQps: undefined,
        credentials: { source: 'chain' },
      },
      {
        name: 'prod',
        regions: ['cn-beijing', 'cn-shanghai'],
        targets: [{ regionId: 'cn-shanghai', vpcId: 'vpc-uf6abc' }],
        maxQps: 3,
        credentials: base().accounts[1]?.credentials,
      },
    ]);
    const described = JSON.stringify(accounts.map(describeAccount));
    expect(described).toContain('ram_role_arn(acs:ram::1234567890123456:role/classiclink-sync) via static');
    expect(described).not.toContain(SECRET);
  });

  it.each(CASES)('%s → one clear line', async (_what, content, line) => {
    expect(await problems(content, format)).toEqual([`ACCOUNTS_FILE accounts.${format}: ${line}`]);
  });

  it('reads an accountId, quoted or (YAML) as a number', async () => {
    for (const accountId of ['1234567890123456', 1234567890123456]) {
      const content = mutate((_f, p) => Object.assign(p, { accountId }));
      const accounts = await loadAccounts({ ...files(content, format), env: ENV });
      expect(accounts.map((a) => a.accountId)).toEqual([undefined, '1234567890123456']);
    }
  });

  it('reports every problem, one line each', async () => {
    const content = mutate((_f, p, c) => {
      Object.assign(p, { maxQps: 0, regions: ['x'] });
      Object.assign(c, { durationSeconds: 1 });
    });
    expect(await problems(content, format)).toHaveLength(3);
  });
});

describe('loadAccounts: files that cannot be read or parsed', () => {
  it('a missing file names the path and errno', async () => {
    await expect(loadAccounts({ file: '/etc/none.yaml', env: {} })).rejects.toThrow(
      'ACCOUNTS_FILE /etc/none.yaml: cannot read the file (ENOENT)',
    );
  });

  it('broken JSON gives a position, never the text around it', async () => {
    const text = `{\n  "accounts": [\n    {"name": "x", "credentials": {"accessKeySecret": "${SECRET}" ]\n}`;
    const err = await loadAccounts({ file: 'a.json', env: {}, readFile: async () => text }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/^ACCOUNTS_FILE a\.json: not valid JSON at line 3, column \d+$/);
    expect((err as Error).message).not.toContain(SECRET);
  });

  it('broken YAML gives line, column and the parser code, never the text', async () => {
    const text = `accounts:\n  - name: x\n    credentials: {source: static, accessKeySecret: "${SECRET}"\n`;
    const err = await loadAccounts({ file: 'a.yml', env: {}, readFile: async () => text }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(
      /^ACCOUNTS_FILE a\.yml: not valid YAML at line \d+, column \d+ \([A-Z_]+\)$/,
    );
    expect((err as Error).message).not.toContain(SECRET);
  });

  it('YAML duplicate keys are refused', async () => {
    const text =
      'accounts:\n  - name: a\n    name: b\n    credentials: {source: chain}\n    regions: [cn-hangzhou]\n';
    await expect(loadAccounts({ file: 'a.yaml', env: {}, readFile: async () => text })).rejects.toThrow(
      /not valid YAML at line 3, column 5 \(DUPLICATE_KEY\)/,
    );
  });
});

describe('without ACCOUNTS_FILE', () => {
  const config = {
    SYNC_ACCOUNT: 'main',
    regions: ['cn-hangzhou', 'cn-beijing'],
    SYNC_TARGETS: [{ regionId: 'cn-beijing', vpcId: 'vpc-2ze1' }],
    ACCOUNTS_FILE: undefined,
  };

  it('accountsFromConfig gives the one account of SYNC_ACCOUNT / SYNC_REGIONS / SYNC_TARGETS on the default chain', () => {
    expect(accountsFromConfig(config)).toEqual([
      {
        name: 'main',
        regions: ['cn-hangzhou', 'cn-beijing'],
        targets: [{ regionId: 'cn-beijing', vpcId: 'vpc-2ze1' }],
        credentials: { source: 'chain' },
      },
    ]);
  });

  it('resolveAccounts reads the file only when ACCOUNTS_FILE is set', async () => {
    await expect(resolveAccounts(config, {})).resolves.toHaveLength(1);
    const f = files(base(), 'yaml');
    await expect(
      resolveAccounts({ ...config, ACCOUNTS_FILE: f.file }, ENV, f.readFile),
    ).resolves.toHaveLength(2);
  });
});

/**
 * The default credential chain end to end: real files in a temporary home directory, real HTTP
 * to the fake STS and metadata service. Order (env > OIDC > CLI profile > credentials file > ECS
 * RAM role), every CLI mode and INI type, the chosen source in `name`, the one-line
 * MissingCredentials, and configured-but-failing sources reported by name without secrets.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { credentialsProviderFor, defaultCredentialsChain } from '../../src/credentials/index.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import { type FakeMetadata, startFakeMetadata } from '../helpers/fake-cloud/metadata.js';
import { refusedUrl } from '../helpers/fake-cloud/server.js';
import { type FakeSts, startFakeSts } from '../helpers/fake-cloud/sts.js';
import { captureLog } from '../helpers/log.js';

const ROLE = 'acs:ram::1234567890123456:role/classiclink-sync';
const OIDC_ARN = 'acs:ram::1234567890123456:oidc-provider/ack-rrsa';
const CLI_SECRET = 'cli-secret-NEVER-LOGGED';
const INI_SECRET = 'ini-secret-NEVER-LOGGED';

let home: string;
let sts: FakeSts;
let metadata: FakeMetadata;

beforeEach(async () => {
  home = await mkdtemp(path.join(tmpdir(), 'chain-home-'));
  sts = await startFakeSts({
    keys: { 'LTAI.cli': { secret: CLI_SECRET }, 'LTAI.ini': { secret: INI_SECRET } },
    roles: [ROLE],
    oidc: { providerArn: OIDC_ARN, token: 'oidc-token-value' },
  });
  metadata = await startFakeMetadata({ role: 'EcsRole' });
});

afterEach(async () => {
  await Promise.all([sts.close(), metadata.close(), rm(home, { recursive: true, force: true })]);
});

/** Environment that points STS and the metadata service at the fakes. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ALIBABA_CLOUD_STS_ENDPOINT: sts.url, ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: metadata.url, ...extra };
}

async function cliConfig(profiles: Record<string, unknown>[], current = 'default'): Promise<string> {
  await mkdir(path.join(home, '.aliyun'), { recursive: true });
  const file = path.join(home, '.aliyun', 'config.json');
  await writeFile(file, JSON.stringify({ current, profiles, meta_path: '' }, null, 2));
  return file;
}

async function iniFile(text: string): Promise<string> {
  await mkdir(path.join(home, '.alibabacloud'), { recursive: true });
  const file = path.join(home, '.alibabacloud', 'credentials');
  await writeFile(file, text);
  return file;
}

function chain(env: Record<string, string>) {
  const log = captureLog();
  return { log, chain: defaultCredentialsChain({ env, homeDir: home, log: log.log }) };
}

const AK_PROFILE = { name: 'default', mode: 'AK', access_key_id: 'LTAI.cli', access_key_secret: CLI_SECRET };
const INI_AK = `[default]\ntype = access_key\naccess_key_id = LTAI.ini\naccess_key_secret = ${INI_SECRET}\n`;

describe('default credentials chain: order', () => {
  it('env beats the CLI profile, the credentials file and the ECS role', async () => {
    await cliConfig([AK_PROFILE]);
    await iniFile(INI_AK);
    const { chain: c } = chain(
      baseEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI.env', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'env-secret' }),
    );
    expect(c.name).toBe('chain');
    await expect(c.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.env' });
    expect(c.name).toBe('chain/env');
    expect(metadata.requests).toHaveLength(0);
  });

  it('OIDC (RRSA) beats the CLI profile', async () => {
    await cliConfig([AK_PROFILE]);
    const tokenFile = path.join(home, 'token');
    await writeFile(tokenFile, 'oidc-token-value');
    const { chain: c } = chain(
      baseEnv({
        ALIBABA_CLOUD_ROLE_ARN: ROLE,
        ALIBABA_CLOUD_OIDC_PROVIDER_ARN: OIDC_ARN,
        ALIBABA_CLOUD_OIDC_TOKEN_FILE: tokenFile,
        ALIBABA_CLOUD_ROLE_SESSION_NAME: 'pod-session',
      }),
    );
    await expect(c.get()).resolves.toMatchObject({ accessKeyId: 'STS.sts1' });
    expect(c.name).toBe('chain/oidc_role_arn');
    expect(sts.accepted('AssumeRoleWithOIDC')[0]?.form.RoleSessionName).toBe('pod-session');
  });

  it('the CLI profile beats the credentials file; disabling it falls to the file', async () => {
    await cliConfig([AK_PROFILE]);
    await iniFile(INI_AK);
    const first = chain(baseEnv()).chain;
    await expect(first.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.cli' });
    expect(first.name).toBe('chain/cli_profile/static_ak');
    const disabled = chain(baseEnv({ ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true' })).chain;
    await expect(disabled.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.ini' });
    expect(disabled.name).toBe('chain/profile/static_ak');
  });

  it('the credentials file beats the ECS role, which is last', async () => {
    await iniFile(INI_AK);
    const withFile = chain(baseEnv()).chain;
    await expect(withFile.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.ini' });
    expect(metadata.requests).toHaveLength(0);
    await rm(path.join(home, '.alibabacloud'), { recursive: true });
    const { chain: onlyEcs, log } = chain(baseEnv());
    await expect(onlyEcs.get()).resolves.toMatchObject({ accessKeyId: 'STS.ecs1' });
    expect(onlyEcs.name).toBe('chain/ecs_ram_role');
    expect(onlyEcs.source).toBe('ecs_ram_role');
    expect(log.text()).toContain('Alibaba Cloud credentials source chosen');
  });

  it('ALIBABA_CLOUD_PROFILE picks the CLI profile, and the file section when the CLI lacks it', async () => {
    await cliConfig([AK_PROFILE, { ...AK_PROFILE, name: 'prod', access_key_id: 'LTAI.cli.prod' }]);
    await iniFile(
      `${INI_AK}\n[staging]\ntype = access_key\naccess_key_id = LTAI.ini.staging\naccess_key_secret = s\n`,
    );
    await expect(chain(baseEnv({ ALIBABA_CLOUD_PROFILE: 'prod' })).chain.get()).resolves.toMatchObject({
      accessKeyId: 'LTAI.cli.prod',
    });
    await expect(chain(baseEnv({ ALIBABA_CLOUD_PROFILE: 'staging' })).chain.get()).resolves.toMatchObject({
      accessKeyId: 'LTAI.ini.staging',
    });
  });

  it('concurrent first gets choose once', async () => {
    const { chain: c } = chain(baseEnv());
    await Promise.all(Array.from({ length: 6 }, () => c.get()));
    expect(metadata.credentialRequests()).toHaveLength(1);
  });
});

describe('default credentials chain: CLI profile modes and credentials file types', () => {
  it.each([
    ['AK', AK_PROFILE, { accessKeyId: 'LTAI.cli', accessKeySecret: CLI_SECRET }, 'cli_profile/static_ak'],
    [
      'StsToken',
      {
        name: 'default',
        mode: 'StsToken',
        access_key_id: 'STS.cli',
        access_key_secret: 's',
        sts_token: 'tok',
      },
      { accessKeyId: 'STS.cli', securityToken: 'tok' },
      'cli_profile/static_sts',
    ],
    [
      'RamRoleArn',
      {
        name: 'default',
        mode: 'RamRoleArn',
        access_key_id: 'LTAI.cli',
        access_key_secret: CLI_SECRET,
        ram_role_arn: ROLE,
        ram_session_name: 'cli-session',
        expired_seconds: 900,
      },
      { accessKeyId: 'STS.sts1' },
      'cli_profile/ram_role_arn',
    ],
    [
      'EcsRamRole',
      { name: 'default', mode: 'EcsRamRole', ram_role_name: 'EcsRole' },
      { accessKeyId: 'STS.ecs1' },
      'cli_profile/ecs_ram_role',
    ],
  ])('CLI mode %s', async (_mode, profile, expected, name) => {
    await cliConfig([profile]);
    const { chain: c } = chain(baseEnv());
    await expect(c.get()).resolves.toMatchObject(expected);
    expect(c.name).toBe(`chain/${name}`);
    if (_mode === 'RamRoleArn') {
      expect(sts.accepted('AssumeRole')[0]?.form).toMatchObject({
        RoleSessionName: 'cli-session',
        DurationSeconds: '900',
      });
    }
  });

  it.each([
    ['access_key', INI_AK, { accessKeyId: 'LTAI.ini' }, 'profile/static_ak'],
    [
      'ecs_ram_role',
      '[default]\ntype = ecs_ram_role\nrole_name = EcsRole\n',
      { accessKeyId: 'STS.ecs1' },
      'profile/ecs_ram_role',
    ],
    [
      'ram_role_arn',
      `[default]\ntype = ram_role_arn\naccess_key_id = LTAI.ini\naccess_key_secret = ${INI_SECRET}\nrole_arn = ${ROLE}\nrole_session_name = ini-session\n`,
      { accessKeyId: 'STS.sts1' },
      'profile/ram_role_arn',
    ],
  ])('credentials file type %s', async (_type, text, expected, name) => {
    await iniFile(text);
    const { chain: c } = chain(baseEnv());
    await expect(c.get()).resolves.toMatchObject(expected);
    expect(c.name).toBe(`chain/${name}`);
  });

  it('ALIBABA_CLOUD_CREDENTIALS_FILE points at another file', async () => {
    const other = path.join(home, 'elsewhere.ini');
    await writeFile(other, INI_AK.replace('LTAI.ini', 'LTAI.elsewhere'));
    await expect(
      chain(baseEnv({ ALIBABA_CLOUD_CREDENTIALS_FILE: other })).chain.get(),
    ).resolves.toMatchObject({
      accessKeyId: 'LTAI.elsewhere',
    });
  });
});

describe('default credentials chain: failures', () => {
  it('nothing applies → FatalError MissingCredentials, one line listing what was tried', async () => {
    const { chain: c } = chain({ ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: await refusedUrl() });
    const err = await c.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    const e = err as FatalError;
    expect(e.code).toBe('MissingCredentials');
    expect(e.message).not.toContain('\n');
    expect(e.message).toMatch(
      /^no Alibaba Cloud credentials found; tried: env \(ALIBABA_CLOUD_ACCESS_KEY_ID not set\), oidc_role_arn \(.*\), cli_profile \(.*config\.json not found\), profile \(.*credentials not found\), ecs_ram_role \(metadata service not reachable\)$/,
    );
  });

  it('no role attached, or the metadata service disabled, also means MissingCredentials', async () => {
    const none = await startFakeMetadata({});
    try {
      await expect(
        chain({ ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: none.url }).chain.get(),
      ).rejects.toMatchObject({
        code: 'MissingCredentials',
        message: expect.stringContaining('no RAM role attached'),
      });
    } finally {
      await none.close();
    }
    await expect(
      chain(baseEnv({ ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true' })).chain.get(),
    ).rejects.toMatchObject({
      code: 'MissingCredentials',
      message: expect.stringContaining('disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED'),
    });
    expect(metadata.requests).toHaveLength(0);
  });

  it('a named ECS role (ALIBABA_CLOUD_ECS_METADATA) that cannot be reached is a retryable error, not "missing"', async () => {
    const { chain: c } = chain({
      ALIBABA_CLOUD_ECS_METADATA: 'EcsRole',
      ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: await refusedUrl(),
    });
    const err = await c.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as Error).message).toMatch(/^credentials source ecs_ram_role: /);
  });

  it('a configured source that fails is reported by name, fatal, without secrets — and later sources are not tried', async () => {
    await cliConfig([
      {
        name: 'default',
        mode: 'RamRoleArn',
        access_key_id: 'LTAI.cli',
        access_key_secret: 'wrong-secret-NEVER',
        ram_role_arn: ROLE,
      },
    ]);
    await iniFile(INI_AK);
    const { chain: c, log } = chain(baseEnv());
    const err = await c.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    const e = err as FatalError;
    expect(e.code).toBe('SignatureDoesNotMatch');
    expect(e.message).toMatch(
      /^credentials source cli_profile: STS AssumeRole \(acs:ram::1234567890123456:role\/classiclink-sync/,
    );
    expect(e.message).not.toContain('wrong-secret-NEVER');
    expect(log.text()).not.toContain('wrong-secret-NEVER');
    expect(metadata.requests).toHaveLength(0);
    expect(c.name).toBe('chain');
  });

  it('only half of the env pair is a fatal error naming the missing variable', async () => {
    await cliConfig([AK_PROFILE]);
    await expect(
      chain(baseEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI.env' })).chain.get(),
    ).rejects.toMatchObject({
      code: 'MissingCredentials',
      message: expect.stringContaining('ALIBABA_CLOUD_ACCESS_KEY_SECRET'),
    });
  });

  it('an unreadable selection is retried on the next get (a failed choice is not kept)', async () => {
    const { chain: c } = chain(baseEnv({ ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true' }));
    await expect(c.get()).rejects.toMatchObject({ code: 'MissingCredentials' });
    await cliConfig([AK_PROFILE]);
    await expect(c.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.cli' });
  });
});

describe('credentialsProviderFor (accounts file specs)', () => {
  it('ram_role_arn signed by a static base key, against the fake STS', async () => {
    const log = captureLog();
    const p = credentialsProviderFor(
      {
        source: 'ram_role_arn',
        roleArn: ROLE,
        roleSessionName: 'acct-prod',
        externalId: 'ext-1',
        base: { source: 'static', accessKeyId: 'LTAI.cli', accessKeySecret: CLI_SECRET },
      },
      { env: baseEnv(), homeDir: home, log: log.log },
    );
    await expect(p.get()).resolves.toMatchObject({ accessKeyId: 'STS.sts1' });
    expect(sts.accepted('AssumeRole')[0]?.form).toMatchObject({
      RoleSessionName: 'acct-prod',
      ExternalId: 'ext-1',
    });
  });

  it('ram_role_arn with the default chain as its base (the ECS role assumes each account role)', async () => {
    const p = credentialsProviderFor(
      { source: 'ram_role_arn', roleArn: ROLE },
      { env: baseEnv(), homeDir: home, log: captureLog().log },
    );
    // The fake STS does not know the key the metadata service minted, so it refuses it: this
    // proves the chain's ECS role credentials (key and token) signed the AssumeRole call.
    await expect(p.get()).rejects.toMatchObject({ code: 'InvalidAccessKeyId.NotFound' });
    expect(sts.requests.at(-1)?.query.AccessKeyId).toBe('STS.ecs1');
    expect(sts.requests.at(-1)?.query.SecurityToken).toBe(metadata.issued[0]?.SecurityToken);
  });

  it('profile picks the named CLI profile, else the credentials file section, else fails naming both files', async () => {
    await cliConfig([AK_PROFILE, { ...AK_PROFILE, name: 'acct-a', access_key_id: 'LTAI.a' }]);
    await iniFile(`[acct-b]\ntype = access_key\naccess_key_id = LTAI.b\naccess_key_secret = s\n`);
    const opts = { env: baseEnv(), homeDir: home, log: captureLog().log };
    await expect(
      credentialsProviderFor({ source: 'profile', profile: 'acct-a' }, opts).get(),
    ).resolves.toMatchObject({
      accessKeyId: 'LTAI.a',
    });
    await expect(
      credentialsProviderFor({ source: 'profile', profile: 'acct-b' }, opts).get(),
    ).resolves.toMatchObject({
      accessKeyId: 'LTAI.b',
    });
    await expect(
      credentialsProviderFor({ source: 'profile', profile: 'acct-c' }, opts).get(),
    ).rejects.toMatchObject({
      code: 'MissingCredentials',
      message: expect.stringMatching(/profile "acct-c" is neither in .*config\.json nor in .*credentials/),
    });
  });

  it('env with named variables reads those variables', async () => {
    const p = credentialsProviderFor(
      { source: 'env', accessKeyIdVar: 'PROD_AK', accessKeySecretVar: 'PROD_SECRET' },
      { env: { PROD_AK: 'LTAI.prod', PROD_SECRET: 'x' }, homeDir: home, log: captureLog().log },
    );
    await expect(p.get()).resolves.toMatchObject({ accessKeyId: 'LTAI.prod', accessKeySecret: 'x' });
  });
});

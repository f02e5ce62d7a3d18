/**
 * The CLI config and credentials-file sources without HTTP (files through an injected reader):
 * INI parsing, profile selection, and errors that name the file, profile and field — never a
 * value, never the file's content.
 */
import { describe, expect, it } from 'vitest';
import { parseIni, resolveCliProfile, resolveIniProfile } from '../../src/credentials/index.js';
import { FatalError } from '../../src/errors.js';
import { captureLog } from '../helpers/log.js';

const SECRET = 'file-secret-NEVER-ECHOED';

function ctx(files: Record<string, string>, env: Record<string, string> = {}) {
  return {
    env,
    homeDir: '/home/u',
    log: captureLog().log,
    readFile: async (p: string) => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    },
  };
}

const CLI = '/home/u/.aliyun/config.json';
const INI = '/home/u/.alibabacloud/credentials';

async function thrown(p: Promise<unknown>): Promise<FatalError> {
  const e = await p.catch((err: unknown) => err);
  expect(e).toBeInstanceOf(FatalError);
  return e as FatalError;
}

describe('parseIni', () => {
  it('reads sections, keys, comments and quoted values', () => {
    const ini = parseIni(
      '# comment\n[default]\ntype = access_key\naccess_key_id=id\n; other\naccess_key_secret = "a = b"\n\n[ other ]\nk = v\n',
    );
    expect(Object.fromEntries(ini.get('default') ?? [])).toEqual({
      type: 'access_key',
      access_key_id: 'id',
      access_key_secret: 'a = b',
    });
    expect(ini.get('other')?.get('k')).toBe('v');
  });
});

describe('CLI profile source', () => {
  it('uses `current`, or ALIBABA_CLOUD_PROFILE', async () => {
    const files = {
      [CLI]: JSON.stringify({
        current: 'a',
        profiles: [
          { name: 'a', mode: 'AK', access_key_id: 'id-a', access_key_secret: SECRET },
          { name: 'b', mode: 'AK', access_key_id: 'id-b', access_key_secret: SECRET },
        ],
      }),
    };
    const a = await resolveCliProfile(ctx(files));
    expect('provider' in a && (await a.provider.get()).accessKeyId).toBe('id-a');
    const b = await resolveCliProfile(ctx(files, { ALIBABA_CLOUD_PROFILE: 'b' }));
    expect('provider' in b && (await b.provider.get()).accessKeyId).toBe('id-b');
  });

  it('skips when the file or the profile is absent, or the source is disabled', async () => {
    expect(await resolveCliProfile(ctx({}))).toEqual({ skipped: `${CLI} not found` });
    const files = { [CLI]: JSON.stringify({ current: 'x', profiles: [] }) };
    expect(await resolveCliProfile(ctx(files))).toEqual({ skipped: `${CLI} has no profile "x"` });
    expect(await resolveCliProfile(ctx(files, { ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'TRUE' }))).toEqual({
      skipped: 'disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED',
    });
  });

  it('a file that is not JSON is fatal, naming the file without quoting it', async () => {
    const e = await thrown(resolveCliProfile(ctx({ [CLI]: `{"access_key_secret": "${SECRET}",` })));
    expect(e.message).toBe(`Alibaba Cloud CLI config ${CLI}: not valid JSON`);
  });

  it('a missing field names the profile, mode and field, not a value', async () => {
    const files = {
      [CLI]: JSON.stringify({
        current: 'p',
        profiles: [{ name: 'p', mode: 'RamRoleArn', access_key_id: 'id', access_key_secret: SECRET }],
      }),
    };
    const e = await thrown(resolveCliProfile(ctx(files)));
    expect(e.code).toBe('InvalidProfile');
    expect(e.message).toBe(
      `Alibaba Cloud CLI config ${CLI}: profile "p" (mode RamRoleArn): ram_role_arn required`,
    );
  });

  it('an unsupported mode is refused, not skipped', async () => {
    const files = { [CLI]: JSON.stringify({ current: 'p', profiles: [{ name: 'p', mode: 'CloudSSO' }] }) };
    const e = await thrown(resolveCliProfile(ctx(files)));
    expect(e.message).toMatch(
      /mode CloudSSO is not supported \(supported: AK, StsToken, RamRoleArn, EcsRamRole\)/,
    );
  });

  it('an unreadable file (not ENOENT) is fatal with the errno', async () => {
    const c = {
      ...ctx({}),
      readFile: async () => {
        throw Object.assign(new Error('denied'), { code: 'EACCES' });
      },
    };
    expect((await thrown(resolveCliProfile(c))).message).toBe(
      `Alibaba Cloud CLI config ${CLI}: cannot read (EACCES)`,
    );
  });
});

describe('credentials file source', () => {
  it('reads the `default` section, or ALIBABA_CLOUD_PROFILE', async () => {
    const files = {
      [INI]: `[default]\ntype=access_key\naccess_key_id=d\naccess_key_secret=s\n[x]\ntype=access_key\naccess_key_id=x\naccess_key_secret=s\n`,
    };
    const d = await resolveIniProfile(ctx(files));
    expect('provider' in d && (await d.provider.get()).accessKeyId).toBe('d');
    const x = await resolveIniProfile(ctx(files, { ALIBABA_CLOUD_PROFILE: 'x' }));
    expect('provider' in x && (await x.provider.get()).accessKeyId).toBe('x');
  });

  it('skips an absent default file or section; an absent ALIBABA_CLOUD_CREDENTIALS_FILE is fatal', async () => {
    expect(await resolveIniProfile(ctx({}))).toEqual({ skipped: `${INI} not found` });
    expect(await resolveIniProfile(ctx({ [INI]: '[other]\n' }))).toEqual({
      skipped: `${INI} has no section [default]`,
    });
    const e = await thrown(resolveIniProfile(ctx({}, { ALIBABA_CLOUD_CREDENTIALS_FILE: '/etc/creds' })));
    expect(e.message).toBe('ALIBABA_CLOUD_CREDENTIALS_FILE /etc/creds: not found');
  });

  it('an unknown type or a missing field is fatal, naming section and field, not values', async () => {
    const bad = await thrown(
      resolveIniProfile(ctx({ [INI]: `[default]\ntype = rsa_key_pair\nsecret=${SECRET}\n` })),
    );
    expect(bad.message).toBe(
      `credentials file ${INI}: [default]: type rsa_key_pair is not supported (supported: access_key, ecs_ram_role, ram_role_arn)`,
    );
    const missing = await thrown(
      resolveIniProfile(ctx({ [INI]: `[default]\ntype = access_key\naccess_key_secret = ${SECRET}\n` })),
    );
    expect(missing.message).toBe(
      `credentials file ${INI}: [default] (type access_key): access_key_id required`,
    );
    expect(missing.message).not.toContain(SECRET);
  });
});

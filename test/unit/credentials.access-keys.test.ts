import { describe, expect, it } from 'vitest';
import { envCredentialsProvider, staticCredentialsProvider } from '../../src/credentials/index.js';
import { FatalError } from '../../src/errors.js';

const SECRET = 'sEcReT-value-never-logged';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('envCredentialsProvider', () => {
  it('reads the env trio', async () => {
    const p = envCredentialsProvider({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIexample',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
      ALIBABA_CLOUD_SECURITY_TOKEN: 'sts-token',
    });
    expect(p.name).toBe('env');
    await expect(p.get()).resolves.toMatchObject({
      accessKeyId: 'LTAIexample',
      accessKeySecret: SECRET,
      securityToken: 'sts-token',
    });
  });

  it('leaves the security token out when unset or blank', async () => {
    const c = await envCredentialsProvider({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
      ALIBABA_CLOUD_SECURITY_TOKEN: '  ',
    }).get();
    expect(c.securityToken).toBeUndefined();
  });

  it('fails with MissingCredentials naming the missing variables, never a value', () => {
    const onlyId = thrown(() => envCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' }));
    expect(onlyId).toBeInstanceOf(FatalError);
    expect((onlyId as FatalError).code).toBe('MissingCredentials');
    expect((onlyId as FatalError).message).toContain('ALIBABA_CLOUD_ACCESS_KEY_SECRET');
    expect((onlyId as FatalError).message).not.toContain('ALIBABA_CLOUD_ACCESS_KEY_ID and');

    const onlySecret = thrown(() => envCredentialsProvider({ ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET }));
    expect((onlySecret as FatalError).code).toBe('MissingCredentials');
    expect((onlySecret as FatalError).message).toContain('ALIBABA_CLOUD_ACCESS_KEY_ID');
    expect((onlySecret as FatalError).message).not.toContain(SECRET);

    const none = thrown(() => envCredentialsProvider({}));
    expect((none as FatalError).message).toMatch(/ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/);
  });

  it('rejects when the signal is already aborted', async () => {
    const p = envCredentialsProvider({
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 's',
    });
    await expect(p.get(AbortSignal.abort())).rejects.toThrow();
  });
});

describe('staticCredentialsProvider', () => {
  it('returns a frozen copy (later mutation of the input changes nothing)', async () => {
    const input = { accessKeyId: 'id', accessKeySecret: SECRET };
    const p = staticCredentialsProvider(input);
    input.accessKeySecret = 'changed';
    const c = await p.get();
    expect(c.accessKeySecret).toBe(SECRET);
    expect(Object.isFrozen(c)).toBe(true);
    expect(p.name).toBe('static');
  });

  it('rejects empty keys without echoing them', () => {
    const e = thrown(() => staticCredentialsProvider({ accessKeyId: '', accessKeySecret: SECRET }));
    expect((e as FatalError).code).toBe('MissingCredentials');
    expect((e as FatalError).message).not.toContain(SECRET);
  });
});

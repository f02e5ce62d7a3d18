/** STS endpoint resolution and the scrubbing of server messages before they reach an error. */
import { describe, expect, it } from 'vitest';
import { stsEndpoint } from '../../src/credentials/index.js';
import { safeServerMessage } from '../../src/credentials/sts.js';
import { FatalError } from '../../src/errors.js';

describe('stsEndpoint', () => {
  it.each([
    [{}, undefined, 'https://sts.aliyuncs.com/'],
    [{ ALIBABA_CLOUD_STS_REGION: 'cn-shanghai' }, undefined, 'https://sts.cn-shanghai.aliyuncs.com/'],
    [
      { ALIBABA_CLOUD_STS_REGION: 'cn-shanghai', ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED: 'true' },
      undefined,
      'https://sts-vpc.cn-shanghai.aliyuncs.com/',
    ],
    [
      { ALIBABA_CLOUD_STS_ENDPOINT: 'http://127.0.0.1:9000', ALIBABA_CLOUD_STS_REGION: 'cn-x' },
      undefined,
      'http://127.0.0.1:9000/',
    ],
    [{ ALIBABA_CLOUD_STS_ENDPOINT: 'sts.private.example' }, undefined, 'https://sts.private.example/'],
    [{ ALIBABA_CLOUD_STS_ENDPOINT: 'http://env' }, { endpoint: 'https://explicit' }, 'https://explicit/'],
    [{}, { region: 'eu-central-1' }, 'https://sts.eu-central-1.aliyuncs.com/'],
  ])('%j %j → %s', (env, explicit, href) => {
    expect(stsEndpoint(env, explicit).href).toBe(href);
  });

  it('refuses a region that is not a region id (it goes into a host name), naming the variable only', () => {
    const e = (() => {
      try {
        stsEndpoint({ ALIBABA_CLOUD_STS_REGION: 'evil.com/x' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(FatalError);
    expect((e as Error).message).toBe('ALIBABA_CLOUD_STS_REGION: expected a region id like cn-hangzhou');
    expect(() => stsEndpoint({ ALIBABA_CLOUD_STS_ENDPOINT: 'ftp://x' })).toThrow(
      /must be an http or https URL/,
    );
  });
});

describe('safeServerMessage', () => {
  it('cuts an echoed string-to-sign and removes every secret sent', () => {
    expect(
      safeServerMessage(
        'Specified signature is not matched. server string to sign is:POST&%2F&SecurityToken%3Dtok',
        [],
      ),
    ).toBe('Specified signature is not matched.');
    expect(safeServerMessage('The OIDC token abcd.efgh is invalid.', ['abcd.efgh'])).toBe(
      'The OIDC token [redacted] is invalid.',
    );
    expect(safeServerMessage('x'.repeat(300), [])).toHaveLength(201);
    expect(safeServerMessage(undefined, [])).toBe('');
  });
});

/**
 * STS AssumeRole and AssumeRoleWithOIDC over real HTTP against the fake STS, which verifies the
 * V1 signature with `signV1`: success shape, refresh before expiry with a fake clock, one shared
 * refresh for concurrent gets, keeping valid credentials when a refresh fails, and errors that
 * are classified and carry no secret.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assumeRoleProvider,
  type CredentialsProvider,
  oidcRoleProvider,
  staticCredentialsProvider,
  stsEndpoint,
} from '../../src/credentials/index.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import { fakeClock } from '../helpers/clock.js';
import { refusedUrl } from '../helpers/fake-cloud/server.js';
import { type FakeSts, startFakeSts } from '../helpers/fake-cloud/sts.js';
import { captureLog } from '../helpers/log.js';

const AK = 'LTAI5tExampleCaller';
const SECRET = 'caller-secret-NEVER-LOGGED';
const ROLE = 'acs:ram::1234567890123456:role/classiclink-sync';
const OIDC_ARN = 'acs:ram::1234567890123456:oidc-provider/ack-rrsa';
const OIDC_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.oidc-token-NEVER-LOGGED.sig';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

async function sts(opts: Parameters<typeof startFakeSts>[0]): Promise<FakeSts> {
  const s = await startFakeSts(opts);
  cleanup.push(() => s.close());
  return s;
}

function assume(
  fake: { url: string },
  over: Partial<Parameters<typeof assumeRoleProvider>[0]> = {},
): { provider: CredentialsProvider; log: ReturnType<typeof captureLog> } {
  const log = captureLog();
  const provider = assumeRoleProvider({
    log: log.log,
    source: staticCredentialsProvider({ accessKeyId: AK, accessKeySecret: SECRET }),
    roleArn: ROLE,
    endpoint: stsEndpoint({ ALIBABA_CLOUD_STS_ENDPOINT: fake.url }),
    ...over,
  });
  return { provider, log };
}

describe('STS AssumeRole', () => {
  it('gets role credentials with a V1 signature the fake STS verifies', async () => {
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE] });
    const { provider } = assume(fake, { roleSessionName: 'sync-test', durationSeconds: 1800 });
    const c = await provider.get();
    const issued = fake.issued[0];
    expect(issued).toMatchObject({
      action: 'AssumeRole',
      roleArn: ROLE,
      roleSessionName: 'sync-test',
      callerKeyId: AK,
    });
    expect(issued?.durationSeconds).toBe(1800);
    expect(c).toMatchObject({
      accessKeyId: issued?.AccessKeyId,
      accessKeySecret: issued?.AccessKeySecret,
      securityToken: issued?.SecurityToken,
    });
    expect(c.expiresAt?.toISOString().replace('.000Z', 'Z')).toBe(issued?.Expiration);
    const req = fake.accepted('AssumeRole')[0];
    // Common parameters in the query, operation parameters in the form body (like the SDK).
    expect(req?.query).toMatchObject({
      Version: '2015-04-01',
      SignatureMethod: 'HMAC-SHA1',
      AccessKeyId: AK,
    });
    expect(req?.form).toMatchObject({ RoleArn: ROLE, RoleSessionName: 'sync-test', DurationSeconds: '1800' });
    expect(provider.name).toBe('ram_role_arn');
  });

  it('signs with STS source credentials too, sending their SecurityToken (role chaining)', async () => {
    const fake = await sts({
      keys: { 'STS.source': { secret: SECRET, securityToken: 'src-token-xyz' } },
      roles: [ROLE],
    });
    const { provider } = assume(fake, {
      source: staticCredentialsProvider({
        accessKeyId: 'STS.source',
        accessKeySecret: SECRET,
        securityToken: 'src-token-xyz',
      }),
    });
    await provider.get();
    expect(fake.accepted('AssumeRole')[0]?.query.SecurityToken).toBe('src-token-xyz');
  });

  it('a wrong secret is a fatal SignatureDoesNotMatch that names the role and echoes no secret or token', async () => {
    const fake = await sts({
      keys: { 'STS.source': { secret: 'the-real-secret', securityToken: 'src-token-SECRET' } },
      roles: [ROLE],
    });
    const { provider, log } = assume(fake, {
      source: staticCredentialsProvider({
        accessKeyId: 'STS.source',
        accessKeySecret: SECRET,
        securityToken: 'src-token-SECRET',
      }),
    });
    const err = await provider.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    const e = err as FatalError;
    expect(e.code).toBe('SignatureDoesNotMatch');
    expect(e.message).toContain(ROLE);
    expect(e.requestId).toMatch(/^[0-9A-F-]{36}$/);
    // The fake's Message quotes the string-to-sign, which holds the SecurityToken.
    for (const s of [SECRET, 'src-token-SECRET', 'string to sign']) {
      expect(e.message).not.toContain(s);
      expect(log.text()).not.toContain(s);
    }
  });

  it.each([
    ['an unknown AccessKey', { keys: {}, roles: [ROLE] }, 'InvalidAccessKeyId.NotFound', 404],
    ['a role it may not assume', { keys: { [AK]: { secret: SECRET } }, roles: [] }, 'NoPermission', 403],
  ])('%s is fatal (%s)', async (_what, fakeOpts, code, status) => {
    const fake = await sts(fakeOpts);
    const err = await assume(fake)
      .provider.get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect(err).toMatchObject({ code, httpStatus: status });
    expect((err as Error).message).not.toContain(SECRET);
  });

  it('a DurationSeconds beyond the role maximum is refused by STS (fatal); below 900 is refused before calling', async () => {
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE], maxDurationSeconds: 3600 });
    await expect(assume(fake, { durationSeconds: 7200 }).provider.get()).rejects.toMatchObject({
      code: 'InvalidParameter.DurationSeconds',
      retryable: false,
    });
    expect(() => assume(fake, { durationSeconds: 600 })).toThrow(/durationSeconds must be .* at least 900/);
  });

  it('5xx and throttling are retryable; an unreachable STS is a retryable network error', async () => {
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE] });
    fake.failNext(500, 'InternalError');
    fake.failNext(400, 'Throttling.User');
    const { provider } = assume(fake);
    await expect(provider.get()).rejects.toMatchObject({ code: 'InternalError', retryable: true });
    await expect(provider.get()).rejects.toMatchObject({ code: 'Throttling.User', retryable: true });
    await expect(provider.get()).resolves.toMatchObject({ accessKeyId: 'STS.sts1' });

    const down = assume({ url: await refusedUrl() }).provider;
    const err = await down.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('ECONNREFUSED');
    expect((err as Error).message).toMatch(/^STS AssumeRole \(acs:ram::.*\): /);
  });

  it('refreshes 15 minutes before expiry, not earlier (fake clock)', async () => {
    const clock = fakeClock();
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE], now: clock.now });
    const { provider } = assume(fake, { now: clock.now, durationSeconds: 3600 });
    const first = await provider.get();
    clock.advance(44 * 60_000); // 16 min left
    expect(await provider.get()).toBe(first);
    expect(fake.accepted()).toHaveLength(1);
    clock.advance(2 * 60_000); // 14 min left: stale
    const second = await provider.get();
    expect(fake.accepted()).toHaveLength(2);
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(second.expiresAt?.getTime()).toBe(clock.now().getTime() + 3600_000);
  });

  it('concurrent gets share one refresh', async () => {
    const clock = fakeClock();
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE], now: clock.now });
    const { provider } = assume(fake, { now: clock.now });
    const firsts = await Promise.all(Array.from({ length: 8 }, () => provider.get()));
    expect(fake.accepted()).toHaveLength(1);
    expect(new Set(firsts).size).toBe(1);
    clock.advance(50 * 60_000);
    const seconds = await Promise.all(Array.from({ length: 8 }, () => provider.get()));
    expect(fake.accepted()).toHaveLength(2);
    expect(new Set(seconds.map((c) => c.accessKeyId))).toEqual(new Set(['STS.sts2']));
  });

  it('a failed refresh keeps the still-valid credentials and logs; once expired, the error surfaces', async () => {
    const clock = fakeClock();
    const fake = await sts({ keys: { [AK]: { secret: SECRET } }, roles: [ROLE], now: clock.now });
    const { provider, log } = assume(fake, { now: clock.now });
    const first = await provider.get();
    clock.advance(50 * 60_000); // stale, 10 min left
    fake.failNext(503, 'ServiceUnavailable', 10);
    expect(await provider.get()).toBe(first);
    expect(log.text()).toContain('credentials refresh failed; using the cached credentials');
    expect(log.text()).toContain('ServiceUnavailable');
    // Within the failure backoff the cached credentials are served without calling STS again.
    const calls = fake.requests.length;
    expect(await provider.get()).toBe(first);
    expect(fake.requests.length).toBe(calls);
    clock.advance(11 * 60_000); // expired
    await expect(provider.get()).rejects.toMatchObject({ code: 'ServiceUnavailable', retryable: true });
    for (const s of [SECRET, first.accessKeySecret, first.securityToken ?? 'x'])
      expect(log.text()).not.toContain(s);
  });
});

describe('STS AssumeRoleWithOIDC', () => {
  async function tokenFile(content: string): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'oidc-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'token');
    await writeFile(file, content);
    return file;
  }

  function oidc(
    fake: { url: string },
    file: string,
    over: Partial<Parameters<typeof oidcRoleProvider>[0]> = {},
  ) {
    const log = captureLog();
    return {
      log,
      provider: oidcRoleProvider({
        log: log.log,
        roleArn: ROLE,
        oidcProviderArn: OIDC_ARN,
        oidcTokenFile: file,
        roleSessionName: 'rrsa-test',
        endpoint: stsEndpoint({ ALIBABA_CLOUD_STS_ENDPOINT: fake.url }),
        ...over,
      }),
    };
  }

  it('exchanges the token file content for role credentials, unsigned', async () => {
    const fake = await sts({ roles: [ROLE], oidc: { providerArn: OIDC_ARN, token: OIDC_TOKEN } });
    const { provider } = oidc(fake, await tokenFile(`${OIDC_TOKEN}\n`));
    const c = await provider.get();
    expect(c.accessKeyId).toBe(fake.issued[0]?.AccessKeyId);
    const req = fake.accepted('AssumeRoleWithOIDC')[0];
    expect(req?.query.Signature).toBeUndefined();
    expect(req?.form).toMatchObject({
      OIDCProviderArn: OIDC_ARN,
      OIDCToken: OIDC_TOKEN,
      RoleSessionName: 'rrsa-test',
    });
    expect(provider.name).toBe('oidc_role_arn');
  });

  it('re-reads the token file at every refresh (the token rotates in place)', async () => {
    const clock = fakeClock();
    const fake = await sts({
      roles: [ROLE],
      oidc: { providerArn: OIDC_ARN, token: 'token-one' },
      now: clock.now,
    });
    const file = await tokenFile('token-one');
    const { provider } = oidc(fake, file, { now: clock.now });
    await provider.get();
    await writeFile(file, 'token-two');
    clock.advance(50 * 60_000);
    await provider.get(); // refresh fails (fake wants token-one) but cached creds are still valid
    expect(fake.requests.at(-1)?.form.OIDCToken).toBe('token-two');
  });

  it('a rejected token is fatal and the token is not repeated; a missing file is fatal naming the path', async () => {
    const fake = await sts({ roles: [ROLE], oidc: { providerArn: OIDC_ARN, token: 'the-good-one' } });
    const { provider, log } = oidc(fake, await tokenFile(OIDC_TOKEN));
    const err = await provider.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect((err as FatalError).code).toBe('AuthenticationFail.OIDCToken.Invalid');
    expect((err as Error).message).not.toContain(OIDC_TOKEN);
    expect(log.text()).not.toContain(OIDC_TOKEN);

    const missing = oidc(fake, '/nonexistent/dir/token').provider;
    await expect(missing.get()).rejects.toMatchObject({
      code: 'OidcTokenFileUnreadable',
      message: expect.stringContaining('/nonexistent/dir/token (ENOENT)'),
    });
  });
});

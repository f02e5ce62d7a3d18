/**
 * The ECS RAM role provider over real HTTP against the fake metadata service: IMDSv2 (token PUT
 * then GET with the token), role discovery, the IMDSv1 fallback and its disable switch, refresh
 * before expiry with a fake clock, one shared refresh, and classified, secret-free errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ecsRamRoleFromEnv, ecsRamRoleProvider, metadataEndpoint } from '../../src/credentials/index.js';
import { FatalError, RetryableError } from '../../src/errors.js';
import { fakeClock } from '../helpers/clock.js';
import { type FakeMetadata, startFakeMetadata } from '../helpers/fake-cloud/metadata.js';
import { refusedUrl } from '../helpers/fake-cloud/server.js';
import { captureLog } from '../helpers/log.js';

const ROLE = 'ClassicLinkSyncRole';

const fakes: FakeMetadata[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function metadata(opts: Parameters<typeof startFakeMetadata>[0]): Promise<FakeMetadata> {
  const f = await startFakeMetadata(opts);
  fakes.push(f);
  return f;
}

function provider(url: string, over: Partial<Parameters<typeof ecsRamRoleProvider>[0]> = {}) {
  const log = captureLog();
  return { log, provider: ecsRamRoleProvider({ log: log.log, endpoint: new URL(url), ...over }) };
}

describe('ECS RAM role (metadata service)', () => {
  it('IMDSv2: PUTs for a token with the 6 h TTL header, then GETs the role credentials with it', async () => {
    const fake = await metadata({ role: ROLE, imdsV2: 'required' });
    const { provider: p } = provider(fake.url, { roleName: ROLE });
    const c = await p.get();
    const issued = fake.issued[0];
    expect(c).toMatchObject({
      accessKeyId: issued?.AccessKeyId,
      accessKeySecret: issued?.AccessKeySecret,
      securityToken: issued?.SecurityToken,
    });
    const [put, get] = fake.requests;
    expect(put).toMatchObject({ method: 'PUT', path: '/latest/api/token' });
    expect(put?.headers['x-aliyun-ecs-metadata-token-ttl-seconds']).toBe('21600');
    expect(get).toMatchObject({ method: 'GET', path: `/latest/meta-data/ram/security-credentials/${ROLE}` });
    expect(fake.tokens.has(String(get?.headers['x-aliyun-ecs-metadata-token']))).toBe(true);
    expect(p.name).toBe('ecs_ram_role');
  });

  it('discovers the attached role when none is named', async () => {
    const fake = await metadata({ role: ROLE });
    const { provider: p } = provider(fake.url);
    await p.get();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'PUT /latest/api/token',
      'GET /latest/meta-data/ram/security-credentials/',
      `GET /latest/meta-data/ram/security-credentials/${ROLE}`,
    ]);
  });

  it('falls back to IMDSv1 (no token header) when the service does not support IMDSv2', async () => {
    const fake = await metadata({ role: ROLE, imdsV2: 'unsupported' });
    const { provider: p } = provider(fake.url, { roleName: ROLE });
    await expect(p.get()).resolves.toMatchObject({ accessKeyId: 'STS.ecs1' });
    const get = fake.credentialRequests()[0];
    expect(get?.headers['x-aliyun-ecs-metadata-token']).toBeUndefined();
  });

  it('with IMDSv1 disabled (ALIBABA_CLOUD_IMDSV1_DISABLED=true) a missing IMDSv2 is a fatal error and no v1 GET is sent', async () => {
    const fake = await metadata({ role: ROLE, imdsV2: 'unsupported' });
    const log = captureLog();
    const p = ecsRamRoleFromEnv(
      {
        env: { ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: fake.url, ALIBABA_CLOUD_IMDSV1_DISABLED: 'true' },
        homeDir: '/nonexistent',
        log: log.log,
      },
      ROLE,
    );
    const err = await p.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FatalError);
    expect((err as FatalError).code).toBe('EcsMetadataTokenFailed');
    expect((err as Error).message).toContain('ALIBABA_CLOUD_IMDSV1_DISABLED');
    expect(fake.credentialRequests()).toHaveLength(0);
  });

  it('a role that is not attached is fatal EcsRamRoleNotFound; 5xx is retryable; nothing listening is retryable', async () => {
    const fake = await metadata({ role: ROLE });
    await expect(provider(fake.url, { roleName: 'OtherRole' }).provider.get()).rejects.toMatchObject({
      code: 'EcsRamRoleNotFound',
      retryable: false,
      message: expect.stringContaining('OtherRole'),
    });
    const none = await metadata({});
    await expect(provider(none.url).provider.get()).rejects.toMatchObject({ code: 'EcsRamRoleNotFound' });

    fake.failNext(500, 2); // the token PUT falls back to v1; the GET then fails
    const err = await provider(fake.url, { roleName: ROLE })
      .provider.get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).httpStatus).toBe(500);

    const down = await provider(await refusedUrl(), { roleName: ROLE })
      .provider.get()
      .catch((e: unknown) => e);
    expect(down).toBeInstanceOf(RetryableError);
    expect((down as RetryableError).code).toBe('ECONNREFUSED');
  });

  it('refreshes 15 minutes before expiry (fake clock), and concurrent gets share the refresh', async () => {
    const clock = fakeClock();
    const fake = await metadata({ role: ROLE, now: clock.now, lifetimeMs: 6 * 3600_000 });
    const { provider: p } = provider(fake.url, { roleName: ROLE, now: clock.now });
    const [a, b, c] = await Promise.all([p.get(), p.get(), p.get()]);
    expect(fake.credentialRequests()).toHaveLength(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
    clock.advance(6 * 3600_000 - 16 * 60_000);
    expect(await p.get()).toBe(a);
    expect(fake.credentialRequests()).toHaveLength(1);
    clock.advance(2 * 60_000);
    const refreshed = await Promise.all(Array.from({ length: 5 }, () => p.get()));
    expect(fake.credentialRequests()).toHaveLength(2);
    expect(new Set(refreshed.map((x) => x.accessKeyId))).toEqual(new Set(['STS.ecs2']));
  });

  it('a failed refresh keeps the cached credentials while valid and logs without secrets', async () => {
    const clock = fakeClock();
    const fake = await metadata({ role: ROLE, now: clock.now });
    const { provider: p, log } = provider(fake.url, { roleName: ROLE, now: clock.now });
    const first = await p.get();
    clock.advance(6 * 3600_000 - 5 * 60_000);
    fake.failNext(503, 10);
    expect(await p.get()).toBe(first);
    expect(log.text()).toContain('credentials refresh failed');
    expect(log.text()).not.toContain(first.accessKeySecret);
    expect(log.text()).not.toContain(first.securityToken);
  });

  it('ALIBABA_CLOUD_ECS_METADATA_ENDPOINT accepts a bare host; a bad one is a fatal configuration error', () => {
    expect(metadataEndpoint({}).href).toBe('http://100.100.100.200/');
    expect(metadataEndpoint({ ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: '10.0.0.5:8080' }).href).toBe(
      'http://10.0.0.5:8080/',
    );
    expect(() => metadataEndpoint({ ALIBABA_CLOUD_ECS_METADATA_ENDPOINT: 'ftp://x' })).toThrow(FatalError);
  });
});

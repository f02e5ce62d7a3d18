/**
 * Redis over TLS, as the README documents it: `REDIS_URL=rediss://…` and a private CA in
 * `NODE_EXTRA_CA_CERTS`. A second redis-server of the machine's own package listens with TLS only,
 * on a certificate signed by a CA made here with openssl; `sync --once` runs against it as a child
 * process. Without the CA, the certificate is refused: one line, exit 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, runCli } from '../helpers/child.js';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { freePort, has, makeCertificates } from '../helpers/tls.js';

// The machine's packages (redis-server, openssl) are what this test runs; without them (a laptop
// that runs Redis in Docker) it is skipped, never faked.
const available = has('redis-server', ['--version']) && has('openssl', ['version']);

let dir = '';
let port = 0;
let stopRedis: (() => void) | undefined;
let pl: Pipeline;

beforeAll(async () => {
  if (!available) return;
  dir = mkdtempSync(join(tmpdir(), 'classiclink-tls-'));
  const certs = makeCertificates(dir);

  port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1']
      .concat(['--tls-cert-file', certs.cert, '--tls-key-file', certs.key])
      .concat(['--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no'])
      .concat(['--save', '', '--appendonly', 'no', '--dir', dir]),
    { stdio: 'ignore' },
  );
  stopRedis = () => redis.kill('SIGKILL');
  // Ready when a TLS client that trusts the CA gets PONG (the server takes a moment to listen).
  const ca = readFileSync(certs.ca);
  for (let attempt = 1; ; attempt++) {
    const probe = new Redis(port, '127.0.0.1', {
      tls: { ca },
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    probe.on('error', () => {});
    try {
      await probe.connect();
      expect(await probe.ping()).toBe('PONG');
      break;
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      probe.disconnect();
    }
  }

  pl = await startPipeline({
    workers: false,
    sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
  });
}, 60_000);

afterAll(async () => {
  await killChildren();
  await pl?.close();
  stopRedis?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!available)('Redis over TLS (rediss://)', () => {
  it('sync --once runs its queues over TLS when the CA is trusted through NODE_EXTRA_CA_CERTS', async () => {
    const r = await runCli(['sync', '--once', '--json'], {
      ...pl.childEnv,
      REDIS_URL: `rediss://127.0.0.1:${port}`,
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; targets: { status: string }[] };
    expect(body.ok).toBe(true);
    expect(body.targets.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    const { rows } = await pl.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM classic_links WHERE removed_at IS NULL',
    );
    expect(rows[0]?.n).toBe(6);
  }, 60_000);

  it('an untrusted certificate stops the command with one line naming Redis, exit 1', async () => {
    const r = await runCli(['sync', '--once'], { ...pl.childEnv, REDIS_URL: `rediss://127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot reach Redis at 127\.0\.0\.1:\d+ \(.*certificate/i);
    expect(lines[0]).toContain('NODE_EXTRA_CA_CERTS');
  }, 60_000);
});

/**
 * Redis over TLS, as the README documents it: `REDIS_URL=rediss://…` and a private CA in
 * `NODE_EXTRA_CA_CERTS`. A second redis-server of the machine's own package listens with TLS only,
 * on a certificate signed by a CA made here with openssl; `sync --once` runs against it as a child
 * process. Without the CA, the certificate is refused: one line, exit 1. The same for a Redis
 * Cluster whose nodes speak TLS only (`REDIS_CLUSTER_NODES=rediss://…`).
 */
import { describe, expect, it } from 'vitest';
import { expectOneLine, runCli } from '../helpers/child.js';
import { useFilePipeline } from '../helpers/pipeline.js';
import { clusterAvailable, startRedisCluster } from '../helpers/redis-cluster.js';
import { count } from '../helpers/rows.js';
import { ownRedisAvailable, startOwnRedis, useOwnServer } from '../helpers/servers.js';
import { has, useCertificates } from '../helpers/tls.js';

// The machine's packages (redis-server, openssl) are what this test runs; without them (a laptop
// that runs Redis in Docker) it is skipped, never faked.
const available = ownRedisAvailable() && has('openssl', ['version']);

const pl = useFilePipeline({
  workers: false,
  sim: { regions: ['cn-hangzhou'], vpcsPerRegion: 2, linksPerVpc: 3 },
});
const certs = useCertificates(available);
const redis = useOwnServer(available, () => startOwnRedis({ tls: certs() }));
const cluster = useOwnServer(available && clusterAvailable(), () =>
  startRedisCluster({ tls: certs(), replicas: 0 }),
);

describe.skipIf(!available)('Redis over TLS (rediss://)', () => {
  it('sync --once runs its queues over TLS when the CA is trusted through NODE_EXTRA_CA_CERTS', async () => {
    const r = await runCli(['sync', '--once', '--json'], {
      ...pl.childEnv,
      REDIS_URL: redis().url,
      QUEUE_BACKEND: 'redis',
      NODE_EXTRA_CA_CERTS: certs().ca,
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; targets: { status: string }[] };
    expect(body.ok).toBe(true);
    expect(body.targets.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    expect(
      await count(pl.db.pool, 'SELECT count(*)::int AS n FROM classic_links WHERE removed_at IS NULL'),
    ).toBe(6);
  }, 60_000);

  it('an untrusted certificate stops the command with one line naming Redis, exit 1', async () => {
    const r = await runCli(['sync', '--once'], {
      ...pl.childEnv,
      REDIS_URL: redis().url,
      QUEUE_BACKEND: 'redis',
    });
    expect(r.code).toBe(1);
    const line = expectOneLine(r);
    expect(line).toMatch(/cannot reach Redis at 127\.0\.0\.1:\d+ \(.*certificate/i);
    expect(line).toContain('NODE_EXTRA_CA_CERTS');
  }, 60_000);
});

describe.skipIf(!available || !clusterAvailable())('Redis Cluster over TLS (rediss:// seeds)', () => {
  it('sync --once runs its queues on the TLS cluster when the CA is trusted through NODE_EXTRA_CA_CERTS', async () => {
    const r = await runCli(['sync', '--once', '--json'], {
      ...pl.childEnv,
      REDIS_CLUSTER_NODES: cluster().nodesEnv,
      NODE_EXTRA_CA_CERTS: certs().ca,
    });
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; targets: { status: string }[] };
    expect(body.targets.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    expect(r.stdout + r.stderr).not.toContain(cluster().password);
  }, 60_000);

  it('an untrusted certificate stops the command with one line naming the Redis Cluster, exit 1', async () => {
    const r = await runCli(['sync', '--once'], { ...pl.childEnv, REDIS_CLUSTER_NODES: cluster().nodesEnv });
    expect(r.code).toBe(1);
    const line = expectOneLine(r);
    expect(line).toMatch(/cannot reach Redis Cluster at 127\.0\.0\.1:\d+ \(.*certificate/i);
    expect(line).toContain('NODE_EXTRA_CA_CERTS');
    expect(line).not.toContain(cluster().password);
  }, 60_000);
});

/**
 * Shutdown leaves nothing behind: after the lifecycle closes every part `start` opens (pools,
 * Redis connections, queues, workers, scheduler, HTTP server, alert loop, ECS pools), the process
 * holds no more sockets or timers than before it started.
 */
import { describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { loadConfig } from '../../src/config.js';
import { staticCredentialsProvider } from '../../src/credentials/index.js';
import { createHttpServer } from '../../src/http/server.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import {
  openAccount,
  openDatabase,
  openMessaging,
  readinessProbes,
  startScheduler,
  startWorkers,
} from '../../src/service.js';
import { startSimulator } from '../../src/simulator/index.js';
import { createTestDb } from '../helpers/db.js';
import { prepareQueues, queueEnv } from '../helpers/queue-backend.js';

/** Sockets and timers the process holds (what keeps Node's event loop alive). */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout') counts[r] = (counts[r] ?? 0) + 1;
  }
  return counts;
}

describe('close()', () => {
  it('releases every socket and timer the service opened', async () => {
    const before = handles();
    const sim = await startSimulator({ port: 0, seed: 3, regions: ['cn-hangzhou'], vpcsPerRegion: 2 });
    const db = await createTestDb();
    const key = sim.keys[0] ?? { accessKeyId: '', accessKeySecret: '' };
    const config = loadConfig({
      DATABASE_URL: db.url,
      QUEUE_PREFIX: `close-${Date.now()}`,
      ECS_ENDPOINT: sim.url,
      VPC_ENDPOINT: sim.url,
      SYNC_REGIONS: 'cn-hangzhou',
      SYNC_INTERVAL: '1s',
      HTTP_PORT: '0',
      ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      ...queueEnv(),
    });
    await prepareQueues(config);
    const log = createLogger({ level: 'silent' });

    const lifecycle = new Lifecycle();
    const database = openDatabase(config, log, lifecycle);
    const msg = openMessaging(config, log, lifecycle);
    lifecycle.add('obliterate', () => msg.queues.obliterate());
    const metrics = createMetrics({ log, processMetrics: false });
    const server = createHttpServer({
      host: '127.0.0.1',
      port: 0,
      log,
      metrics,
      ready: readinessProbes(database, msg),
      store: database.store,
      account: config.SYNC_ACCOUNT,
      queues: [msg.queues.plan, msg.queues.sync],
      staleAfterMs: config.ALERT_STALE_AFTER,
    });
    lifecycle.add('http', () => server.close());
    const { url } = await server.listen();
    const account = openAccount(
      config,
      { name: 'default', regions: ['cn-hangzhou'] },
      { credentials: staticCredentialsProvider(key), backend: msg.backend, log },
      lifecycle,
    );
    await startWorkers(config, { ...database, ...msg, accounts: [account], log }, lifecycle).ready();
    await startScheduler(config, { queues: msg.queues, accounts: [account], log }, lifecycle);
    const dispatcher = createAlertDispatcher({ store: database.store, channels: config, log });
    lifecycle.add('alerts', () => dispatcher.close());
    const loop = dispatcher.run(lifecycle.signal);
    lifecycle.add('alert loop', () => loop.catch(() => {}));

    // Let it do real work first: a scheduled round lands, the HTTP server answers.
    await expect
      .poll(async () => (await database.store.listTargets()).filter((t) => t.lastSuccessAt).length, {
        timeout: 20_000,
      })
      .toBe(2);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await lifecycle.close();
    await lifecycle.close(); // idempotent
    await sim.close();
    await db.drop();
    expect(database.pool.totalCount).toBe(0);
    // Sockets close asynchronously after their 'end': wait for the count, never for time.
    await expect.poll(() => handles(), { timeout: 5_000 }).toEqual(before);
  });
});

/**
 * What an alert receiver can do to the sender: a redirect (to another host) is not followed — the
 * delivery fails and is retried, and the other host hears nothing; an endless answer is read only
 * up to the cap and the connection dropped; alert URLs that are not http(s) are refused at start
 * (config.ts, test/unit/config.parse.test.ts).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { testDispatcher } from '../helpers/receivers.js';
import { changedRun } from '../helpers/store.js';

const db = useTestDb({ each: 'test', checkLeaks: true });
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('alert receivers cannot lead the sender astray', () => {
  it('a redirect to another host is not followed: the delivery fails and is retried later', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const elsewhere: string[] = [];
    const other = await serve((req, res) => {
      elsewhere.push(req.url ?? '');
      res.end('ok');
    });
    const url = await serve((_req, res) => {
      res.writeHead(307, { location: `${other}/stolen` }).end();
    });
    await changedRun(store, ['webhook']);
    const dispatcher = testDispatcher(
      store,
      { ALERT_WEBHOOK_URL: `${url}/hook` },
      {
        backoff: { baseMs: 60_000, capMs: 60_000 },
      },
    );
    try {
      expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    } finally {
      await dispatcher.close();
    }
    expect(elsewhere).toEqual([]);
    const { rows } = await pool.query<{ status: string; last_error: string }>(
      'SELECT status, last_error FROM alert_outbox',
    );
    expect(rows).toEqual([{ status: 'pending', last_error: expect.stringMatching(/307/) }]);
  });

  it('an endless answer is read up to the cap, then the connection is dropped', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    let written = 0;
    let closed!: () => void;
    const dropped = new Promise<void>((r) => {
      closed = r;
    });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      const pump = () => {
        while (!res.destroyed && written < 512 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', closed);
      pump();
    });
    await changedRun(store, ['webhook']);
    const dispatcher = testDispatcher(
      store,
      { ALERT_WEBHOOK_URL: `${url}/hook` },
      {
        maxAnswerBytes: 4_096,
        backoff: { baseMs: 60_000, capMs: 60_000 },
      },
    );
    try {
      expect(await dispatcher.deliverDue()).toEqual({ delivered: 0, failed: 1, dead: 0 });
    } finally {
      await dispatcher.close();
    }
    await dropped;
    // Far less than the 512 MiB the receiver would have sent: the sender hung up.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    const { rows } = await pool.query<{ last_error: string }>('SELECT last_error FROM alert_outbox');
    expect((rows[0]?.last_error ?? '').length).toBeLessThan(2_000);
  });
});

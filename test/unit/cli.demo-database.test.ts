/**
 * Where the demo's database runs: `--embedded` forces an embedded Postgres; otherwise a set
 * DATABASE_URL is used as before; otherwise the local server when something answers at its port,
 * and an embedded one when nothing does. The "local server" here is a port of the test's own (a
 * listening socket, or one closed again), never the machine's 5432.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseDemoDatabase } from '../../src/cli/demo.js';

const servers: Server[] = [];

/** A port where something listens (until the test ends). */
async function listening(): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A port where nothing listens (one that was free a moment ago). */
async function silent(): Promise<number> {
  const port = await listening();
  const server = servers.pop();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  return port;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

describe('the demo database', () => {
  it('--embedded: embedded, whatever the environment and the local server', async () => {
    const local = { host: '127.0.0.1', port: await listening() };
    expect(
      await chooseDemoDatabase({ DATABASE_URL: 'postgres://x@db:5432/y' }, { embedded: true }, local),
    ).toEqual({ kind: 'embedded', why: '--embedded' });
  });

  it('DATABASE_URL set: its server, even when nothing answers locally', async () => {
    const local = { host: '127.0.0.1', port: await silent() };
    expect(
      await chooseDemoDatabase({ DATABASE_URL: 'postgres://x@db:5432/y' }, { embedded: false }, local),
    ).toEqual({ kind: 'server' });
  });

  it('no DATABASE_URL, something answers locally: the local server', async () => {
    const local = { host: '127.0.0.1', port: await listening() };
    expect(await chooseDemoDatabase({}, { embedded: false }, local)).toEqual({ kind: 'server' });
    expect(await chooseDemoDatabase({ DATABASE_URL: '' }, { embedded: false }, local)).toEqual({
      kind: 'server',
    });
  });

  it('no DATABASE_URL, nothing answers locally: embedded, saying why', async () => {
    const port = await silent();
    expect(await chooseDemoDatabase({}, { embedded: false }, { host: '127.0.0.1', port })).toEqual({
      kind: 'embedded',
      why: `DATABASE_URL is not set and no Postgres answers at 127.0.0.1:${port}`,
    });
  });
});

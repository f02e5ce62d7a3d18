/**
 * A tiny API server for client edge cases: real node:http on a loopback port 0, answering each
 * request with a handler the test writes, and recording every request (method, URL, headers,
 * body) so the test asserts on the wire itself. Close it in cleanup (`closeApiServers`).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the server received it. */
export interface Seen {
  method: string;
  /** The request URL (path and query), on a dummy origin. */
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Answers one request; `index` counts from 0 over the server's requests. */
export type Handler = (req: Seen, res: http.ServerResponse, index: number) => void;

export interface TestServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  seen: Seen[];
  connections: number;
  openSockets: Set<Socket>;
  /** Destroys open sockets and stops listening; idempotent. */
  close(): Promise<void>;
}

const open: TestServer[] = [];

/** Closes every server started since the last call (for `afterEach`). */
export async function closeApiServers(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const openSockets = new Set<Socket>();
  let closing: Promise<void> | undefined;
  const state: TestServer = {
    url: '',
    seen: [],
    connections: 0,
    openSockets,
    // Idempotent: a test may close a server early (a refused port) and cleanup close it again.
    close: () => {
      closing ??= (async () => {
        for (const s of openSockets) s.destroy();
        server.close();
        await once(server, 'close');
      })();
      return closing;
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: new URL(req.url ?? '/', 'http://x'),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      state.seen.push(seen);
      handler(seen, res, state.seen.length - 1);
    });
  });
  server.on('connection', (s: Socket) => {
    state.connections++;
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  open.push(state);
  return state;
}

/** Answers JSON. */
export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

/** Answers text as is. */
export function raw(res: http.ServerResponse, status: number, text: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(text);
}

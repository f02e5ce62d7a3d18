/**
 * The bearer token: when HTTP_TOKEN is set, every route but `/healthz` needs it (config.ts insists
 * on one when HTTP_HOST is not loopback), 404s included, checked before routing matters. A browser
 * cannot send a bearer token, so the token is also accepted as the password of a Basic login (any
 * user name), and a 401 offers both: the browser asks once, then sends it with the console's and
 * the dashboard's own requests. Every route is read-only (GET), and no answer allows another
 * origin to read it, so a login the browser sends by itself gives another site nothing. The token
 * is compared in constant time (SHA-256 digests of both sides, so the lengths are always equal)
 * and is never logged or echoed. The EventBridge hook is exempt: it checks HOOK_TOKEN, the one
 * EventBridge sends (http/hooks.ts), with the same two checks below.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where the BullMQ dashboard lives. */
export const ADMIN_PATH = '/admin/queues';
const REALM = 'classiclink-sync';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The token presented: `Bearer <token>`, or Basic with it as the password, any user (browsers; an
 * EventBridge Basic-auth connection).
 */
export function presentedToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const bearer = /^Bearer +([^\s]+) *$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!basic?.[1]) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** `token` as a constant-time check of what a request presents (SHA-256 digests: equal lengths). */
export function constantTimeCheck(token: string): (presented: string | undefined) => boolean {
  const expected = digest(token);
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), expected);
}

/**
 * An `onRequest` hook that answers 401 unless the request carries `token`. `exempt` paths check a
 * token of their own (the EventBridge hook: HOOK_TOKEN, which is all EventBridge sends).
 */
export function tokenCheck(token: string, exempt: readonly string[] = []) {
  const check = constantTimeCheck(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?', 1)[0] ?? '';
    if (path === '/healthz' || exempt.includes(path)) return;
    const presented = presentedToken(req.headers.authorization);
    if (check(presented)) return;
    const bearer =
      presented === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
    reply.header('www-authenticate', [bearer, `Basic realm="${REALM}"`]);
    return reply.code(401).send({
      error: 'unauthorized',
      message: presented === undefined ? 'a bearer token is required' : 'the token is not valid',
    });
  };
}

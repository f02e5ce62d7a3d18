/**
 * The bearer token: when HTTP_TOKEN is set, every route but `/healthz` needs it (config.ts insists
 * on one when HTTP_HOST is not loopback), 404s included, checked before routing matters. It is
 * compared in constant time (SHA-256 digests of both sides, so the lengths are always equal) and
 * is never logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Where the BullMQ dashboard lives (the one place Basic is accepted too). */
export const ADMIN_PATH = '/admin/queues';
const REALM = 'classiclink-sync';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The token presented: `Bearer <token>`, or (where allowed: the dashboard, for browsers; the
 * EventBridge hook, for a Basic-auth connection) Basic with it as the password, any user.
 */
export function presentedToken(header: string | undefined, allowBasic: boolean): string | undefined {
  if (header === undefined) return undefined;
  const bearer = /^Bearer +([^\s]+) *$/i.exec(header);
  if (bearer) return bearer[1];
  if (!allowBasic) return undefined;
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

function isAdminPath(url: string): boolean {
  return url === ADMIN_PATH || url.startsWith(`${ADMIN_PATH}/`);
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
    const admin = isAdminPath(path);
    const presented = presentedToken(req.headers.authorization, admin);
    if (check(presented)) return;
    const bearer =
      presented === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"`;
    // Browsers cannot send a bearer token to the dashboard: offer Basic (any user, the token as
    // password) there too, so the browser asks once and sends it with the dashboard's own requests.
    reply.header('www-authenticate', admin ? [bearer, `Basic realm="${REALM}"`] : bearer);
    return reply.code(401).send({
      error: 'unauthorized',
      message: presented === undefined ? 'a bearer token is required' : 'the token is not valid',
    });
  };
}

/**
 * Reaching a server we depend on (Postgres, Redis) before a command starts work: when a connect
 * fails, one line says why, names the host and port of the URL in use (never the URL: it may hold
 * a password), and says what to do. The store's Postgres check and the Redis check share it.
 */
import { ConfigError } from './config.js';

/** A dependency is unreachable or refuses us: the message is the one line to print. */
export class UnreachableError extends ConfigError {}

/** How long a check waits for a server to answer. */
export const CONNECT_TIMEOUT_MS = 5_000;

const TLS_HINT =
  'its TLS certificate is not trusted: give the CA that signed it in NODE_EXTRA_CA_CERTS=/path/to/ca.pem (for Postgres also sslrootcert= in DATABASE_URL)';

export function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
}

export function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return messageOf(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}

/** Node codes of a connect that found nobody (AggregateError: one per address of `localhost`). */
function networkCode(err: unknown): string | undefined {
  const code = codeOf(err);
  if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET)$/.test(code)) {
    return code;
  }
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const c = networkCode(e);
      if (c !== undefined) return c;
    }
  }
  return undefined;
}

/** A TLS handshake refused the server's certificate (Node's codes, or the message of one). */
function isCertificateError(err: unknown): boolean {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(codeOf(err)) || /certificate/i.test(messageOf(err));
}

/** `host:port` of a URL, with the default port when it names none. */
export function hostPort(url: string, defaultPort: number): string {
  try {
    const u = new URL(url);
    // A Postgres URL may name a Unix socket directory in ?host= instead of a host.
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    return `${host}:${u.port || defaultPort}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Why a connect failed, as the end of one line: unreachable (refused, unknown host, no answer),
 * an untrusted certificate, or undefined for anything else the server or the driver said.
 */
export function describeUnreachable(
  what: string,
  variable: string,
  where: string,
  err: unknown,
): string | undefined {
  const why = messageOf(err);
  if (isCertificateError(err)) return `cannot reach ${what} at ${where} (${why}); ${TLS_HINT}`;
  switch (networkCode(err)) {
    case 'ECONNREFUSED':
      return `cannot reach ${what} at ${where}: connection refused (nothing listens there); start ${what} on ${where}, or point ${variable} at the server`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${what} at ${where}: the host name does not resolve (${why}); check the host in ${variable}`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${what} at ${where}: no answer (${why}); check the host and port in ${variable}, and any firewall between`;
    case 'ECONNRESET':
      return `cannot reach ${what} at ${where}: the connection was closed (${why}); is ${where} a ${what} server, and does it want TLS?`;
    default:
      if (/timeout|timed out/i.test(why)) {
        return `cannot reach ${what} at ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000}s; check the host and port in ${variable}, and any firewall between`;
      }
      return undefined;
  }
}

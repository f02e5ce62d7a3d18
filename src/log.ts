/**
 * The root pino logger. Redaction removes every secret by path, and `scrubUrl` strips passwords
 * and tokens from URLs before they are logged, so no secret reaches a log line.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Field paths that may hold a secret anywhere in a logged object. */
export const REDACT_PATHS = [
  'accessKeySecret',
  'securityToken',
  'secret',
  'password',
  'token',
  'authorization',
  'headers.authorization',
  'headers["x-acs-security-token"]',
  '*.accessKeySecret',
  '*.securityToken',
  '*.secret',
  '*.password',
  '*.token',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["x-acs-security-token"]',
  'config.ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'config.ALIBABA_CLOUD_SECURITY_TOKEN',
  'config.HTTP_TOKEN',
  'config.DATABASE_URL',
  'config.REDIS_URL',
  'config.ALERT_WEBHOOK_URL',
  'config.ALERT_WEBHOOK_SECRET',
  'config.ALERT_SLACK_WEBHOOK_URL',
  'config.ALERT_DINGTALK_WEBHOOK_URL',
  'config.ALERT_DINGTALK_SECRET',
  'config.ALERT_LARK_WEBHOOK_URL',
  'config.ALERT_LARK_SECRET',
  'config.ALERT_WECOM_WEBHOOK_URL',
];

/** Removes user info and the query string (tokens, keys, signatures) from a URL. */
export function scrubUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    if (u.search) u.search = '?***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

/** What a one-shot command whose output is a report logs when LOG_LEVEL is not set. */
export const REPORT_LOG_LEVEL = 'warn';

/**
 * The log level of a command whose output is a report for a person (`sync --once`): the report
 * says what happened, so the logs say only what went wrong — `REPORT_LOG_LEVEL` — unless LOG_LEVEL
 * is set in the environment, which always wins (`configured` is its parsed value).
 */
export function reportLogLevel(
  env: Readonly<Record<string, string | undefined>>,
  configured: string,
): string {
  const set = env.LOG_LEVEL !== undefined && env.LOG_LEVEL.trim() !== '';
  return set ? configured : REPORT_LOG_LEVEL;
}

export interface LoggerOptions {
  level: string;
  /** Pretty, coloured output for a person at a terminal; JSON otherwise. */
  pretty?: boolean;
  /** Where lines go (tests capture them). Default stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'classiclink-sync' },
  };
  if (opts.destination) return pino(base, opts.destination);
  if (opts.pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,service' } },
    });
  }
  return pino(base);
}

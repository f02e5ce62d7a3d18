/**
 * Loggers for tests: a silent one, the one the in-process service gets (silent unless
 * TEST_LOG_LEVEL asks for its lines), and a capture whose lines a test asserts on (and on the
 * absence of secrets in them).
 */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export const silentLog = createLogger({ level: 'silent' });

/** The logger of a service wired in the test's process: silent, or TEST_LOG_LEVEL. */
export function serviceLog(): Logger {
  return createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export interface CapturedLog {
  log: Logger;
  /** Every line written so far (pino JSON, one line per chunk). */
  lines: string[];
  text(): string;
}

/** A logger at `level` (default debug) whose lines are collected. */
export function captureLog(level = 'debug'): CapturedLog {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines, text: () => lines.join('') };
}

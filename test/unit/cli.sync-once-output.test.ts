/**
 * What a person at a terminal sees of `sync --once`: a progress line redrawn in place (nothing at
 * all when the output is not a terminal), and logs at warn unless LOG_LEVEL is set.
 */
import { describe, expect, it } from 'vitest';
import { createProgress, progressLine, unknownRegions } from '../../src/cli/sync-once.js';
import { REPORT_LOG_LEVEL, reportLogLevel } from '../../src/log.js';

describe('progressLine', () => {
  it('says how many regions are still planning, then how many VPCs are synced and failed', () => {
    expect(progressLine({ planning: 2, done: 0, total: 0, failed: 0 })).toBe('planning 2 region(s)…');
    expect(progressLine({ planning: 0, done: 37, total: 120, failed: 2 })).toBe(
      'synced 37/120 VPCs, 2 failed',
    );
  });
});

describe('createProgress', () => {
  const sink = () => {
    const writes: string[] = [];
    return { writes, out: { write: (s: string) => writes.push(s) } };
  };

  it('on a terminal: redraws one line in place, and erases it before the report', () => {
    const { writes, out } = sink();
    const p = createProgress(out, true);
    p.show({ planning: 1, done: 0, total: 0, failed: 0 });
    p.show({ planning: 0, done: 1, total: 3, failed: 0 });
    p.show({ planning: 0, done: 3, total: 3, failed: 1 });
    p.end();
    expect(writes).toEqual([
      '\r\x1b[2Kplanning 1 region(s)…',
      '\r\x1b[2Ksynced 1/3 VPCs, 0 failed',
      '\r\x1b[2Ksynced 3/3 VPCs, 1 failed',
      '\r\x1b[2K',
    ]);
    // No newline anywhere: the line is reused, never scrolled.
    expect(writes.join('')).not.toContain('\n');
  });

  it('writes log lines above the progress line, which is redrawn below them', () => {
    const { writes, out } = sink();
    const p = createProgress(out, true);
    p.above('before\n');
    p.show({ planning: 0, done: 1, total: 3, failed: 0 });
    p.above('WARN: sync failed\n');
    p.end();
    p.above('after\n');
    expect(writes).toEqual([
      'before\n',
      '\r\x1b[2Ksynced 1/3 VPCs, 0 failed',
      '\r\x1b[2KWARN: sync failed\nsynced 1/3 VPCs, 0 failed',
      '\r\x1b[2K',
      'after\n',
    ]);
  });

  it('disabled (not a terminal, or --json): no progress at all, log lines as they are', () => {
    const { writes, out } = sink();
    const p = createProgress(out, false);
    p.show({ planning: 0, done: 1, total: 1, failed: 0 });
    p.above('WARN: x\n');
    p.end();
    expect(writes).toEqual(['WARN: x\n']);
  });
});

describe('reportLogLevel', () => {
  it('is warn when LOG_LEVEL is not set (or empty)', () => {
    expect(REPORT_LOG_LEVEL).toBe('warn');
    expect(reportLogLevel({}, 'info')).toBe('warn');
    expect(reportLogLevel({ LOG_LEVEL: '' }, 'info')).toBe('warn');
  });

  it('is LOG_LEVEL when it is set, info included', () => {
    expect(reportLogLevel({ LOG_LEVEL: 'info' }, 'info')).toBe('info');
    expect(reportLogLevel({ LOG_LEVEL: 'debug' }, 'debug')).toBe('debug');
    expect(reportLogLevel({ LOG_LEVEL: 'error' }, 'error')).toBe('error');
  });
});

describe('unknownRegions', () => {
  it('names the regions no account syncs, with the configured ones', () => {
    const accounts = [{ regions: ['cn-hangzhou'] }, { regions: ['cn-beijing', 'cn-hangzhou'] }];
    expect(unknownRegions(accounts, [])).toBeUndefined();
    expect(unknownRegions(accounts, ['cn-beijing'])).toBeUndefined();
    expect(unknownRegions(accounts, ['cn-shanghai'])).toBe(
      'region cn-shanghai is not configured (regions: cn-hangzhou, cn-beijing)',
    );
  });
});

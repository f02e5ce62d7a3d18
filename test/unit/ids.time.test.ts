import { describe, expect, it } from 'vitest';
import { parseTimestamp, timestampProblem } from '../../src/ids.js';

describe('parseTimestamp', () => {
  it.each([
    ['2026-12-06T23:28:20Z', '2026-12-06T23:28:20.000Z'],
    ['2026-12-06T23:28:20.5z', '2026-12-06T23:28:20.500Z'],
    // psql's timestamptz output, pasted as is.
    ['2026-12-06 23:28:20+00', '2026-12-06T23:28:20.000Z'],
    ['2026-12-06 23:28:20.123456+00', '2026-12-06T23:28:20.123Z'],
    ['2026-12-07 07:28:20+08', '2026-12-06T23:28:20.000Z'],
    ['2026-12-06 18:58:20-04:30', '2026-12-06T23:28:20.000Z'],
    ['2026-12-07T04:58:20+0530', '2026-12-06T23:28:20.000Z'],
    ['2026-12-06T23:28Z', '2026-12-06T23:28:00.000Z'],
    ['2026-12-06', '2026-12-06T00:00:00.000Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
  ])('%s = %s', (text, iso) => expect(parseTimestamp(text)?.toISOString()).toBe(iso));

  it.each([
    'yesterday',
    '12:00',
    '2026-12-06 23:28:20', // no offset: which zone?
    '2026-12-06T23:28',
    '2026-02-30',
    '2026-13-01',
    '2026-12-06T24:00:00Z',
    '2026-12-06T23:60:00Z',
    '2026-12-06T23:28:20+25',
    '2026-12-06T23:28:20 +00',
  ])('refuses %j', (text) => expect(parseTimestamp(text)).toBeUndefined());

  it('says to add the offset when that is all that is missing', () => {
    expect(timestampProblem('2026-12-06 23:28:20')).toBe(
      'a time needs its UTC offset, e.g. 2026-12-06 23:28:20+00 (UTC) or 2026-12-06 23:28:20+08:00',
    );
    expect(timestampProblem('yesterday')).toMatch(/^expected an ISO-8601 time with its UTC offset/);
  });
});

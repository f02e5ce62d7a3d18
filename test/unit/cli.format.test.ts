/**
 * The text tables of the read commands: whatever a cell holds — a newline, an ANSI escape, a
 * bidi override, a 4 KB name, Chinese or emoji — each row stays one line, no control character
 * reaches the terminal, and the columns line up in the terminal's own columns.
 */
import { describe, expect, it } from 'vitest';
import { clip, displayWidth, escapeText, table } from '../../src/cli/format.js';

/** What a terminal acts on: C0 and C1 controls, DEL, bidi controls, line and paragraph separators. */
const CONTROL = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

describe('escapeText', () => {
  it('shows each control character as a visible escape', () => {
    expect(escapeText('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(escapeText('\u001b[31mred\u001b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(escapeText('\u001b]0;owned\u0007')).toBe('\\x1b]0;owned\\x07');
    expect(escapeText('\u0000\u007f\u009b2J')).toBe('\\x00\\x7f\\x9b2J');
    expect(escapeText('abc\u202edcba\u2066x\u2069\u2028')).toBe('abc\\u202edcba\\u2066x\\u2069\\u2028');
  });

  it('leaves printable text as it is, and is idempotent', () => {
    const printable = `"quotes" 'single' <script>alert(1)</script> 🦄 生产-web-01 café \\n`;
    expect(escapeText(printable)).toBe(printable);
    const hostile = 'x\n\u001b[2J\u202ey';
    expect(escapeText(escapeText(hostile))).toBe(escapeText(hostile));
  });
});

describe('displayWidth and clip', () => {
  it('counts terminal columns: wide for Chinese and emoji, none for combining marks', () => {
    expect(displayWidth('web-01')).toBe(6);
    expect(displayWidth('生产')).toBe(4);
    expect(displayWidth('🦄')).toBe(2);
    expect(displayWidth('👨‍👩‍👧')).toBe(2);
    expect(displayWidth('🇨🇳')).toBe(2);
    expect(displayWidth('cafe\u0301')).toBe(4);
    expect(displayWidth('')).toBe(0);
  });

  it('cuts to the width with an ellipsis, never inside a character', () => {
    expect(clip('short', 10)).toBe('short');
    expect(clip('exactly-10', 10)).toBe('exactly-10');
    expect(clip('a-longer-name', 10)).toBe('a-longer-…');
    expect(displayWidth(clip('生产环境数据库主节点', 9))).toBeLessThanOrEqual(9);
    expect(clip('生产环境数据库主节点', 9)).toBe('生产环境…');
    expect(clip('🦄🦄🦄🦄', 5)).toBe('🦄🦄…');
    expect(clip('👨‍👩‍👧👨‍👩‍👧', 3)).toBe('👨‍👩‍👧…');
    expect(displayWidth(clip('x'.repeat(4096), 40))).toBe(40);
  });
});

describe('table', () => {
  it('keeps one line per row and no control character, whatever the cells hold', () => {
    const rows = [
      ['i-1', 'plain', 'ok'],
      ['i-2', 'evil\nINJECTED  ROW', 'x'],
      ['i-3', '\u001b[2J\u001b]0;title\u0007cleared', 'y'],
      ['i-4', 'rtl\u202eevil', '\r\u001b[1A'],
    ];
    const out = table(['ID', 'NAME', 'LAST'], rows);
    const lines = out.split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(rows.length + 2);
    for (const line of lines) expect(line).not.toMatch(CONTROL);
    expect(out).toContain('evil\\nINJECTED  ROW');
    expect(out).toContain('\\x1b[2J\\x1b]0;title\\x07cleared');
    expect(out).toContain('rtl\\u202eevil');
  });

  it('lines columns up in terminal columns, with wide characters', () => {
    const out = table(
      ['ID', 'NAME', 'LAST'],
      [
        ['i-1', 'web-01', 'a'],
        ['i-2', '生产-db', 'b'],
        ['i-3', '🦄 unicorn', 'c'],
      ],
    );
    const lines = out.trimEnd().split('\n');
    // The last column starts at the same terminal column on every line.
    const starts = lines.map((l) => displayWidth(l.slice(0, l.lastIndexOf(' ') + 1)));
    expect(new Set(starts).size).toBe(1);
  });

  it('shows nothing as `-` and times in UTC to the second', () => {
    expect(table(['A', 'B'], [[null, new Date('2025-01-01T00:00:30.123Z')]])).toBe(
      'A  B\n-  2025-01-01T00:00:30Z\n',
    );
  });
});

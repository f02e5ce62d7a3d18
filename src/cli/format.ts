/**
 * Text output for people: aligned columns, no box drawing, so the output stays greppable and
 * pastes cleanly into tickets. (A few lines of padding; not worth a table library.)
 *
 * Cells carry text from the cloud (instance names, tags, ActionTrail identities) that anyone with
 * console access can set: every string cell is escaped, so a newline cannot forge a row and an
 * escape sequence cannot recolour, retitle or clear the reader's terminal. `--json` is exact.
 */

import { escapeText } from '../safe-text.js';

/** One definition with the alerts' (safe-text.ts); the text faces import it from here. */
export { escapeText };

export type Cell = string | number | boolean | Date | null | undefined;

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** East Asian wide and fullwidth characters, emoji shown as pictures, and flags: two columns. */
const WIDE =
  /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{20000}-\u{2fffd}\u{30000}-\u{3fffd}]|\p{Emoji_Presentation}|\p{Extended_Pictographic}\ufe0f|\p{Regional_Indicator}/u;
/** Printable ASCII: one column a character (ids, times, most names), without segmenting. */
const ASCII = /^[\x20-\x7e]*$/;
/** A grapheme of combining marks or format characters alone takes no column. */
const ZERO = /^[\p{Mn}\p{Me}\p{Cf}]+$/u;

function graphemeWidth(g: string): number {
  if (ZERO.test(g)) return 0;
  return WIDE.test(g) ? 2 : 1;
}

/** Columns a terminal gives the text (Chinese names and emoji take two), so columns line up. */
export function displayWidth(text: string): number {
  if (ASCII.test(text)) return text.length;
  let n = 0;
  for (const { segment } of graphemes.segment(text)) n += graphemeWidth(segment);
  return n;
}

/** The text cut to at most `width` columns, ending in `…` when cut; never inside a character. */
export function clip(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const w = graphemeWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
}

/** A cell as shown: `-` for nothing, times in UTC to the second, strings escaped. */
export function cell(value: Cell): string {
  if (value === null || value === undefined) return '-';
  if (value instanceof Date) return value.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return escapeText(String(value));
}

/** Renders rows under headers, each column as wide as its widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map(cell));
  // A loop, not Math.max(...): `events --limit` allows more rows than a call takes arguments.
  const widths = headers.map((h) => displayWidth(h));
  for (const r of text) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, displayWidth(c));
  }
  const pad = (c: string, i: number) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(c)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : pad(c, i)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...text.map(line)].join('\n')}\n`;
}

/** Seconds to a short human age: 42s, 5m, 3h, 2d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7_200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3_600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

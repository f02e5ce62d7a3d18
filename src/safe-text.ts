/**
 * Text from the cloud (instance names, tags, ActionTrail identities) shown to people: anyone with
 * console access can set it, so what would act on the reader's screen is made visible instead —
 * in a terminal (cli/) and in a chat message (alerts/) alike. One definition of "unsafe".
 */

/**
 * What would move the cursor, end the line, drive the terminal (C0 and C1 controls, DEL) or
 * reorder the text around it (bidi controls, line and paragraph separators: "Trojan Source").
 */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Each unsafe character as a visible escape: `\n`, `\x1b`, `\u202e`. A backslash is left alone, so
 * escaping escaped text changes nothing (a cell may hold text built from escaped parts).
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return (
      NAMED[c] ??
      (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
    );
  });
}

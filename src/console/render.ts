/**
 * Server-side rendering: Eta templates from the package's `console/views/`, escaped by
 * construction — every `<%= %>` interpolation is HTML-escaped (`& < > " '`), so a name, a tag or an
 * error message is text wherever it lands, element or attribute. The templates use no raw output
 * but the layout's body (itself rendered escaped) and the partials. The helpers below turn facts
 * into words once, with the CLI's phrases (context-view.ts).
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { type CauseView, causeText, type EventView, tagsText } from '../context-view.js';
import { PACKAGE_ROOT } from '../package.js';

/** The package's `console/` folder: templates in `views/`, the browser's files in `static/`. */
export const CONSOLE_ROOT = fileURLToPath(new URL('console/', PACKAGE_ROOT));

export function createRenderer(): (view: string, data: object) => string {
  const eta = new Eta({
    views: `${CONSOLE_ROOT}views`,
    autoEscape: true,
    cache: true,
    // Templates are strict: a misspelt field is an error at render, not an empty cell.
    useWith: false,
  });
  return (view, data) => eta.render(view, { ...data, h: helpers });
}

/** `2026-01-31 09:30:41Z`; an unknown time is a dash. */
function time(d: Date | string | null | undefined): string {
  if (d === null || d === undefined) return '—';
  const date = typeof d === 'string' ? new Date(d) : d;
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** `3h 20m` since a number of seconds. */
function age(seconds: number | null): string {
  if (seconds === null) return 'never';
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Tags as `env=prod,team=web`; `(none)` for none; `-` when never described (as the CLI). */
function tags(t: Readonly<Record<string, string>> | null | undefined): string {
  if (t === null || t === undefined) return '-';
  const text = tagsText(t);
  return text === '' ? '(none)' : text;
}

/** The cause in the CLI's words; a baseline change says it was found linked by a first scan. */
function cause(e: Pick<EventView, 'cause' | 'detectedAt' | 'baseline'>): string {
  if (e.cause === null) return e.baseline ? 'found linked by the first scan (no cause)' : 'unknown';
  return causeText(e.cause, { detectedAt: e.detectedAt });
}

/** Who made a change, honestly: a name where ActionTrail named one, else why it is unknown. */
function who(c: CauseView | null, baseline: boolean): string {
  if (c === null) return baseline ? 'unknown (first scan found it linked)' : 'unknown';
  switch (c.status) {
    case 'found': {
      const name =
        c.actor?.name ?? (c.actor?.principalId ? `principal ${c.actor.principalId}` : 'unnamed caller');
      return c.actor?.type ? `${name} (${c.actor.type})` : name;
    }
    case 'not_found':
      return 'unknown (no ActionTrail record)';
    case 'unavailable':
      return 'unknown (no ActionTrail permission)';
    case 'pending':
      return 'not known yet (looking)';
    default: {
      const never: never = c.status;
      return never;
    }
  }
}

/** Where a change was made from: the caller's source IP, where ActionTrail gave one. */
function where(c: CauseView | null): string {
  return c?.status === 'found' && c.sourceIp !== null ? c.sourceIp : 'unknown';
}

const num = (n: number) => n.toLocaleString('en-US');
const seg = encodeURIComponent;

function vpcUrl(account: string, regionId: string, vpcId: string): string {
  return `/vpcs/${seg(account)}/${seg(regionId)}/${seg(vpcId)}`;
}

function instanceUrl(account: string, regionId: string, instanceId: string): string {
  return `/instances/${seg(account)}/${seg(regionId)}/${seg(instanceId)}`;
}

/** A query string of the given parameters, empty ones left out (a permalink). */
function query(params: Record<string, string | number | Date | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, v instanceof Date ? v.toISOString() : String(v));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

export const helpers = { time, age, tags, cause, who, where, num, vpcUrl, instanceUrl, query };
export type Helpers = typeof helpers;

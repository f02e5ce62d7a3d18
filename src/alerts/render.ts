/**
 * The human-readable alert text of the chat channels, and its truncation.
 *
 * One run is one message on every channel: when the link lists do not fit a channel's size limit,
 * the lists are shortened and end with "… and N more" — a run's changes are never split across
 * messages. The counts in the summary are always the full counts.
 *
 * Each changed link is told with its context as known when the alert is rendered (once: the
 * body is stored and every retry sends it): the instance's name and tags, the VPC's name, and who
 * made the change. What is not known is said to be unknown, never guessed. Text from the cloud is
 * made safe twice over: control characters become visible escapes and long values are clipped
 * with "…" (here, for every channel), then each channel's markup is escaped (its Flavor).
 */

import { type ContextView, causeText, causeView, eventView, tagsText } from '../context-view.js';
import type { Link } from '../links.js';
import { escapeText } from '../safe-text.js';
import type { ChangesAlertPayload, EventRow, LinkChange, OutboxMessage } from '../store/index.js';

/** A message as paragraphs and link lists, before a channel's markup. */
interface AlertDoc {
  /** One line: what happened where (also the notification preview). Ids only, no cloud text. */
  title: string;
  /** Summary lines (account, region, VPC, counts, times). */
  lines: string[];
  sections: { heading: string; items: string[] }[];
  /** Run id and alert id: what a person quotes when asking about the message. */
  footer: string;
}

/** What a 'changes' alert can say of its links beyond their ids. */
export interface AlertContext {
  /** The run's events with what is known of each (`contextForRun(runId).events`). */
  events: readonly EventRow[];
  /** ATTRIBUTION=on: the cause of each change is told (or said unknown); off: not mentioned. */
  attribution: boolean;
}

/** A markup dialect. */
export interface Flavor {
  bold(text: string): string;
  /** Escapes text that is not markup. */
  escape(text: string): string;
  bullet: string;
}

const MARKDOWN_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * The markdown of DingTalk, Lark (`lark_md`) and WeCom. Emphasis, code, link and strike-through
 * characters are backslash-escaped (CommonMark); `&`, `<` and `>` become entities, because each of
 * these services reads tags in markdown — `<font>`, WeCom's `<@userid>`, Lark's `<at id=all>` — so a
 * `<` from the cloud must never reach them as one. (Where a client does not decode an entity, the
 * reader sees `&lt;`: ugly, never a mention.) A line can only begin with our own text, so the
 * line-start markers (`#`, `-`, `>`, `1.`) need nothing.
 */
export const MARKDOWN: Flavor = {
  bold: (t) => `**${t}**`,
  escape: (t) => t.replace(/[\\`*_[\]~&<>]/g, (c) => MARKDOWN_ENTITIES[c] ?? `\\${c}`),
  bullet: '- ',
};

/** Slack mrkdwn: `*bold*`, and `&`, `<`, `>` must be escaped (api.slack.com formatting). */
export const SLACK_MRKDWN: Flavor = {
  bold: (t) => `*${t}*`,
  escape: (t) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
  bullet: '• ',
};

/**
 * Plain text (Slack `plain_text` objects): nothing is markup, so nothing needs escaping. Slack
 * mrkdwn has no escape for `*`, `_`, `~` or a backtick, so text from the cloud goes to Slack as
 * plain text: verbatim, unformatted, never a mention or a link.
 */
export const PLAIN: Flavor = {
  bold: (t) => t,
  escape: (t) => t,
  bullet: '• ',
};

/**
 * Longest a value from the cloud may print in a message, in characters: Alibaba allows 128-char
 * names and 256-char tag values, but anyone who can set them can set anything, and one 4 KB name
 * must not push every other change out of a size-limited message.
 */
const MAX = { name: 100, tags: 200, actor: 80 } as const;

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The text cut to at most `max` characters, ending in `…` when cut; never inside a character. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  // Between two printable ASCII characters is always a grapheme boundary (the common case, and
  // segmenting costs: a 1,000-link run clips thousands of values).
  if (/^[\x20-\x7e]*$/.test(text.slice(0, max))) return `${text.slice(0, max - 1)}…`;
  let out = '';
  // Only the head is segmented (ICU is slow over 4 KB): a grapheme cut by the slice ends past
  // `max`, so it is never taken.
  for (const { segment } of graphemes.segment(text.slice(0, max + 1))) {
    if (out.length + segment.length > max - 1) break;
    out += segment;
  }
  return `${out}…`;
}

/**
 * A value from the cloud as a message shows it: controls made visible, then clipped to `max`. Only
 * the head that can show is escaped: escaping every 4 KB value of a 1,000-link run whole would
 * cost more than all the rest of the message.
 */
function cloudText(text: string, max: number): string {
  if (text.length <= max) return clip(escapeText(text), max);
  return clip(`${escapeText(text.slice(0, max))}…`, max);
}

/** The words for a cause still looked for when the alert was rendered. */
const CAUSE_NOT_YET = 'cause unknown so far';
/** The words for an instance DescribeInstances never described (yet). */
const INSTANCE_NOT_YET = 'instance not yet described';

/** Finds the context of each changed link of a payload. */
function contextFinder(
  payload: ChangesAlertPayload,
  context: AlertContext | undefined,
): (change: LinkChange, link: Link) => ContextView {
  const rows = new Map<string, EventRow>();
  for (const e of context?.events ?? []) rows.set(`${e.change} ${e.vpcId} ${e.instanceId}`, e);
  const attribution = context?.attribution ?? true;
  return (change, link) => {
    const row = rows.get(`${change} ${link.vpcId} ${link.instanceId}`);
    // A change not (or no longer) on record: nothing is known of it, and it is not a baseline.
    const { instance, vpc, cause }: ContextView = row
      ? eventView(row)
      : { instance: null, vpc: null, cause: causeView(undefined, payload.baseline) };
    return { instance, vpc, cause: attribution ? cause : null };
  };
}

/**
 * One changed link in words: `i-… → vpc-… (prod-vpc) · web-01 · env=prod,team=web · by ops-admin
 * (ram-user) from 1.2.3.4 at 09:30:12Z`, or `… · instance not yet described · cause unknown so far`.
 */
function changeLine(link: Link, view: ContextView, detectedAt: Date): string {
  const vpcName = view.vpc?.name;
  const parts = [`${link.instanceId} → ${link.vpcId}${vpcName ? ` (${cloudText(vpcName, MAX.name)})` : ''}`];
  const { instance, cause } = view;
  if (instance === null) {
    parts.push(INSTANCE_NOT_YET);
  } else {
    const name =
      instance.name === null || instance.name === '' ? '(no name)' : cloudText(instance.name, MAX.name);
    parts.push(instance.releasedAt === null ? name : `${name} (released)`);
    const tags = tagsText(instance.tags);
    if (tags !== '') parts.push(cloudText(tags, MAX.tags));
  }
  const said =
    cause?.status === 'pending'
      ? CAUSE_NOT_YET
      : causeText(cause, { detectedAt, field: (t) => cloudText(t, MAX.actor) });
  if (said !== '') parts.push(said);
  return parts.join(' · ');
}

/** The links of a 'changes' payload, each with its context as the generic webhook carries it. */
export function linksWithContext(
  payload: ChangesAlertPayload,
  context: AlertContext | undefined,
): { added: (Link & ContextView)[]; removed: (Link & ContextView)[] } {
  const find = contextFinder(payload, context);
  const withContext = (change: LinkChange) => (l: Link) => ({ ...l, ...find(change, l) });
  return {
    added: payload.added.map(withContext('added')),
    removed: payload.removed.map(withContext('removed')),
  };
}

function seconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The document of an outbox message, whatever its kind; `context` tells a 'changes' alert's links. */
export function alertDoc(message: OutboxMessage, context?: AlertContext): AlertDoc {
  const footerOf = (run?: string) =>
    `${run === undefined ? '' : `run ${run} · `}alert id ${message.id} (same id = same alert)`;
  switch (message.kind) {
    case 'changes': {
      const p = message.payload;
      const where = `${p.vpcId} (${p.regionId}, account ${p.account})`;
      const find = contextFinder(p, context);
      const detectedAt = new Date(p.detectedAt);
      const line = (change: LinkChange) => (l: Link) => changeLine(l, find(change, l), detectedAt);
      const vpc = context?.events.find((e) => e.vpc !== undefined)?.vpc;
      const vpcName =
        vpc === undefined ? ' (not yet described)' : vpc.name ? ` (${cloudText(vpc.name, MAX.name)})` : '';
      return {
        title: `ClassicLink ${p.baseline ? 'baseline' : 'changes'}: +${p.addedCount} added, -${p.removedCount} removed in ${where}`,
        lines: [
          `Account: ${p.account} · Region: ${p.regionId} · VPC: ${p.vpcId}${vpcName}`,
          `Added: ${p.addedCount} · Removed: ${p.removedCount}${p.baseline ? ' · baseline (first complete scan)' : ''}`,
          `Detected: ${p.detectedAt}`,
        ],
        sections: [
          { heading: `Added (${p.addedCount})`, items: p.added.map(line('added')) },
          { heading: `Removed (${p.removedCount})`, items: p.removed.map(line('removed')) },
        ].filter((s) => s.items.length > 0),
        footer: footerOf(p.runId),
      };
    }
    case 'stale': {
      const p = message.payload;
      const lines = [
        `Account: ${p.account} · Region: ${p.regionId} · VPC: ${p.vpcId}`,
        p.lastSuccessAt === null
          ? `No complete scan ever (watched since ${p.staleSince}); stale after ${seconds(p.staleAfterSeconds)}.`
          : `No complete scan since ${p.lastSuccessAt} (stale after ${seconds(p.staleAfterSeconds)}).`,
        'Link changes in this VPC are not being seen: silence from it does not mean "no changes".',
      ];
      if (p.lastErrorCode !== null) {
        lines.push(
          `Last error: ${cloudText(`${p.lastErrorCode}: ${p.lastErrorMessage ?? ''}`, 300)} (${p.consecutiveFailures} consecutive failures)`,
        );
      }
      return {
        title: `ClassicLink sync STALE: ${p.vpcId} (${p.regionId}, account ${p.account})`,
        lines,
        sections: [],
        footer: footerOf(),
      };
    }
    case 'recovered': {
      const p = message.payload;
      return {
        title: `ClassicLink sync recovered: ${p.vpcId} (${p.regionId}, account ${p.account})`,
        lines: [
          `Account: ${p.account} · Region: ${p.regionId} · VPC: ${p.vpcId}`,
          `Complete scan at ${p.lastSuccessAt}; it was reported stale at ${p.staleAlertedAt}.`,
        ],
        sections: [],
        footer: footerOf(),
      };
    }
    default: {
      const never: never = message;
      throw new Error(`unknown alert kind ${JSON.stringify(never)}`);
    }
  }
}

/** Renders the body (everything but the title) with the first `shown[i]` items of section i. */
export function renderBody(doc: AlertDoc, flavor: Flavor, shown: readonly number[]): string {
  const parts = doc.lines.map(flavor.escape);
  doc.sections.forEach((section, i) => {
    const n = Math.min(shown[i] ?? section.items.length, section.items.length);
    const items = section.items.slice(0, n).map((item) => flavor.bullet + flavor.escape(item));
    if (n < section.items.length) items.push(`${flavor.bullet}… and ${section.items.length - n} more`);
    parts.push(`${flavor.bold(flavor.escape(section.heading))}\n${items.join('\n')}`);
  });
  parts.push(flavor.escape(doc.footer));
  return parts.join('\n\n');
}

/**
 * Splits a budget of `k` shown items over sections fairly: each gets an equal share, and what a
 * short section does not use goes to the others.
 */
export function share(sizes: readonly number[], k: number): number[] {
  const shown = sizes.map(() => 0);
  let left = k;
  let open = sizes.map((_, i) => i).filter((i) => (sizes[i] ?? 0) > 0);
  while (left > 0 && open.length > 0) {
    const each = Math.max(1, Math.floor(left / open.length));
    for (const i of open) {
      if (left === 0) break;
      const take = Math.min(each, (sizes[i] ?? 0) - (shown[i] ?? 0), left);
      shown[i] = (shown[i] ?? 0) + take;
      left -= take;
    }
    open = open.filter((i) => (shown[i] ?? 0) < (sizes[i] ?? 0));
  }
  return shown;
}

/**
 * The largest rendering that `fits`: binary search on the number of items shown (rendering grows
 * with it). With nothing fitting, the rendering with no items (the summary and the counts).
 */
export function fitItems<T>(
  doc: AlertDoc,
  render: (shown: readonly number[]) => T,
  fits: (rendered: T) => boolean,
): T {
  const sizes = doc.sections.map((s) => s.items.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const all = render(sizes);
  if (fits(all)) return all;
  let lo = 0;
  let hi = total - 1;
  let best = render(share(sizes, 0));
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const candidate = render(share(sizes, mid));
    if (fits(candidate)) {
      best = candidate;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

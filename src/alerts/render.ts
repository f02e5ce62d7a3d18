/**
 * The human-readable alert text of the chat channels, and its truncation.
 *
 * One run is one message on every channel: when the link lists do not fit a channel's size limit,
 * the lists are shortened and end with "… and N more" — a run's changes are never split across
 * messages. The counts in the summary are always the full counts.
 */

import type { Link } from '../links.js';
import type { OutboxMessage } from '../store/index.js';

/** A message as paragraphs and link lists, before a channel's markup. */
interface AlertDoc {
  /** One line: what happened where (also the notification preview). */
  title: string;
  /** Summary lines (account, region, VPC, counts, times). */
  lines: string[];
  sections: { heading: string; items: string[] }[];
  /** Run id and alert id: what a person quotes when asking about the message. */
  footer: string;
}

/** A markup dialect. */
export interface Flavor {
  bold(text: string): string;
  /** Escapes text that is not markup. */
  escape(text: string): string;
  bullet: string;
}

export const MARKDOWN: Flavor = {
  bold: (t) => `**${t}**`,
  escape: (t) => t.replace(/([*_`[\]])/g, '\\$1'),
  bullet: '- ',
};

/** Slack mrkdwn: `*bold*`, and `&`, `<`, `>` must be escaped (api.slack.com formatting). */
export const SLACK_MRKDWN: Flavor = {
  bold: (t) => `*${t}*`,
  escape: (t) => t.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
  bullet: '• ',
};

const linkLine = (l: Link): string => `${l.instanceId} → ${l.vpcId}`;

function seconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The document of an outbox message, whatever its kind. */
export function alertDoc(message: OutboxMessage): AlertDoc {
  const footerOf = (run?: string) =>
    `${run === undefined ? '' : `run ${run} · `}alert id ${message.id} (same id = same alert)`;
  switch (message.kind) {
    case 'changes': {
      const p = message.payload;
      const where = `${p.vpcId} (${p.regionId}, account ${p.account})`;
      return {
        title: `ClassicLink ${p.baseline ? 'baseline' : 'changes'}: +${p.addedCount} added, -${p.removedCount} removed in ${where}`,
        lines: [
          `Account: ${p.account} · Region: ${p.regionId} · VPC: ${p.vpcId}`,
          `Added: ${p.addedCount} · Removed: ${p.removedCount}${p.baseline ? ' · baseline (first complete scan)' : ''}`,
          `Detected: ${p.detectedAt}`,
        ],
        sections: [
          { heading: `Added (${p.addedCount})`, items: p.added.map(linkLine) },
          { heading: `Removed (${p.removedCount})`, items: p.removed.map(linkLine) },
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
          `Last error: ${clip(`${p.lastErrorCode}: ${p.lastErrorMessage ?? ''}`, 300)} (${p.consecutiveFailures} consecutive failures)`,
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

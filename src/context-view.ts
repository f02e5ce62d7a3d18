/**
 * How the context of a change — its instance, its VPC and the ActionTrail call behind it — is
 * shown to people and programs: the one shape of `--json` and of the `/v1` API, and the phrases the
 * text faces print. The store leaves out what it does not know; this says it, never guesses it:
 * `null` for an instance or VPC never described and for a change never attributed (a baseline),
 * `status: 'pending'` for a cause still being looked for.
 */
import type {
  CauseContext,
  CauseStatus,
  CloudEventActor,
  EventRow,
  InstanceContext,
  LinkRow,
  VpcContext,
} from './store/index.js';
import { CAUSE_ACTIONS } from './store/index.js';

/** A cause as shown: every field present, null unless `found`. */
export interface CauseView {
  /** The settled status, or `pending` while it is looked for (up to ATTRIBUTION_WINDOW). */
  status: CauseStatus | 'pending';
  /** The matched `cloud_events.event_id`. */
  eventId: string | null;
  eventName: string | null;
  eventTime: Date | null;
  actor: CloudEventActor | null;
  sourceIp: string | null;
  /** When it was settled; null while pending. */
  resolvedAt: Date | null;
}

/** The context fields of a shown event or link: present on every row, null where unknown. */
export interface ContextView {
  /** null: never described by DescribeInstances. */
  instance: InstanceContext | null;
  /** null: never described by DescribeVpcs. */
  vpc: VpcContext | null;
  /** null: a baseline change (never attributed), or a change no longer on record. */
  cause: CauseView | null;
}

type Shown<T> = Omit<T, keyof ContextView> & ContextView;
export type EventView = Shown<EventRow>;
export type LinkView = Shown<LinkRow>;

/** The cause of a change as shown; `baseline` null: the change is not on record. */
export function causeView(cause: CauseContext | undefined, baseline: boolean | null): CauseView | null {
  if (baseline !== false) return null;
  if (cause === undefined) {
    return {
      status: 'pending',
      eventId: null,
      eventName: null,
      eventTime: null,
      actor: null,
      sourceIp: null,
      resolvedAt: null,
    };
  }
  if (cause.status !== 'found') {
    return {
      status: cause.status,
      eventId: null,
      eventName: null,
      eventTime: null,
      actor: null,
      sourceIp: null,
      resolvedAt: cause.resolvedAt,
    };
  }
  const { status, eventId, eventName, eventTime, actor, sourceIp, resolvedAt } = cause;
  return { status, eventId, eventName, eventTime, actor, sourceIp, resolvedAt };
}

function shown<T extends EventRow | LinkRow>(row: T): Shown<T> {
  const { instance, vpc, cause, ...rest } = row;
  return { ...rest, instance: instance ?? null, vpc: vpc ?? null, cause: causeView(cause, row.baseline) };
}

/** An event as `events --json`, `history --json` and `/v1/events` show it. */
export const eventView = (row: EventRow): EventView => shown(row);

/** A link as `links --json` and `/v1/links` show it; its cause is that of the change that linked it. */
export const linkView = (row: LinkRow): LinkView => shown(row);

/** Tags as one compact line, by key: `env=prod,team=web`; empty when there are none. */
export function tagsText(tags: Readonly<Record<string, string>>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');
}

/** Attach and detach are what `added` and `removed` say; a delete is worth naming. */
const DELETES: ReadonlySet<string> = new Set(
  CAUSE_ACTIONS.filter((a) => !a.namesVpc).map((a) => a.eventName),
);

export interface CauseTextOptions {
  /** When the change was detected: the call's time prints as a time of day when it is the same UTC day. */
  detectedAt: Date;
  /** Applied to each text that came from ActionTrail (actor name and type, source IP): a face's clipping. */
  field?: (text: string) => string;
}

/**
 * A cause in words: `by ops-admin (ram-user) from 1.2.3.4 at 09:30:12Z`, `cause unknown`,
 * `cause unavailable (no ActionTrail permission)`, `cause pending`; empty for no cause (baseline).
 * Names are printed as given: escaping is the face's business.
 */
export function causeText(cause: CauseView | null, opts: CauseTextOptions): string {
  if (cause === null) return '';
  switch (cause.status) {
    case 'pending':
      return 'cause pending';
    case 'not_found':
      return 'cause unknown';
    case 'unavailable':
      return 'cause unavailable (no ActionTrail permission)';
    case 'found':
      return foundText(cause, opts);
    default: {
      const never: never = cause.status;
      return never;
    }
  }
}

function foundText(cause: CauseView, opts: CauseTextOptions): string {
  const field = opts.field ?? ((s: string) => s);
  const actor = cause.actor;
  const who =
    actor?.name != null
      ? field(actor.name)
      : actor?.principalId != null
        ? `principal ${field(actor.principalId)}`
        : 'an unnamed caller';
  const parts = [`by ${who}`];
  if (actor?.type != null) parts.push(`(${field(actor.type)})`);
  if (cause.sourceIp !== null) parts.push(`from ${field(cause.sourceIp)}`);
  if (cause.eventTime !== null) parts.push(`at ${timeText(cause.eventTime, opts.detectedAt)}`);
  if (cause.eventName !== null && DELETES.has(cause.eventName)) parts.push(`via ${cause.eventName}`);
  return parts.join(' ');
}

/** `09:30:12Z` on the detection's UTC day, else the full time: a bare time never hides a date. */
function timeText(t: Date, detectedAt: Date): string {
  const iso = t.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return iso.slice(0, 10) === detectedAt.toISOString().slice(0, 10) ? iso.slice(11) : iso;
}

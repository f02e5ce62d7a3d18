/**
 * The simulated EventBridge: each ActionTrail record the simulator makes is pushed to an HTTP
 * target (`--eventbridge-target`) in the CloudEvents 1.0 envelope EventBridge's `ORIGINAL` body
 * carries (reference/alibaba-actiontrail.md §2.2: `data` = the record), once it is visible
 * (ActionTrail's delay), with the token as `Authorization: Bearer` (an API-key connection) or as
 * the Basic password. A failed push — no answer, 429 or 5xx — is retried with capped exponential
 * backoff; another 4xx (401, 400, 413) is not (resending the same request cannot fix it). A record
 * dropped from ActionTrail is never pushed.
 *
 * Rules (the admin API, `/_sim/eventbridge/…`) make pushes go wrong on demand: drop the next n
 * (or every record naming an instance), send the next n twice, or hold pushes back longer.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { TrailEntry, TrailRecord } from './types.js';

export interface EventBridgeTarget {
  /** The HTTP target's URL. */
  url: string;
  /** The connection's secret: sent as `Authorization: Bearer <token>`, or the Basic password. */
  token?: string | undefined;
  /** How the token is sent. Default `bearer`. */
  auth?: 'bearer' | 'basic' | undefined;
  /** Attempts per push before it is given up. Default 10. */
  maxAttempts?: number | undefined;
  /** First retry delay, doubled per attempt up to 30 s. Default 500 ms. */
  retryBaseMs?: number | undefined;
  /**
   * How long after its call a record is pushed. Default: when it becomes visible to LookupEvents
   * (the ActionTrail delay). EventBridge's own delivery lag is not documented; this lets a test
   * or benchmark set it apart from LookupEvents' indexing lag.
   */
  delayMs?: number | undefined;
}

/** One record's push. */
export interface Delivery {
  eventId: string;
  /** The envelope's `id`: the same on every attempt and on a duplicate. */
  cloudEventId: string;
  /** Epoch ms the push was due (visible, plus any extra delay). */
  dueAt: number;
  attempts: number;
  /** `pending` (due or being retried), `delivered`, `rejected` (a 4xx), `gave-up`, `dropped` (a rule). */
  state: 'pending' | 'delivered' | 'rejected' | 'gave-up' | 'dropped';
  /** Sent twice by a rule. */
  duplicated: boolean;
  /** HTTP status of the last attempt, or the network error's code. */
  last?: string | undefined;
  /** Epoch ms the last attempt was sent, and the one the target answered 2xx. */
  sentAt?: number | undefined;
  deliveredAt?: number | undefined;
}

export interface PushRules {
  dropNext: number;
  dropInstanceIds: string[];
  duplicateNext: number;
  /** Extra delay of the next `delayNext` pushes; with `delayNext` 0, of every push. */
  delayNext: number;
  delayMs: number;
}

const MAX_DELIVERIES = 10_000;
const RETRY_CAP_MS = 30_000;
/** Statuses worth sending again: the target was busy or broken this time. */
const retryable = (status: number) => status === 429 || status === 408 || status >= 500;

/**
 * The envelope EventBridge delivers with `Body` = `ORIGINAL` for an ActionTrail API call of ECS:
 * `type` `ecs:ActionTrail:ApiCall`, `source` `acs.ecs`, the account and region, `data` the record.
 */
export function cloudEventEnvelope(
  record: TrailRecord,
  opts: { accountId: string; id?: string; publishedAt?: Date },
): Record<string, unknown> {
  const published = opts.publishedAt ?? new Date();
  return {
    specversion: '1.0',
    id: opts.id ?? randomUUID(),
    source: 'acs.ecs',
    type: `ecs:ActionTrail:${record.eventType}`,
    subject: `acs.ecs:${record.acsRegion}:${opts.accountId}:instance/${record.resourceName}`,
    time: record.eventTime,
    datacontenttype: 'application/json;charset=utf-8',
    aliyunaccountid: opts.accountId,
    aliyunpublishtime: published.toISOString(),
    aliyuneventbusname: 'default',
    aliyunregionid: record.acsRegion,
    aliyunpublishaddr: '127.0.0.1',
    data: record,
  };
}

export class EventBridgePush {
  private readonly list: Delivery[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly agent = new Agent({ connections: 16 });
  private rules: PushRules = { dropNext: 0, dropInstanceIds: [], duplicateNext: 0, delayNext: 0, delayMs: 0 };
  private closed = false;

  constructor(
    private readonly target: EventBridgeTarget,
    private readonly accountId: string,
  ) {
    if (target.delayMs !== undefined && !(Number.isInteger(target.delayMs) && target.delayMs >= 0)) {
      throw new Error(`the EventBridge delay must be a whole number of ms, got ${target.delayMs}`);
    }
    const u = new URL(target.url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`the EventBridge target must be an http(s) URL, got ${target.url}`);
    }
  }

  /** A record was made: its push is due when it becomes visible (plus any delay rule). */
  onRecord(entry: TrailEntry): void {
    if (this.closed || entry.dropped) return;
    const r = this.rules;
    const delivery: Delivery = {
      eventId: entry.record.eventId,
      cloudEventId: randomUUID(),
      dueAt: this.target.delayMs === undefined ? entry.visibleAt : entry.at + this.target.delayMs,
      attempts: 0,
      state: 'pending',
      duplicated: false,
    };
    this.keep(delivery);
    const namesDropped = entry.instanceIds.some((id) => r.dropInstanceIds.includes(id));
    if (namesDropped || r.dropNext > 0) {
      if (!namesDropped) r.dropNext--;
      delivery.state = 'dropped';
      return;
    }
    if (r.delayMs > 0) {
      delivery.dueAt += r.delayMs;
      // A counted delay ends with its count; an uncounted one (delayNext 0) holds until cleared.
      if (r.delayNext > 0 && --r.delayNext === 0) r.delayMs = 0;
    }
    if (r.duplicateNext > 0) {
      r.duplicateNext--;
      delivery.duplicated = true;
    }
    const body = JSON.stringify(
      cloudEventEnvelope(entry.record, { accountId: this.accountId, id: delivery.cloudEventId }),
    );
    this.later(Math.max(0, delivery.dueAt - Date.now()), () =>
      this.send(delivery, body, delivery.duplicated ? 2 : 1),
    );
  }

  private keep(d: Delivery): void {
    this.list.push(d);
    if (this.list.length > MAX_DELIVERIES + 1024) this.list.splice(0, this.list.length - MAX_DELIVERIES);
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/cloudevents+json; charset=utf-8' };
    const { token } = this.target;
    if (token !== undefined) {
      h.authorization =
        this.target.auth === 'basic'
          ? `Basic ${Buffer.from(`eventbridge:${token}`).toString('base64')}`
          : `Bearer ${token}`;
    }
    return h;
  }

  /** Sends `copies` times (a duplicate rule sends the same envelope twice, one after the other). */
  private async send(d: Delivery, body: string, copies: number): Promise<void> {
    if (this.closed) return;
    d.attempts++;
    d.sentAt = Date.now();
    let outcome: 'ok' | 'retry' | 'reject' = 'retry';
    try {
      const res = await request(this.target.url, {
        method: 'POST',
        headers: this.headers(),
        body,
        dispatcher: this.agent,
        signal: this.abort.signal,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await res.body.dump();
      d.last = String(res.statusCode);
      outcome = res.statusCode < 300 ? 'ok' : retryable(res.statusCode) ? 'retry' : 'reject';
    } catch (err) {
      if (this.closed) return;
      d.last = (err as { code?: string }).code ?? (err instanceof Error ? err.name : 'error');
    }
    if (outcome === 'ok') {
      if (copies > 1) return this.send(d, body, copies - 1);
      d.state = 'delivered';
      d.deliveredAt = Date.now();
      return;
    }
    if (outcome === 'reject') {
      d.state = 'rejected';
      return;
    }
    if (d.attempts >= (this.target.maxAttempts ?? 10)) {
      d.state = 'gave-up';
      return;
    }
    const base = this.target.retryBaseMs ?? 500;
    this.later(Math.min(RETRY_CAP_MS, base * 2 ** (d.attempts - 1)), () => void this.send(d, body, copies));
  }

  dropNext(n: number): void {
    this.rules.dropNext += n;
  }
  dropInstance(instanceId: string): void {
    if (!this.rules.dropInstanceIds.includes(instanceId)) this.rules.dropInstanceIds.push(instanceId);
  }
  duplicateNext(n: number): void {
    this.rules.duplicateNext += n;
  }
  /** Holds back the next `next` pushes (every push when `next` is undefined) by `ms` more. */
  delay(ms: number, next?: number): void {
    this.rules.delayMs = ms;
    this.rules.delayNext = next ?? 0;
  }
  clearRules(): void {
    this.rules = { dropNext: 0, dropInstanceIds: [], duplicateNext: 0, delayNext: 0, delayMs: 0 };
  }

  /** What the admin API shows: the target (never its token), the rules, every push. */
  status(): { target: string; auth: string; rules: PushRules; deliveries: Delivery[] } {
    return {
      target: this.target.url,
      auth: this.target.token === undefined ? 'none' : (this.target.auth ?? 'bearer'),
      rules: structuredClone(this.rules),
      deliveries: this.list.map((d) => ({ ...d })),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.abort.abort();
    await this.agent.close().catch(() => undefined);
  }
}

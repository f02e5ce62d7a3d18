/**
 * How a change's context is shown: the JSON shape (null where unknown, `pending` while the cause
 * is looked for, nothing for a baseline) and the words the text faces print for each cause.
 */
import { describe, expect, it } from 'vitest';
import {
  type CauseView,
  causeText,
  causeView,
  eventView,
  linkView,
  tagsText,
} from '../../src/context-view.js';
import type { CauseContext, EventRow, LinkRow } from '../../src/store/index.js';

const detectedAt = new Date('2025-01-01T09:31:00Z');
const found: CauseContext = {
  status: 'found',
  eventId: 'ev-1',
  eventName: 'AttachClassicLinkVpc',
  eventTime: new Date('2025-01-01T09:30:12Z'),
  actor: { type: 'ram-user', name: 'ops-admin', principalId: '2741806465482', accountId: '1547353256850' },
  sourceIp: '1.2.3.4',
  resolvedAt: new Date('2025-01-01T09:32:00Z'),
};
const text = (cause: CauseView | null, field?: (s: string) => string) =>
  causeText(cause, { detectedAt, ...(field ? { field } : {}) });

describe('causeView', () => {
  it('is null for a baseline change and for a change not on record', () => {
    expect(causeView(undefined, true)).toBeNull();
    expect(causeView(undefined, null)).toBeNull();
  });

  it('is pending, with every field null, while nothing is settled', () => {
    expect(causeView(undefined, false)).toEqual({
      status: 'pending',
      eventId: null,
      eventName: null,
      eventTime: null,
      actor: null,
      sourceIp: null,
      resolvedAt: null,
    });
  });

  it('carries the record when found, and only the status and time when not', () => {
    expect(causeView(found, false)).toEqual(found);
    const resolvedAt = new Date('2025-01-01T10:00:00Z');
    for (const status of ['not_found', 'unavailable'] as const) {
      expect(causeView({ status, resolvedAt }, false)).toEqual({
        status,
        eventId: null,
        eventName: null,
        eventTime: null,
        actor: null,
        sourceIp: null,
        resolvedAt,
      });
    }
  });
});

describe('eventView and linkView', () => {
  const event: EventRow = {
    id: '1',
    account: 'a',
    regionId: 'cn-hangzhou',
    vpcId: 'vpc-1',
    instanceId: 'i-1',
    change: 'added',
    detectedAt,
    syncRunId: '7',
    baseline: false,
  };

  it('names instance, vpc and cause on every row, null where unknown', () => {
    expect(eventView(event)).toEqual({
      ...event,
      instance: null,
      vpc: null,
      cause: causeView(undefined, false),
    });
    expect(eventView({ ...event, baseline: true })).toMatchObject({ instance: null, vpc: null, cause: null });
    const vpc = { name: 'prod', cidr: '10.0.0.0/8', tags: {}, deletedAt: null };
    expect(eventView({ ...event, vpc, cause: found })).toMatchObject({ vpc, cause: found });
  });

  it('gives a link the cause of the change that linked it', () => {
    const link: LinkRow = {
      account: 'a',
      regionId: 'cn-hangzhou',
      vpcId: 'vpc-1',
      instanceId: 'i-1',
      linkedSince: detectedAt,
      firstSeenAt: detectedAt,
      baseline: false,
      cause: found,
    };
    expect(linkView(link).cause).toEqual(found);
    expect(linkView({ ...link, cause: undefined }).cause?.status).toBe('pending');
    expect(linkView({ ...link, cause: undefined, baseline: true }).cause).toBeNull();
  });
});

describe('causeText', () => {
  it('says who, from where and when for a found cause', () => {
    expect(text(causeView(found, false))).toBe('by ops-admin (ram-user) from 1.2.3.4 at 09:30:12Z');
  });

  it('says each unknown cause is unknown, and why', () => {
    const resolvedAt = detectedAt;
    expect(text(causeView(undefined, false))).toBe('cause pending');
    expect(text(causeView({ status: 'not_found', resolvedAt }, false))).toBe('cause unknown');
    expect(text(causeView({ status: 'unavailable', resolvedAt }, false))).toBe(
      'cause unavailable (no ActionTrail permission)',
    );
    expect(text(null)).toBe('');
  });

  it('gives the date when the call was on another day than the detection', () => {
    const late = { ...found, eventTime: new Date('2024-12-31T23:59:58Z') };
    expect(text(causeView(late, false))).toBe('by ops-admin (ram-user) from 1.2.3.4 at 2024-12-31T23:59:58Z');
  });

  it('names a delete, and says what is missing of the caller without guessing it', () => {
    const deleted: CauseContext = {
      ...found,
      eventName: 'DeleteInstance',
      actor: { type: 'root-account', name: null, principalId: '1547353256850', accountId: '1547353256850' },
      sourceIp: null,
    };
    expect(text(causeView(deleted, false))).toBe(
      'by principal 1547353256850 (root-account) at 09:30:12Z via DeleteInstance',
    );
    const anonymous: CauseContext = {
      ...found,
      actor: { type: null, name: null, principalId: null, accountId: null },
    };
    expect(text(causeView(anonymous, false))).toBe('by an unnamed caller from 1.2.3.4 at 09:30:12Z');
  });

  it('passes each text from ActionTrail through the face’s field function', () => {
    const shout = (s: string) => `<${s}>`;
    expect(text(causeView(found, false), shout)).toBe(
      'by <ops-admin> (<ram-user>) from <1.2.3.4> at 09:30:12Z',
    );
  });
});

describe('tagsText', () => {
  it('is one compact line sorted by key, empty for none', () => {
    expect(tagsText({ team: 'web', env: 'prod' })).toBe('env=prod,team=web');
    expect(tagsText({})).toBe('');
  });
});

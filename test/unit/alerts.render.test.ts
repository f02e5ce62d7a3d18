/**
 * Rendering and truncation: one message per run, lists cut to a limit with an exact "and N more";
 * each link told with its context, what is unknown said so, text from the cloud made safe.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS, slackBody, wecomBody } from '../../src/alerts/channels/chat.js';
import {
  type AlertContext,
  alertDoc,
  clip,
  fitItems,
  MARKDOWN,
  renderBody,
  share,
} from '../../src/alerts/render.js';
import type { EventRow, OutboxMessage } from '../../src/store/types.js';
import { CONTROL } from '../helpers/context.js';

function changes(added: number, removed: number): OutboxMessage {
  const links = (p: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      vpcId: 'vpc-1',
      instanceId: `i-${p}${String(i).padStart(4, '0')}`,
    }));
  return {
    id: '0b8a3c9e-5f7d-4a51-9d3e-2f1c6b7a8e90',
    syncRunId: '7',
    channel: 'wecom',
    attempts: 1,
    createdAt: new Date(0),
    claimedUntil: new Date(0),
    renderedBody: null,
    kind: 'changes',
    payload: {
      runId: '7',
      account: 'prod',
      regionId: 'cn-shanghai',
      vpcId: 'vpc-1',
      detectedAt: '2025-01-01T00:00:30.000Z',
      baseline: false,
      added: links('a', added),
      removed: links('r', removed),
      addedCount: added,
      removedCount: removed,
    },
  };
}

describe('share', () => {
  it('splits a budget fairly and gives what a short list leaves to the others', () => {
    expect(share([10, 10], 6)).toEqual([3, 3]);
    expect(share([2, 10], 6)).toEqual([2, 4]);
    expect(share([10, 0], 6)).toEqual([6, 0]);
    expect(share([3, 3], 100)).toEqual([3, 3]);
    expect(share([5, 5], 0)).toEqual([0, 0]);
  });
});

describe('fitItems', () => {
  it('shows everything that fits, and the maximum that fits when not', () => {
    const msg = changes(50, 30);
    const doc = alertDoc(msg);
    const render = (shown: readonly number[]) => renderBody(doc, MARKDOWN, shown);
    expect(fitItems(doc, render, () => true)).not.toContain('more');
    const limit = 1500;
    const text = fitItems(doc, render, (t) => t.length <= limit);
    expect(text.length).toBeLessThanOrEqual(limit);
    const shown = (text.match(/→/g) ?? []).length;
    // One more item would not have fitted.
    expect(render(share([50, 30], shown + 1)).length).toBeGreaterThan(limit);
    const tails = [...text.matchAll(/… and (\d+) more/g)].map((m) => Number(m[1]));
    expect(tails.reduce((a, b) => a + b, 0)).toBe(80 - shown);
  });
});

describe('channel bodies', () => {
  it('WeCom markdown stays within 4096 bytes for the largest VPC (1,000 links out, 1,000 in)', () => {
    const body = JSON.parse(wecomBody(changes(1000, 1000))) as { markdown: { content: string } };
    expect(Buffer.byteLength(body.markdown.content)).toBeLessThanOrEqual(LIMITS.wecomMarkdownBytes);
    expect(body.markdown.content).toContain('Added (1000)');
    expect(body.markdown.content).toMatch(/… and \d+ more/);
  });

  it('Slack: the section is plain text within 3000 characters; the mrkdwn notification is escaped', () => {
    const msg = changes(400, 0);
    if (msg.kind === 'changes') msg.payload.account = 'a<b>&c';
    const body = JSON.parse(slackBody(msg)) as {
      text: string;
      blocks: { text: { type: string; text: string; emoji: boolean } }[];
    };
    const section = body.blocks[1]!.text;
    expect(section).toMatchObject({ type: 'plain_text', emoji: false });
    expect(section.text.length).toBeLessThanOrEqual(LIMITS.slackSectionChars);
    // Plain text is shown as given: nothing to escape, nothing parsed.
    expect(section.text).toContain('Account: a<b>&c');
    expect(body.text).toContain('account a&lt;b&gt;&amp;c');
  });

  it('a small run is shown whole, in markdown, naming the run and alert id; unknown context said so', () => {
    const body = JSON.parse(wecomBody(changes(1, 1))) as { markdown: { content: string } };
    expect(body.markdown.content).toBe(
      [
        '**ClassicLink changes: +1 added, -1 removed in vpc-1 (cn-shanghai, account prod)**',
        'Account: prod · Region: cn-shanghai · VPC: vpc-1 (not yet described)',
        'Added: 1 · Removed: 1',
        'Detected: 2025-01-01T00:00:30.000Z',
        '**Added (1)**\n- i-a0000 → vpc-1 · instance not yet described · cause unknown so far',
        '**Removed (1)**\n- i-r0000 → vpc-1 · instance not yet described · cause unknown so far',
        'run 7 · alert id 0b8a3c9e-5f7d-4a51-9d3e-2f1c6b7a8e90 (same id = same alert)',
      ].join('\n\n'),
    );
  });
});

/** An event of run 7 for `changes()`: i-a0000 added, i-r0000 removed. */
function event(instanceId: string, change: 'added' | 'removed', more: Partial<EventRow> = {}): EventRow {
  return {
    id: instanceId === 'i-a0000' ? '1' : '2',
    account: 'prod',
    regionId: 'cn-shanghai',
    vpcId: 'vpc-1',
    instanceId,
    change,
    detectedAt: new Date('2025-01-01T00:00:30.000Z'),
    syncRunId: '7',
    baseline: false,
    ...more,
  };
}

const described = {
  status: 'Running',
  privateIp: '10.0.0.7',
  zoneId: 'cn-shanghai-b',
  resourceGroupId: null,
  releasedAt: null,
};
const prodVpc = { name: 'prod-vpc', cidr: '172.16.0.0/12', tags: {}, deletedAt: null };

describe('context', () => {
  const context = (attribution: boolean): AlertContext => ({
    attribution,
    events: [
      event('i-a0000', 'added', {
        instance: { ...described, name: 'web-01', tags: { team: 'web', env: 'prod' } },
        vpc: prodVpc,
        cause: {
          status: 'found',
          eventId: 'ev-1',
          eventName: 'AttachClassicLinkVpc',
          eventTime: new Date('2025-01-01T00:00:12.000Z'),
          actor: { type: 'ram-user', name: 'ops-admin', principalId: '1', accountId: '2' },
          sourceIp: '1.2.3.4',
          resolvedAt: new Date('2025-01-01T00:01:00.000Z'),
        },
      }),
      event('i-r0000', 'removed', {
        instance: { ...described, name: 'db-02', tags: {}, releasedAt: new Date('2025-01-01T00:00:20Z') },
        vpc: prodVpc,
        cause: { status: 'not_found', resolvedAt: new Date('2025-01-01T00:16:00.000Z') },
      }),
    ],
  });

  it('names each instance, its tags, the VPC and who made the change; says what is unknown', () => {
    const doc = alertDoc(changes(1, 1), context(true));
    expect(doc.lines[0]).toBe('Account: prod · Region: cn-shanghai · VPC: vpc-1 (prod-vpc)');
    expect(doc.sections.map((s) => s.items)).toEqual([
      [
        'i-a0000 → vpc-1 (prod-vpc) · web-01 · env=prod,team=web · by ops-admin (ram-user) from 1.2.3.4 at 00:00:12Z',
      ],
      ['i-r0000 → vpc-1 (prod-vpc) · db-02 (released) · cause unknown'],
    ]);
  });

  it('ATTRIBUTION=off: causes are not mentioned at all', () => {
    const doc = alertDoc(changes(1, 1), context(false));
    expect(doc.sections.map((s) => s.items)).toEqual([
      ['i-a0000 → vpc-1 (prod-vpc) · web-01 · env=prod,team=web'],
      ['i-r0000 → vpc-1 (prod-vpc) · db-02 (released)'],
    ]);
  });

  it('a baseline change is never attributed: no cause words', () => {
    const msg = changes(1, 0);
    if (msg.kind === 'changes') msg.payload.baseline = true;
    const doc = alertDoc(msg, { attribution: true, events: [event('i-a0000', 'added', { baseline: true })] });
    expect(doc.sections[0]?.items).toEqual(['i-a0000 → vpc-1 · instance not yet described']);
  });
});

describe('text from the cloud', () => {
  it('controls become visible escapes and long values are clipped with a marker, never inside an emoji', () => {
    const name = `a\nb\u001b[31m${'🦄'.repeat(100)}`;
    const doc = alertDoc(changes(1, 0), {
      attribution: false,
      events: [event('i-a0000', 'added', { instance: { ...described, name, tags: {} } })],
    });
    const item = doc.sections[0]?.items[0] ?? '';
    expect(item).not.toMatch(CONTROL);
    expect(item).toContain('a\\nb\\x1b[31m🦄');
    expect(item).toMatch(/🦄…$/);
    expect(clip('🦄🦄🦄', 4)).toBe('🦄…');
    expect(clip('abc', 3)).toBe('abc');
  });

  it('markdown: emphasis, code, links and tags are escaped (no <at>, <@user> or <font> survives)', () => {
    expect(MARKDOWN.escape('*b* _i_ `c` [l](u) ~s~ \\ <at id=all></at> <@u1> a&b')).toBe(
      '\\*b\\* \\_i\\_ \\`c\\` \\[l\\](u) \\~s\\~ \\\\ &lt;at id=all&gt;&lt;/at&gt; &lt;@u1&gt; a&amp;b',
    );
  });

  it('long context lines still fit every limit, with an exact "and N more"', () => {
    const msg = changes(300, 0);
    const long = 'n'.repeat(4096);
    const events =
      msg.kind === 'changes'
        ? msg.payload.added.map((l) =>
            event(l.instanceId, 'added', { instance: { ...described, name: long, tags: { k: long } } }),
          )
        : [];
    const body = JSON.parse(wecomBody(msg, { attribution: true, events })) as {
      markdown: { content: string };
    };
    const content = body.markdown.content;
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(LIMITS.wecomMarkdownBytes);
    const shown = (content.match(/→/g) ?? []).length;
    expect(shown).toBeGreaterThan(0);
    expect(content).toContain(`… and ${300 - shown} more`);
  });
});

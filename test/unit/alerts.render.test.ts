/** Rendering and truncation: one message per run, lists cut to a limit with an exact "and N more". */
import { describe, expect, it } from 'vitest';
import { LIMITS, slackBody, wecomBody } from '../../src/alerts/channels/chat.js';
import { alertDoc, fitItems, MARKDOWN, renderBody, share } from '../../src/alerts/render.js';
import type { OutboxMessage } from '../../src/store/types.js';

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

  it('Slack escapes its control characters and keeps the section within 3000 characters', () => {
    const msg = changes(400, 0);
    if (msg.kind === 'changes') msg.payload.account = 'a<b>&c';
    const body = JSON.parse(slackBody(msg)) as { blocks: { text: { text: string } }[] };
    const section = body.blocks[1]!.text.text;
    expect(section.length).toBeLessThanOrEqual(LIMITS.slackSectionChars);
    expect(section).toContain('a&lt;b&gt;&amp;c');
  });

  it('a small run is shown whole, in markdown, naming the run and alert id', () => {
    const body = JSON.parse(wecomBody(changes(1, 1))) as { markdown: { content: string } };
    expect(body.markdown.content).toBe(
      [
        '**ClassicLink changes: +1 added, -1 removed in vpc-1 (cn-shanghai, account prod)**',
        'Account: prod · Region: cn-shanghai · VPC: vpc-1',
        'Added: 1 · Removed: 1',
        'Detected: 2025-01-01T00:00:30.000Z',
        '**Added (1)**\n- i-a0000 → vpc-1',
        '**Removed (1)**\n- i-r0000 → vpc-1',
        'run 7 · alert id 0b8a3c9e-5f7d-4a51-9d3e-2f1c6b7a8e90 (same id = same alert)',
      ].join('\n\n'),
    );
  });
});

/**
 * The demo's lines, through real Postgres: each change prints as it lands, with the instance's
 * name and who made it when known; a change printed while its cause was still looked for gets one
 * more line when the cause is settled, and no more after. The context is written with the store's
 * verbs, as the enrichment and attribution engine writes it.
 */
import { describe, expect, it } from 'vitest';
import { demoPrinter } from '../../src/cli/demo-print.js';
import type { TargetRef } from '../../src/links.js';
import { createStore, type Store } from '../../src/store/index.js';
import { at } from '../helpers/clock.js';
import { HOSTILE_ACTOR } from '../helpers/context.js';
import { useTestDb } from '../helpers/db.js';
import { silentLog } from '../helpers/log.js';
import { changedRun, cloudEvent, instanceAttrs } from '../helpers/store.js';

const db = useTestDb({ each: 'test', checkLeaks: true });

function output() {
  let text = '';
  return {
    out: { write: (s: string) => (text += s) },
    /** What was printed since the last call. */
    take(): string {
      const t = text;
      text = '';
      return t;
    },
  };
}

const scope = (t: TargetRef) => ({ account: t.account, regionId: t.regionId });

/** Records the attach of i-new1 by `actor` (00:01:10Z) and settles what rule 7 can settle. */
async function attachedBy(store: Store, target: TargetRef, actor: string, now = at(2)): Promise<void> {
  await store.recordCloudEvents(
    [
      cloudEvent(target, {
        eventName: 'AttachClassicLinkVpc',
        eventTime: new Date(at(1).getTime() + 10_000),
        instanceIds: ['i-new1'],
        actor: { type: 'ram-user', name: actor, principalId: '1', accountId: '2' },
        sourceIp: '127.0.0.1',
      }),
    ],
    'poll',
  );
  await store.settleCauses({ ...scope(target), now, windowMs: 60_000, allowanceMs: 0 });
}

describe('demo lines', () => {
  it('a change prints at once; who made it follows when its cause is settled, once', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const { target, runId } = await changedRun(store, [], { after: ['i-new1'] });
    await store.upsertInstances({ ...scope(target), instances: [instanceAttrs('i-new1')], seenAt: at(2) });
    const o = output();
    const clock = at(3);
    const printer = demoPrinter({ store, out: o.out, attribution: true, followMs: 60_000, now: () => clock });
    const note = { runId, ...target, baseline: false, added: 1, removed: 1 };

    await printer.printRun(note);
    expect(o.take()).toBe(
      [
        `00:01:30  + added    cn-hangzhou  vpc-1  i-new1  name-i-new1  (run ${runId})`,
        `00:01:30  - removed  cn-hangzhou  vpc-1  i-old  (run ${runId})`,
        '',
      ].join('\n'),
    );
    // Nothing settled yet: nothing to add.
    await printer.followUp();
    expect(o.take()).toBe('');

    await attachedBy(store, target, 'demo-alice');
    await printer.followUp();
    expect(o.take()).toBe(
      '00:03:00    ↳ i-new1 added: by demo-alice (ram-user) from 127.0.0.1 at 00:01:10Z\n',
    );
    // The detach had no record: once its window passed, it is said unknown — and then nothing more.
    await store.settleCauses({ ...scope(target), now: at(30), windowMs: 60_000, allowanceMs: 0 });
    await printer.followUp();
    expect(o.take()).toBe('00:03:00    ↳ i-old removed: cause unknown\n');
    await printer.followUp();
    expect(o.take()).toBe('');
  });

  it('a cause that never settles is followed for followMs, then no longer asked for', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const { target, runId } = await changedRun(store, [], { after: ['i-old', 'i-new1'] });
    const o = output();
    let clock = at(3);
    const printer = demoPrinter({ store, out: o.out, attribution: true, followMs: 60_000, now: () => clock });
    await printer.printRun({ runId, ...target, baseline: false, added: 1, removed: 0 });
    o.take();
    clock = at(5);
    await printer.followUp();
    // Settled after the demo stopped following it: not printed.
    await attachedBy(store, target, 'demo-alice');
    await printer.followUp();
    expect(o.take()).toBe('');
  });

  it('a cause already settled prints on the change line, escaped and clipped; ATTRIBUTION=off prints none', async () => {
    const { pool } = await db();
    const store = createStore({ pool, log: silentLog });
    const { target, runId } = await changedRun(store, [], { after: ['i-old', 'i-new1'] });
    await attachedBy(store, target, HOSTILE_ACTOR);
    const note = { runId, ...target, baseline: false, added: 1, removed: 0 };

    const o = output();
    await demoPrinter({ store, out: o.out, attribution: true, followMs: 60_000 }).printRun(note);
    const line = o.take();
    expect(line).toMatch(
      /^00:01:30 {2}\+ added {4}cn-hangzhou {2}vpc-1 {2}i-new1 {2}\(run \d+\) {2}by mallory\\r\\x1b\[1Ay+… \(ram-user\) from 127\.0\.0\.1 at 00:01:10Z\n$/,
    );

    await demoPrinter({ store, out: o.out, attribution: false, followMs: 60_000 }).printRun(note);
    expect(o.take()).toBe(`00:01:30  + added    cn-hangzhou  vpc-1  i-new1  (run ${runId})\n`);
  });
});

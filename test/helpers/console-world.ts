/**
 * The console's test world, written through the store's verbs: contextWorld (every state of a
 * change's context, hostile names among them) in cn-hangzhou, an instance named and tagged with
 * markup in vpc-html, and in cn-beijing four links removed over a week (days 0, 3 and 6).
 */
import type { TargetRef } from '../../src/links.js';
import type { Store } from '../../src/store/index.js';
import { at } from './clock.js';
import { contextWorld } from './context.js';
import { instanceAttrs, scan } from './store.js';

/** Markup that would run if it were ever parsed as HTML: an image's error handler, a script. */
export const HTML_NAME = `<img src=x onerror="window.__pwned=1">"'</script><script>window.__pwned=2</script>${'z'.repeat(4096)}`;
export const HTML_TAG_KEY = '</script><img src=x onerror=window.__pwned=3>';
export const HTML_TAG_VALUE = `"'<b id=bold>bold</b>${'t'.repeat(4096)}`;
const DAY = 24 * 60;
/** The consoles' clock in these tests: nine days after the first change (2025-01-01). */
export const CONSOLE_NOW = new Date('2025-01-09T12:00:00Z');

export interface ConsoleWorld {
  /** contextWorld's vpc-ctx (and vpc-bare, vpc-html of the same account and region). */
  target: TargetRef;
  /** cn-beijing's vpc-old: 4 links on day 0, 3 from day 3, 1 from day 6. */
  history: TargetRef;
}

export async function consoleWorld(store: Store): Promise<ConsoleWorld> {
  const { target } = await contextWorld(store);
  await scan(store, { ...target, vpcId: 'vpc-html' }, ['i-html'], { minute: 50 });
  await store.upsertInstances({
    account: target.account,
    regionId: target.regionId,
    instances: [instanceAttrs('i-html', { name: HTML_NAME, tags: { [HTML_TAG_KEY]: HTML_TAG_VALUE } })],
    seenAt: at(51),
  });
  const history: TargetRef = { account: target.account, regionId: 'cn-beijing', vpcId: 'vpc-old' };
  await scan(store, history, ['i-a1', 'i-a2', 'i-a3', 'i-a4'], { minute: 60 });
  await scan(store, history, ['i-a1', 'i-a2', 'i-a3'], { minute: 3 * DAY });
  await scan(store, history, ['i-a1'], { minute: 6 * DAY });
  return { target, history };
}

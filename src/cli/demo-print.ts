/**
 * The demo's lines: each change as it lands, with the instance's name and who made it when known.
 * ActionTrail shows a call a little after it is made, so a change usually prints before its cause
 * is settled: it prints at once, and one more line follows when the cause arrives (`followUp`,
 * which the demo calls every second). Names and identities are escaped and clipped as the read
 * commands print them (report.ts `shorten`).
 */
import { causeText, eventView } from '../context-view.js';
import type { ChangesNotification, EventRow, Store } from '../store/index.js';
import type { CliIo } from './program.js';
import { shorten } from './report.js';

const clock = (d: Date) => d.toISOString().slice(11, 19);

/** The words of `classiclink-sync events`: a change is `added` or `removed`, a first scan `(baseline)`. */
const changeWord = (e: Pick<EventRow, 'change'>) => (e.change === 'added' ? '+ added  ' : '- removed');

export interface DemoPrinter {
  /** Prints the changes of an applied run (its NOTIFY). */
  printRun(note: ChangesNotification): Promise<void>;
  /** Prints the causes settled since, of changes printed while theirs was pending. */
  followUp(): Promise<void>;
}

export interface DemoPrinterOptions {
  store: Pick<Store, 'contextForRun'>;
  out: CliIo['stdout'];
  /** ATTRIBUTION=on: causes are looked for, so they are printed (and waited for). */
  attribution: boolean;
  /**
   * How long a change's cause is followed: ATTRIBUTION_WINDOW and a margin (it is settled, found
   * or not, by then — unless attribution is failing, and then the demo stops asking).
   */
  followMs: number;
  now?: () => Date;
}

export function demoPrinter(opts: DemoPrinterOptions): DemoPrinter {
  const { store, out, attribution } = opts;
  const now = opts.now ?? (() => new Date());
  /** Run id → ids of its events printed while their cause was pending, and when. */
  const waiting = new Map<string, { ids: Set<string>; since: number }>();
  const who = (e: EventRow) => causeText(eventView(e).cause, { detectedAt: e.detectedAt, field: shorten });

  return {
    async printRun(note) {
      if (note.baseline) {
        out.write(
          `${clock(now())}  added (baseline)  ${note.regionId}  ${note.vpcId}: ${note.added} link(s), the first scan of this VPC\n`,
        );
        return;
      }
      const pending = new Set<string>();
      for (const e of (await store.contextForRun(note.runId)).events) {
        const name = e.instance?.name ? `  ${shorten(e.instance.name)}` : '';
        const cause = attribution && e.cause !== undefined ? `  ${who(e)}` : '';
        if (attribution && !e.baseline && e.cause === undefined) pending.add(e.id);
        out.write(
          `${clock(e.detectedAt)}  ${changeWord(e)}  ${e.regionId}  ${e.vpcId}  ${e.instanceId}${name}  (run ${e.syncRunId})${cause}\n`,
        );
      }
      if (pending.size > 0) waiting.set(note.runId, { ids: pending, since: now().getTime() });
    },

    async followUp() {
      for (const [runId, { ids, since }] of waiting) {
        if (now().getTime() - since > opts.followMs) {
          waiting.delete(runId);
          continue;
        }
        for (const e of (await store.contextForRun(runId)).events) {
          if (!ids.has(e.id) || e.cause === undefined) continue;
          ids.delete(e.id);
          out.write(`${clock(now())}    ↳ ${e.instanceId} ${e.change}: ${who(e)}\n`);
        }
        if (ids.size === 0) waiting.delete(runId);
      }
    },
  };
}

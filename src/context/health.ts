/**
 * Recording a context source's check (`context_health`) and saying so in the log once per change:
 * a permission that is missing is one warning when it goes missing, not one per cycle, and one
 * info line when it comes back.
 */
import type { Logger } from '../log.js';
import type { ContextSource, ContextState, Store } from '../store/index.js';

export interface HealthCheck {
  account: string;
  regionId: string;
  source: ContextSource;
  state: ContextState;
  /** What is wrong, in one line (the API's code and what it means); null when ok. */
  detail: string | null;
}

/** What each source's missing permission means, for the warning and `status`. */
const NEEDS: Record<ContextSource, string> = {
  instances: 'ecs:DescribeInstances (instance names, tags, released instances)',
  actiontrail: 'actiontrail:LookupEvents (who made each change)',
};

export function permissionDetail(source: ContextSource, code: string, what: string): string {
  return `${what} (${code}): the identity lacks ${NEEDS[source]}`;
}

/**
 * Records the check. A failure to record is logged, never thrown: health is context about context,
 * and must not turn a successful job into a failed one.
 */
export async function recordHealth(
  store: Pick<Store, 'recordContextCheck'>,
  check: HealthCheck,
  at: Date,
  log: Logger,
): Promise<void> {
  try {
    const { changed, previous } = await store.recordContextCheck({ ...check, at });
    if (!changed) return;
    const line = { source: check.source, account: check.account, regionId: check.regionId };
    if (check.state === 'ok') {
      if (previous !== null) log.info({ ...line, previous }, `${check.source} context readable again`);
    } else {
      log.warn(
        { ...line, state: check.state, detail: check.detail },
        `${check.source} context: ${check.detail}`,
      );
    }
  } catch (err) {
    log.warn({ source: check.source, err: String(err) }, 'could not record context health');
  }
}

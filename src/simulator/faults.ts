/**
 * Fault decisions, all from one seeded stream so a seed replays the same faults for the same
 * sequence of requests. Each configured rate draws once per request, in a fixed order.
 */
import { type Rng, stream } from './random.js';
import type { Faults, MalformedKind } from './types.js';

export type InjectedError = 'reset' | 'throttle' | 'unavailable' | 'internal';

export class FaultEngine {
  private readonly rng: Rng;
  current: Faults;

  constructor(seed: number, faults: Faults) {
    this.rng = stream(seed, 'faults');
    this.current = faults;
  }

  /** Faults apply to this action (all actions unless `actions` is set). */
  appliesTo(action: string): boolean {
    const only = this.current.actions;
    return only === undefined || only.includes(action);
  }

  /** Extra delay for this answer, in ms. */
  delayMs(): number {
    const f = this.current;
    let ms = f.latencyMs ?? 0;
    if (f.latencySpikeMs && this.hit(f.latencySpikeRate)) ms += f.latencySpikeMs;
    return ms;
  }

  /** A transport or server error to answer instead of the real one, if any. */
  pickError(): InjectedError | undefined {
    const f = this.current;
    if (this.hit(f.resetRate)) return 'reset';
    if (this.hit(f.throttleRate)) return 'throttle';
    if (this.hit(f.unavailableRate)) return 'unavailable';
    if (this.hit(f.internalErrorRate)) return 'internal';
    return undefined;
  }

  /** Whether to corrupt this successful answer, and how. */
  pickMalformed(): MalformedKind | undefined {
    const f = this.current;
    return this.hit(f.malformedRate) ? (f.malformedKind ?? 'non-json') : undefined;
  }

  private hit(rate: number | undefined): boolean {
    if (!rate) return false;
    // Rate 1 never draws: "always" must not depend on the stream.
    return rate >= 1 || this.rng() < rate;
  }
}

/**
 * Shutdown order in one place, in two phases. First the drains: everything that takes new work (the
 * workers, the schedule keeper, the periodic checks, the alert loop) is told to stop at the same
 * moment and finishes what it is doing side by side, so nothing keeps taking work while another
 * part drains and the drains' waits overlap instead of adding up. Then the releasers (pools,
 * connections, servers): a stack run last-in-first-out. Every drain and every releaser runs even
 * when an earlier one fails; the first error is rethrown at the end. `close()` is memoised so a
 * double SIGTERM, or a test's teardown after a signal, gets the same promise.
 */

export type Releaser = () => Promise<void> | void;

type OnError = (name: string, err: unknown) => void;

export class Lifecycle {
  readonly #drains: { name: string; release: Releaser }[] = [];
  readonly #releasers: { name: string; release: Releaser }[] = [];
  #closing: Promise<void> | undefined;
  readonly #abort = new AbortController();

  /** Aborted as soon as `close()` starts: long waits listen to it. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Registers something to release at shutdown; released in reverse order of registration. */
  add(name: string, release: Releaser): void {
    if (this.#closing) throw new Error(`cannot add ${name}: shutting down`);
    this.#releasers.push({ name, release });
  }

  /**
   * Registers something that takes new work. At shutdown every drain is started at once, before
   * any releaser, and the releasers run when all of them have settled. A drain stops taking work
   * at its first step, without awaiting anything first.
   */
  addDrain(name: string, drain: Releaser): void {
    if (this.#closing) throw new Error(`cannot add ${name}: shutting down`);
    this.#drains.push({ name, release: drain });
  }

  close(onError?: OnError): Promise<void> {
    this.#closing ??= this.#run(onError);
    return this.#closing;
  }

  async #run(onError?: OnError): Promise<void> {
    this.#abort.abort();
    const errors: unknown[] = [];
    const failed = (name: string, err: unknown) => {
      onError?.(name, err);
      errors.push(err);
    };
    // Every drain starts in this same tick: none waits for another to begin.
    const drains = this.#drains.splice(0).map(async ({ name, release }) => {
      try {
        await release();
      } catch (err) {
        failed(name, err);
      }
    });
    await Promise.all(drains);
    while (this.#releasers.length > 0) {
      const r = this.#releasers.pop();
      if (!r) break;
      try {
        await r.release();
      } catch (err) {
        failed(r.name, err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

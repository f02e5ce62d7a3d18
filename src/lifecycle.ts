/**
 * Shutdown order in one place: a stack of releasers run last-in-first-out, every one of them even
 * when an earlier one fails, the first error rethrown at the end. `close()` is memoised so a double
 * SIGTERM, or a test's teardown after a signal, gets the same promise.
 */

export type Releaser = () => Promise<void> | void;

export class Lifecycle {
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

  close(onError?: (name: string, err: unknown) => void): Promise<void> {
    this.#closing ??= this.#runReleasers(onError);
    return this.#closing;
  }

  async #runReleasers(onError?: (name: string, err: unknown) => void): Promise<void> {
    this.#abort.abort();
    let first: unknown;
    let failed = false;
    while (this.#releasers.length > 0) {
      const r = this.#releasers.pop();
      if (!r) break;
      try {
        await r.release();
      } catch (err) {
        onError?.(r.name, err);
        if (!failed) {
          failed = true;
          first = err;
        }
      }
    }
    if (failed) throw first;
  }
}

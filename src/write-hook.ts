/**
 * "This request is being written to its socket now": an undici interceptor that runs a request's
 * hook at that moment — synchronously before undici writes the request line, after any wait for a
 * free connection of the pool and after the connect.
 *
 * The rate limiter restarts a lane's one-second window when the call goes out (limiter.ts). Marked
 * from our code just before `request()`, "goes out" was up to ~23 ms early on a loaded host (the
 * request still had to pass undici's queue and the event loop before reaching the socket), and
 * that slack added to the spread between two calls of one lane as the API sees them.
 */
import type { Dispatcher } from 'undici';

const hooks = new WeakMap<object, () => void>();

/** Runs `hook` when the request made with these very options is written (each time, if retried). */
export function onWrite<T extends object>(requestOptions: T, hook: () => void): T {
  hooks.set(requestOptions, hook);
  return requestOptions;
}

/** Forwards every callback to the request's own handler, running the hook first at the start. */
class WriteHooked implements Dispatcher.DispatchHandler {
  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly hook: () => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.hook();
    this.inner.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[2],
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3],
  ): void {
    this.inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2],
    statusMessage?: string,
  ): void {
    this.inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.inner.onResponseData?.(controller, chunk);
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1],
  ): void {
    this.inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.inner.onResponseError?.(controller, error);
  }
}

/** `pool.compose(writeHooks)`: requests registered with `onWrite` get their hook run. */
export const writeHooks: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  const hook = hooks.get(opts);
  return dispatch(opts, hook ? new WriteHooked(handler, hook) : handler);
};

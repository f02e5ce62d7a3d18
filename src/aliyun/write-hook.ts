/**
 * "This request is being written to its socket now": an undici interceptor that runs a request's
 * hook at that moment — synchronously before undici writes the request line, after any wait for a
 * free connection of the pool and after the connect.
 *
 * The rate limiter restarts a lane's one-second window when the call goes out (limiter.ts). Marked
 * from our code just before `request()`, "goes out" is early on a loaded host (the request still
 * has to pass undici's queue and the event loop before reaching the socket), and that slack would
 * add to the spread between two calls of one lane as the API sees them.
 */
import type { Dispatcher } from 'undici';

const hooks = new WeakMap<object, () => void>();

/** Runs `hook` when the request made with these very options is written (each time, if retried). */
export function onWrite<T extends object>(requestOptions: T, hook: () => void): T {
  hooks.set(requestOptions, hook);
  return requestOptions;
}

type Handler = Dispatcher.DispatchHandler;
/** The arguments of one of a handler's callbacks. */
type Args<K extends keyof Handler> = Parameters<NonNullable<Handler[K]>>;

/** Forwards every callback to the request's own handler, running the hook first at the start. */
class WriteHooked implements Handler {
  constructor(
    private readonly inner: Handler,
    private readonly hook: () => void,
  ) {}

  onRequestStart(...args: Args<'onRequestStart'>): void {
    this.hook();
    this.inner.onRequestStart?.(...args);
  }

  onRequestUpgrade(...args: Args<'onRequestUpgrade'>): void {
    this.inner.onRequestUpgrade?.(...args);
  }

  onResponseStart(...args: Args<'onResponseStart'>): void {
    this.inner.onResponseStart?.(...args);
  }

  onResponseData(...args: Args<'onResponseData'>): void {
    this.inner.onResponseData?.(...args);
  }

  onResponseEnd(...args: Args<'onResponseEnd'>): void {
    this.inner.onResponseEnd?.(...args);
  }

  onResponseError(...args: Args<'onResponseError'>): void {
    this.inner.onResponseError?.(...args);
  }
}

/** `pool.compose(writeHooks)`: requests registered with `onWrite` get their hook run. */
export const writeHooks: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  const hook = hooks.get(opts);
  return dispatch(opts, hook ? new WriteHooked(handler, hook) : handler);
};

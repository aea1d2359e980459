// node:http2's request() binds an AsyncResource per stream, and Node 20's bind() also
// defines the deprecated `asyncResource` accessor pair (DEP0172) on every bound function:
// two util.deprecate() wrappers, each with a prototype change. Measured on one HTTP/2 call
// (client CPU, 50 in flight): ~45 µs with it, ~26 µs without. The threads that make gRPC
// calls use a bind() that binds the same way (runInAsyncScope, the same `this`, arguments
// and `length`) without that property; nothing in the gateway reads it.
import { AsyncResource } from 'node:async_hooks';

type Fn = (...args: unknown[]) => unknown;
let installed = false;

/** Once per thread (GrpcH2Channel calls it). */
export function useLeanAsyncBind(): void {
  if (installed) return;
  installed = true;
  const lean = function bind(this: AsyncResource, fn: Fn, thisArg?: unknown) {
    if (typeof fn !== 'function') throw Object.assign(new TypeError('The "fn" argument must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
    const resource = this;
    const bound = thisArg === undefined
      ? function (this: unknown, ...args: unknown[]) { return resource.runInAsyncScope(fn, this, ...args); }
      : resource.runInAsyncScope.bind(resource, fn, thisArg);
    Object.defineProperty(bound, 'length', { configurable: true, enumerable: false, value: fn.length, writable: false });
    return bound;
  };
  // a frozen AsyncResource.prototype keeps Node's own: slower, not wrong
  try { (AsyncResource.prototype as unknown as { bind: unknown }).bind = lean; } catch { /* read-only */ }
}

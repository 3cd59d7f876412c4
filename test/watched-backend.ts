// A loaded backend wrapped so that a test sees what it allocates: "refused before any allocation" is then checked
// on the allocations themselves, not on how long the refusal took.
import { loadBackend, type Backend, type BackendName } from '../src/backend/index.js';

/**
 * The backend `name`, with the size (floats) of every alloc recorded in `allocs`, and any alloc of more than
 * `ceiling` floats refused before it happens, so that a regression fails at once instead of allocating GiBs.
 * `largest()` is the most floats one read or write moved between the host and the backend while `counting()`
 * said so (what crosses to the host, for the buffer paths' tests).
 */
export function watchedBackend(name: BackendName, ceiling = Infinity, counting: () => boolean = () => false):
  { be: Backend; allocs: number[]; largest: () => number } {
  const real = loadBackend(name);
  const allocs: number[] = [];
  let largest = 0;
  const note = (n: number) => { if (counting()) largest = Math.max(largest, n); };
  const be = new Proxy(real, {
    get(t, k) {
      if (k === 'alloc') {
        return (n: number) => {
          allocs.push(n);
          if (n > ceiling) throw new Error(`test: an allocation of ${n} floats was attempted`);
          return t.alloc(n);
        };
      }
      if (k === 'read') {
        return (...a: Parameters<Backend['read']>) => { const out = t.read(...a); note(out.length); return out; };
      }
      if (k === 'write') {
        return (...a: Parameters<Backend['write']>) => { note(a[1].length); return t.write(...a); };
      }
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { be, allocs, largest: () => largest };
}

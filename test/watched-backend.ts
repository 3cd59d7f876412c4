// A loaded backend wrapped so that a test sees what it allocates: "refused before any allocation" is then checked
// on the allocations themselves, not on how long the refusal took.
import { loadBackend, type Backend, type BackendName } from '../src/backend/index.js';

/**
 * The backend `name`, with the size (floats) of every alloc recorded in `allocs`, and any alloc of more than
 * `ceiling` floats refused before it happens, so that a regression fails at once instead of allocating GiBs.
 */
export function watchedBackend(name: BackendName, ceiling = Infinity): { be: Backend; allocs: number[] } {
  const real = loadBackend(name);
  const allocs: number[] = [];
  const be = new Proxy(real, {
    get(t, k) {
      if (k === 'alloc') {
        return (n: number) => {
          allocs.push(n);
          if (n > ceiling) throw new Error(`test: an allocation of ${n} floats was attempted`);
          return t.alloc(n);
        };
      }
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { be, allocs };
}

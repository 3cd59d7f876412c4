// Backend buffers tied to the lifetime of the JavaScript object that owns them. A WASM backend's buffers live in
// its linear memory, which the garbage collector does not see: an object dropped without dispose() would hold
// its share of that memory for the life of the process. An OwnedBuffers set is freed by its owner's dispose()
// or, when the owner is collected without one, by a FinalizationRegistry.
import type { Backend, Buf } from '../backend/types.js';

// `[Symbol.dispose]` methods (layers, losses, optimizers) and the training loop's `using` need the symbol; Node
// before 20.4 and some browsers lack it. TypeScript's documented shim: define it only where it is missing.
(Symbol as { dispose?: symbol }).dispose ??= Symbol('Symbol.dispose');

/**
 * Frees the buffers of owners collected without dispose(). A callback runs as a task of its own, never inside a
 * kernel call or a layer method, and must not throw (that would be an uncaught exception in the user's process).
 */
const reclaim = new FinalizationRegistry<OwnedBuffers>((set) => {
  try {
    set.freeAll();
  } catch {
    // Nothing can be reported from here; a buffer the backend no longer knows is already gone.
  }
});

export class OwnedBuffers {
  private readonly bufs = new Set<Buf>();

  /**
   * `owner` is the object whose collection frees these buffers; the set never references it (a held value that
   * reached its target would keep it alive forever). The native backend's buffers are JavaScript Float32Arrays
   * that the collector reclaims with their owner, so there the set is not registered: registering would only
   * keep those arrays alive until the callback ran. `adopted`: buffers already allocated that the set now owns.
   */
  constructor(readonly backend: Backend, owner: object, adopted: readonly Buf[] = []) {
    for (const b of adopted) this.bufs.add(b);
    if (backend.name !== 'native') reclaim.register(owner, this, this);
  }

  /** A zero-filled buffer of n floats, freed with the set. */
  alloc(n: number): Buf {
    const b = this.backend.alloc(n);
    this.bufs.add(b);
    return b;
  }

  /** Frees one buffer of the set now. */
  free(b: Buf): void {
    if (this.bufs.delete(b)) this.backend.free(b);
  }

  /** Frees every buffer; the set stays usable and its owner watched. A free that fails does not stop the others. */
  freeAll(): void {
    const bufs = [...this.bufs];
    this.bufs.clear();
    let failed: { error: unknown } | null = null;
    for (const b of bufs) {
      try {
        this.backend.free(b);
      } catch (error) {
        failed ??= { error };
      }
    }
    if (failed) throw failed.error;
  }

  /** Frees every buffer and stops watching the owner (what its dispose() calls: nothing is freed twice). */
  dispose(): void {
    reclaim.unregister(this);
    this.freeAll();
  }
}

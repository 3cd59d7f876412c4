// The one size policy of every backend, checked before anything is allocated: a layer checks the sizes of its
// parameters when it is made and the sizes a call will need before it allocates the call's buffers, and each
// backend checks every buffer it is asked for. A request over a limit is an E_ARGUMENT naming what was asked
// and the limit, never a RangeError from the engine or seconds of work on gigabytes that fail at the end.
import { RnnkitError } from '../errors.js';
import { GATES, type CellKind } from './types.js';

/**
 * Most floats in one buffer: 2^30 (4 GiB), the whole address space of a wasm32 memory, so a size that the WASM
 * backend can never hold is refused on native too instead of working on one backend only. (Node 20 itself would
 * let the native backend allocate up to 2^32 floats, lazily, and fail later while copying a result.)
 */
export const MAX_BUFFER_FLOATS = 2 ** 30;

/**
 * Most floats T * B * max(I, G * H) in one recurrent kernel call (2^29, 2 GiB): the kernels hold byte offsets of
 * the per-step pre-activations and of x in 32-bit signed integers (assembly/), and native/addon.cc refuses the
 * same sizes (kMaxCellFloats).
 */
export const MAX_CELL_FLOATS = 2 ** 29;

const LIMIT = `${MAX_BUFFER_FLOATS} (2^30, 4 GiB of float32) a buffer may hold`;

/** A buffer of `n` floats for `what`, or E_ARGUMENT: not a size, or over MAX_BUFFER_FLOATS. */
export function checkBufferFloats(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new RnnkitError('E_ARGUMENT', `${what}: expected a non-negative integer number of floats, found ${n}`);
  }
  if (n > MAX_BUFFER_FLOATS) throw new RnnkitError('E_ARGUMENT', `${what}: needs ${n} floats, more than the ${LIMIT}`);
}

/** Parameters of a layer: each [name, shape] checked before the first is allocated. `what` names the options. */
export function checkParameterSizes(what: string, shapes: readonly (readonly [string, readonly number[]])[]): void {
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n > MAX_BUFFER_FLOATS) {
      throw new RnnkitError('E_ARGUMENT', `${what}: ${name} [${shape.join(', ')}] needs ${n} floats, more than the ${LIMIT}`);
    }
  }
}

/** The sizes of one recurrent kernel call (T time, B batch, I input, H hidden), or E_ARGUMENT naming `what`. */
export function checkCellSizes(what: string, kind: CellKind, T: number, B: number, I: number, H: number): void {
  const G = GATES[kind];
  const n = T * B * Math.max(I, G * H);
  if (n > MAX_CELL_FLOATS) {
    throw new RnnkitError(
      'E_ARGUMENT',
      `${what}: a ${kind} call with T=${T}, B=${B}, I=${I}, H=${H} needs T * B * max(I, G * H) = ${n} floats ` +
        `per buffer, more than the ${MAX_CELL_FLOATS} (2^29) the recurrent kernels index; use shorter sequences or ` +
        `smaller batches`,
    );
  }
}

// What every backend does before a data-movement kernel (types.ts, MoveOps): the sizes, offsets and strides
// checked and each extent checked against its buffer, so a wrong one is an E_ARGUMENT or E_SHAPE naming it, never
// an out-of-bounds access in C++ or WASM; and dropout's probability turned into the integer threshold and float
// scale the kernels compare and multiply with (the same numbers on every backend).
import { RnnkitError } from '../errors.js';
import { MAX_BUFFER_FLOATS } from './limits.js';
import type { Buf } from './types.js';

function count(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_BUFFER_FLOATS) {
    throw new RnnkitError('E_ARGUMENT', `${op} ${name}: expected an integer from 0 to ${MAX_BUFFER_FLOATS}, found ${String(v)}`);
  }
}

function within(op: string, name: string, b: Buf, end: number): void {
  if (end > b.length) {
    throw new RnnkitError('E_SHAPE', `${op} buffer ${name}: expected at least ${end} floats, found ${b.length}`);
  }
}

function distinct(op: string, a: Buf, b: Buf, names: string): void {
  if (a === b) throw new RnnkitError('E_ARGUMENT', `${op}: ${names} must be different buffers`);
}

/** The floats a strided block reaches: offset + (rows - 1) stride + cols, 0 when empty. */
const reach = (rows: number, cols: number, offset: number, stride: number) =>
  rows > 0 && cols > 0 ? offset + (rows - 1) * stride + cols : 0;

export const checkMoves = {
  /** write/read: returns n (the rest of the buffer when undefined). */
  span(op: 'write' | 'read', x: Buf, offset: number, n: number | undefined): number {
    count(op, 'offset', offset);
    const len = n ?? x.length - offset;
    count(op, 'n', len);
    within(op, 'x', x, offset + len);
    return len;
  },
  fill(n: number, x: Buf, value: number, offset: number): void {
    count('fill', 'n', n);
    count('fill', 'offset', offset);
    if (typeof value !== 'number') throw new RnnkitError('E_ARGUMENT', `fill value: expected a number, found ${typeof value}`);
    within('fill', 'x', x, offset + n);
  },
  copy(rows: number, cols: number, src: Buf, srcOffset: number, srcStride: number, dst: Buf, dstOffset: number, dstStride: number): void {
    for (const [k, v] of [['rows', rows], ['cols', cols], ['srcOffset', srcOffset], ['srcStride', srcStride],
      ['dstOffset', dstOffset], ['dstStride', dstStride]] as const) count('copy', k, v);
    distinct('copy', src, dst, 'src and dst');
    within('copy', 'src', src, reach(rows, cols, srcOffset, srcStride));
    within('copy', 'dst', dst, reach(rows, cols, dstOffset, dstStride));
  },
  transpose01(A: number, B: number, C: number, src: Buf, dst: Buf): void {
    for (const [k, v] of [['A', A], ['B', B], ['C', C]] as const) count('transpose01', k, v);
    distinct('transpose01', src, dst, 'src and dst');
    within('transpose01', 'src', src, A * B * C);
    within('transpose01', 'dst', dst, A * B * C);
  },
  /** interleave and deinterleave: `pair` is the [R, 2H] buffer. */
  interleave(op: 'interleave' | 'deinterleave', R: number, H: number, fwd: Buf, rev: Buf, pair: Buf): void {
    count(op, 'R', R);
    count(op, 'H', H);
    distinct(op, fwd, rev, 'fwd and rev');
    distinct(op, fwd, pair, `fwd and ${op === 'interleave' ? 'out' : 'inp'}`);
    distinct(op, rev, pair, `rev and ${op === 'interleave' ? 'out' : 'inp'}`);
    within(op, 'fwd', fwd, R * H);
    within(op, 'rev', rev, R * H);
    within(op, op === 'interleave' ? 'out' : 'inp', pair, 2 * R * H);
  },
  /** Checks the arguments and returns what the kernels take: [threshold, scale] (native/moves.h, dropout). */
  dropout(n: number, p: number, seed: number, x: Buf, y: Buf): [number, number] {
    count('dropout', 'n', n);
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) {
      throw new RnnkitError('E_ARGUMENT', `dropout p: expected a probability in [0, 1), found ${String(p)}`);
    }
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new RnnkitError('E_ARGUMENT', `dropout seed: expected an integer in [0, 2^32), found ${String(seed)}`);
    }
    within('dropout', 'x', x, n);
    within('dropout', 'y', y, n);
    return dropoutConstants(p);
  },
};

/**
 * [threshold, scale] of dropout probability p: number u (a 32-bit integer) drops its element when u < threshold.
 * u / 2^32 < p exactly when u < ceil(p 2^32) (p 2^32 is exact in float64), so the masks are those of
 * `Random.next() < p`; scale is 1 / (1 - p) rounded to float32, the factor a Float32Array mask held.
 */
export function dropoutConstants(p: number): [number, number] {
  return [Math.ceil(p * 2 ** 32), Math.fround(1 / (1 - p))];
}

/** The WASM module's data-movement exports (assembly/moves.ts): pointers are byte offsets, sizes floats. */
export interface WasmMoveKernels {
  // Thread tid's part of the pass on nt threads; called directly with 0, 1 (more: a job, src/backend/wasm-core.ts).
  fill(tid: number, nt: number, n: number, x: number, value: number): void;
  copyStrided(
    tid: number, nt: number, rows: number, cols: number, src: number, srcStride: number, dst: number, dstStride: number,
  ): void;
  transpose01(tid: number, nt: number, A: number, B: number, C: number, src: number, dst: number): void;
  interleave(tid: number, nt: number, R: number, H: number, fwd: number, rev: number, out: number): void;
  deinterleave(tid: number, nt: number, R: number, H: number, inp: number, fwd: number, rev: number): void;
  dropout(tid: number, nt: number, n: number, seed: number, threshold: number, scale: number, x: number, y: number): void;
}

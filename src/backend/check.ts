// Buffer-length checks every backend runs before a kernel touches memory, so a wrong size is an E_SHAPE
// error naming the buffer, never an out-of-bounds read in C++ or WASM.
import { RnnkitError } from '../errors.js';
import { checkCellSizes, MAX_BUFFER_FLOATS } from './limits.js';
import type { Buf, CellBackwardArgs, CellDims, CellForwardArgs } from './types.js';
import { CELL_TABLE, GATES, workspaceFloats } from './types.js';

function need(name: string, buf: Buf | null, n: number): void {
  if (buf === null) throw new RnnkitError('E_SHAPE', `kernel buffer ${name}: expected ${n} floats, found none`);
  if (buf.length < n) {
    throw new RnnkitError('E_SHAPE', `kernel buffer ${name}: expected at least ${n} floats, found ${buf.length}`);
  }
}

function checkDims(d: CellDims): void {
  for (const k of ['T', 'B', 'I', 'H'] as const) {
    const v = d[k];
    if (!Number.isInteger(v) || v < 1 || v > 2 ** 28) {
      throw new RnnkitError('E_ARGUMENT', `kernel size ${k}: expected a positive integer, found ${v}`);
    }
  }
  if (!(d.kind in GATES)) throw new RnnkitError('E_ARGUMENT', `unknown cell kind ${String(d.kind)}`);
  checkCellSizes('kernel sizes', d.kind, d.T, d.B, d.I, d.H);
}

/** What forward and backward both read: the sizes, the inputs, the weights and (backward) forward's y. */
function checkCellInputs(a: CellForwardArgs | CellBackwardArgs): void {
  checkDims(a);
  const { T, B, I, H } = a;
  const GH = GATES[a.kind] * H;
  need('x', a.x, T * B * I);
  need('h0', a.h0, B * H);
  if (CELL_TABLE[a.kind].hasCellState) need('c0', a.c0, B * H);
  need('wih', a.wih, GH * I);
  need('whh', a.whh, GH * H);
  need('bih', a.bih, GH);
  need('bhh', a.bhh, GH);
  need('y', a.y, T * B * H);
}

export function checkForwardArgs(a: CellForwardArgs): void {
  checkCellInputs(a);
  const { T, B, H } = a;
  need('hT', a.hT, B * H);
  if (CELL_TABLE[a.kind].hasCellState) need('cT', a.cT, B * H);
  if (a.ws !== null) need('ws', a.ws, workspaceFloats(a.kind, T, B, H));
}

export function checkBackwardArgs(a: CellBackwardArgs): void {
  checkCellInputs(a);
  const { T, B, I, H } = a;
  const GH = GATES[a.kind] * H;
  need('dy', a.dy, T * B * H);
  need('dhT', a.dhT, B * H);
  need('dx', a.dx, T * B * I);
  need('dh0', a.dh0, B * H);
  need('dwih', a.dwih, GH * I);
  need('dwhh', a.dwhh, GH * H);
  need('dbih', a.dbih, GH);
  need('dbhh', a.dbhh, GH);
  if (CELL_TABLE[a.kind].hasCellState) {
    need('dcT', a.dcT, B * H);
    need('dc0', a.dc0, B * H);
  }
  if (CELL_TABLE[a.kind].workspacePerTBH > 0) need('ws', a.ws, workspaceFloats(a.kind, T, B, H));
}

export function checkGemmArgs(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: Buf, lda: number, B: Buf, ldb: number, C: Buf, ldc: number,
): void {
  for (const [k, v] of [['M', M], ['N', N], ['K', K]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RnnkitError('E_ARGUMENT', `sgemm ${k}: expected a non-negative integer, found ${v}`);
  }
  const [ar, ac] = transA ? [K, M] : [M, K];
  const [br, bc] = transB ? [N, K] : [K, N];
  if (lda < ac || ldb < bc || ldc < N) throw new RnnkitError('E_ARGUMENT', `sgemm leading dimensions too small`);
  if (M === 0 || N === 0) return;
  // C is written while A and B are still read (by several threads on the native backend)
  if (C === A || C === B) throw new RnnkitError('E_ARGUMENT', `sgemm: C must be a different buffer from A and B`);
  if (ar > 0) need('A', A, (ar - 1) * lda + ac);
  if (br > 0) need('B', B, (br - 1) * ldb + bc);
  need('C', C, (M - 1) * ldc + N);
}

function dims(op: string, sizes: Record<string, number>): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1 || v > MAX_BUFFER_FLOATS) {
      throw new RnnkitError('E_ARGUMENT', `${op} size ${k}: expected a positive integer up to ${MAX_BUFFER_FLOATS}, found ${v}`);
    }
  }
}
const opt = (name: string, b: Buf | null, n: number) => { if (b !== null) need(name, b, n); };
/** An output written while the inputs are still read must be none of them. */
function outputApart(op: string, out: Buf, outName: string, inputs: Record<string, Buf | null>): void {
  for (const [name, b] of Object.entries(inputs)) {
    if (b === out) throw new RnnkitError('E_ARGUMENT', `${op}: ${outName} must be a different buffer from ${name}`);
  }
}

/** Buffers that are all read and written (an optimizer's): no two of them one buffer (outputApart, pairwise). */
function allApart(op: string, bufs: readonly [string, Buf][]): void {
  bufs.forEach(([name, b], i) => outputApart(op, b, name, Object.fromEntries(bufs.slice(i + 1))));
}

/** Length checks for the dense operations, shared by every backend. */
export const checkDense = {
  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void {
    dims('linearForward', { N, I, O });
    need('x', x, N * I); need('w', w, O * I); opt('b', b, O); need('y', y, N * O);
    outputApart('linearForward', y, 'y', { x, w, b });
  },
  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void {
    dims('linearBackward', { N, I, O });
    need('x', x, N * I); need('w', w, O * I); need('dy', dy, N * O); opt('dx', dx, N * I); need('dw', dw, O * I); opt('db', db, O);
    if (dx) outputApart('linearBackward', dx, 'dx', { x, w, dy, dw, db });
    outputApart('linearBackward', dw, 'dw', { x, w, dy, db });
    if (db) outputApart('linearBackward', db, 'db', { x, w, dy });
  },
  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null): void {
    dims('softmaxCrossEntropy', { N, C });
    need('logits', logits, N * C); need('targets', targets, N); opt('dlogits', dlogits, N * C);
  },
  embedding(N: number, D: number, V: number, ids: Buf, table: Buf, rows: Buf): void {
    dims('embedding', { N, D, V });
    need('ids', ids, N); need('table', table, V * D); need('rows', rows, N * D);
  },
  elementwise(op: string, n: number, ...bufs: [string, Buf][]): void {
    if (!Number.isInteger(n) || n < 0 || n > MAX_BUFFER_FLOATS) {
      throw new RnnkitError('E_ARGUMENT', `${op} size n: expected a non-negative integer up to ${MAX_BUFFER_FLOATS}, found ${n}`);
    }
    for (const [name, b] of bufs) need(name, b, n);
  },
  /** Adam's parameters, gradients and moments: four different buffers (the kernels read and write them as such). */
  adamStep(n: number, p: Buf, g: Buf, m: Buf, v: Buf): void {
    const bufs: [string, Buf][] = [['p', p], ['g', g], ['m', m], ['v', v]];
    checkDense.elementwise('adamStep', n, ...bufs);
    allApart('adamStep', bufs);
  },
  /** SGD's buffers: p and g different, and buf different from both where momentum uses it. */
  sgdStep(n: number, p: Buf, g: Buf, buf: Buf, momentum: number): void {
    const bufs: [string, Buf][] = [['p', p], ['g', g], ['buf', buf]];
    checkDense.elementwise('sgdStep', n, ...bufs);
    allApart('sgdStep', momentum !== 0 ? bufs : bufs.slice(0, 2));
  },
};

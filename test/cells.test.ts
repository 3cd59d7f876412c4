// The table of cell kinds (src/backend/cells.ts) against the kernel contract (native/KERNELS.md) and the C++
// enum, and the layers the library builds from it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { CELL_CODES, CELL_KINDS, CELL_TABLE, GATES, workspaceFloats, type CellKind } from '../src/backend/types.js';
import { makeRecurrent } from '../src/nn/recurrent.js';
import { BACKENDS, smallToTwo, worstTanhUlps } from './helpers.js';

describe('the table of cell kinds', () => {
  it('gives the codes of native/kernels.h (enum CellKind)', () => {
    const header = readFileSync(new URL('../native/kernels.h', import.meta.url), 'utf8');
    const body = /enum\s+CellKind\s*\{([^}]*)\}/.exec(header)?.[1];
    expect(body, 'enum CellKind in native/kernels.h').toBeDefined();
    // kRnnTanh = 0 -> rnn_tanh: 0
    const codes = Object.fromEntries(body!.split(',').map((e) => {
      const [name, value] = e.split('=').map((x) => x.trim());
      return [name!.slice(1).replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase()), Number(value)];
    }));
    expect(CELL_CODES).toEqual(codes);
  });

  it('gives the codes of the CUDA kernels (native/cuda/cell_ops.h enum Kind)', () => {
    const header = readFileSync(new URL('../native/cuda/cell_ops.h', import.meta.url), 'utf8');
    const body = /enum\s+Kind\s*:\s*int\s*\{([^}]*)\}/.exec(header)?.[1];
    expect(body, 'enum Kind in native/cuda/cell_ops.h').toBeDefined();
    // RNN_TANH = 0 -> rnn_tanh: 0
    const codes = Object.fromEntries(body!.split(',').map((e) => {
      const [name, value] = e.split('=').map((x) => x.trim());
      return [name!.toLowerCase(), Number(value)];
    }));
    expect(CELL_CODES).toEqual(codes);
  });

  it('gives the gates (PyTorch order), workspace and cell state of the kernel contract', () => {
    const rows = Object.fromEntries(CELL_KINDS.map((k) => [k, { ...CELL_TABLE[k], G: GATES[k] }]));
    expect(rows).toEqual({
      lstm: { code: 2, gates: ['i', 'f', 'g', 'o'], G: 4, workspacePerTBH: 5, hasCellState: true },
      gru: { code: 3, gates: ['r', 'z', 'n'], G: 3, workspacePerTBH: 4, hasCellState: false },
      rnn_tanh: { code: 0, gates: ['h'], G: 1, workspacePerTBH: 0, hasCellState: false },
      rnn_relu: { code: 1, gates: ['h'], G: 1, workspacePerTBH: 0, hasCellState: false },
    });
    expect(workspaceFloats('lstm', 3, 2, 5)).toBe(5 * 3 * 2 * 5);
    expect(workspaceFloats('gru', 3, 2, 5)).toBe(4 * 3 * 2 * 5);
    expect(workspaceFloats('rnn_relu', 3, 2, 5)).toBe(0);
  });

  it('lists the kinds in the order users see them (lstm, the default, first)', () => {
    expect(CELL_KINDS).toEqual(['lstm', 'gru', 'rnn_tanh', 'rnn_relu']);
  });

  it('cannot be changed at run time', () => {
    expect(Object.isFrozen(CELL_KINDS) && Object.isFrozen(GATES) && Object.isFrozen(CELL_CODES)).toBe(true);
  });
});

describe.each(BACKENDS)('makeRecurrent on %s', (backend) => {
  it.each(CELL_KINDS)('%s: the layer of that kind, G*H rows per weight, a cell state only where the table says', (kind: CellKind) => {
    const I = 3, H = 4, B = 2, T = 5;
    const layer = makeRecurrent(kind, { inputSize: I, hiddenSize: H, backend, seed: 1 });
    try {
      expect(layer.kind).toBe(kind);
      const shapes = Object.fromEntries(Object.entries(layer.stateDict()).map(([k, t]) => [k, t.shape]));
      const GH = GATES[kind] * H;
      expect(shapes).toEqual({ weight_ih_l0: [GH, I], weight_hh_l0: [GH, H], bias_ih_l0: [GH], bias_hh_l0: [GH] });
      const r = layer.forward({ data: new Float32Array(T * B * I).fill(0.5), shape: [T, B, I] });
      expect(r.output.shape).toEqual([T, B, H]);
      expect(r.cN !== undefined && r.cN !== null).toBe(CELL_TABLE[kind].hasCellState);
    } finally {
      layer.dispose();
    }
  });

  // A lookup that sees Object.prototype took "toString" for a kind: the native addon then failed on its code,
  // and WASM ran a kernel with an undefined one.
  it.each(['toString', 'constructor', '__proto__', 'transformer'])('the kernels refuse the kind "%s" (E_ARGUMENT)', (kind) => {
    const be = loadBackend(backend);
    const bufs = Array.from({ length: 10 }, () => be.alloc(1));
    const [x, h0, wih, whh, bih, bhh, y, hT] = bufs;
    try {
      expect(() => be.cellForward({
        kind: kind as CellKind, T: 1, B: 1, I: 1, H: 1, reverse: false,
        x: x!, h0: h0!, c0: null, wih: wih!, whh: whh!, bih: bih!, bhh: bhh!, y: y!, hT: hT!, cT: null, ws: null,
      })).toThrow(expect.objectContaining({ code: 'E_ARGUMENT', message: `unknown cell kind ${kind}` }));
    } finally {
      for (const b of bufs) be.free(b);
    }
  });

  // The kernels' tanh (native vtanh, WASM vecmath.ts): a tanh RNN step from zeros with W_ih = 1 (identity) and
  // no biases gives h = tanh(x) exactly as the kernels compute it. PyTorch's tanh is accurate near 0 in relative
  // terms; (1 - e^{-2x}) / (1 + e^{-2x}) was not (3e-3 relative at 1e-5).
  it('tanh is within 3 ulp of Math.tanh from 1e-12 to 2, both signs (a tanh RNN step with W_ih = 1)', () => {
    const be = loadBackend(backend);
    const B = 67, H = 61; // rows and units with tails
    const xs = smallToTwo(B * H);
    const eye = new Float32Array(H * H);
    for (let u = 0; u < H; u++) eye[u * H + u] = 1;
    const bufs = { x: be.alloc(B * H), h0: be.alloc(B * H), wih: be.alloc(H * H), whh: be.alloc(H * H), bih: be.alloc(H), bhh: be.alloc(H), y: be.alloc(B * H), hT: be.alloc(B * H) };
    try {
      be.write(bufs.x, xs);
      be.write(bufs.wih, eye);
      be.cellForward({ kind: 'rnn_tanh', T: 1, B, I: H, H, reverse: false, ...bufs, c0: null, cT: null, ws: null });
      const worst = worstTanhUlps(xs, be.read(bufs.y));
      expect(worst.ulps, `at ${worst.at}`).toBeLessThanOrEqual(3);
      // NaN stays NaN, ±Infinity gives ±1 (one per row: a NaN or an infinity times W_ih's zeros is NaN)
      const special = new Float32Array(B * H);
      [NaN, Infinity, -Infinity, 1e-30, -1e-30].forEach((v, r) => { special[r * H] = v; });
      be.write(bufs.x, special);
      be.cellForward({ kind: 'rnn_tanh', T: 1, B, I: H, H, reverse: false, ...bufs, c0: null, cT: null, ws: null });
      const y = be.read(bufs.y);
      expect([0, 1, 2, 3, 4].map((r) => y[r * H])).toEqual([NaN, 1, -1, Math.fround(1e-30), Math.fround(-1e-30)]);
    } finally {
      for (const b of Object.values(bufs)) be.free(b);
    }
  });

  it('refuses a kind not in the table (E_ARGUMENT naming the known ones)', () => {
    expect(() => makeRecurrent('transformer' as CellKind, { inputSize: 1, hiddenSize: 1, backend }))
      .toThrow(expect.objectContaining({ code: 'E_ARGUMENT', message: expect.stringMatching(/expected one of lstm, gru, rnn_tanh, rnn_relu/) }));
  });
});

// The native and WASM backends agree with each other on cases larger than the PyTorch vectors.
import { availableParallelism } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { CELL_KINDS, CELL_TABLE } from '../src/backend/types.js';
import { loadBackend } from '../src/backend/index.js';
import { tensor } from '../src/tensor.js';
import { BACKENDS, expectClose, makeLayer, randomData } from './helpers.js';

const both = BACKENDS.includes('native') && BACKENDS.includes('wasm');
const KINDS = CELL_KINDS;

describe.skipIf(!both)('native and WASM agree', () => {
  // The WASM backend starts its worker threads in the background; wait so these sizes run threaded.
  beforeAll(async () => {
    const wasm = loadBackend('wasm') as unknown as { threadsReady?: () => Promise<boolean> };
    const ready = await wasm.threadsReady?.();
    if (availableParallelism() >= 2 && process.env.RNNKIT_WASM_THREADS !== '1') expect(ready).toBe(true);
  });

  it.each(KINDS)('%s: T=23, B=24, I=45, H=100, 2 layers, bidirectional, batchFirst (large enough for threads)', (kind) => {
    const T = 23, B = 24, I = 45, H = 100, L = 2, D = 2;
    const x = tensor(randomData(B * T * I, 11), [B, T, I]);
    const S = [L * D, B, H];
    const h0 = tensor(randomData(L * D * B * H, 12), S);
    const c0 = CELL_TABLE[kind].hasCellState ? tensor(randomData(L * D * B * H, 13), S) : undefined;
    const dOutput = tensor(randomData(B * T * D * H, 14), [B, T, D * H]);
    const dhN = tensor(randomData(L * D * B * H, 15), S);
    const dcN = c0 ? tensor(randomData(L * D * B * H, 16), S) : undefined;
    const results = (['native', 'wasm'] as const).map((backend) => {
      const m = makeLayer(kind, { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, batchFirst: true, backend, seed: 5 });
      const out = m.forward(x, c0 ? { h0, c0 } : { h0 });
      const g = m.backward({ dOutput, dhN, ...(dcN ? { dcN } : {}) });
      const grads = m.grads();
      m.dispose();
      return { out, g, grads };
    });
    const [n, w] = results as [typeof results[0], typeof results[0]];
    expect(w.out.output.shape).toEqual([B, T, D * H]);
    expectClose('output', w.out.output.data, n.out.output.data, 1e-5, 2e-6);
    expectClose('hN', w.out.hN.data, n.out.hN.data, 1e-5, 2e-6);
    if (c0) expectClose('cN', w.out.cN!.data, n.out.cN!.data, 1e-5, 2e-6);
    expectClose('dInput', w.g.dInput.data, n.g.dInput.data, 1e-4, 1e-5);
    expectClose('dh0', w.g.dh0.data, n.g.dh0.data, 1e-4, 1e-5);
    for (const name of Object.keys(n.grads)) expectClose(name, w.grads[name]!.data, n.grads[name]!.data, 1e-4, 1e-4);
  });
});

// Inference keeps packed weights between calls; a weight changed in place through a parameter's view (as an
// optimizer or a user does) must be seen by the next call, whichever thread's units the change touches.
describe.each(BACKENDS)('inference on the %s backend sees weights changed in place', (backend) => {
  it.each(['lstm', 'gru'] as const)('%s: first and last rows of weight_hh and weight_ih', (kind) => {
    const T = 7, B = 4, I = 33, H = 160;
    const x = tensor(randomData(T * B * I, 21), [T, B, I]);
    const m = makeLayer(kind, { inputSize: I, hiddenSize: H, backend, seed: 9 }).eval();
    const before = m.forward(x).output.data.slice();
    m.forward(x); // the packing is kept now
    const byName = Object.fromEntries(m.parameters().map((p) => [p.name, p]));
    const whh = byName.weight_hh_l0!.value.view(), wih = byName.weight_ih_l0!.value.view();
    whh[whh.length - 1]! += 0.75; // the last unit of the last gate: the last thread's rows
    wih[3]! -= 0.5;               // the first unit of the first gate: the first thread's rows
    const after = m.forward(x).output.data.slice();
    const fresh = makeLayer(kind, { inputSize: I, hiddenSize: H, backend, seed: 1 }).eval();
    fresh.loadStateDict(m.stateDict());
    const expected = fresh.forward(x).output.data;
    expectClose('output after the change', after, expected, 1e-6, 1e-7);
    expect(after.some((v, i) => Math.abs(v - before[i]!) > 1e-4)).toBe(true);
    m.dispose();
    fresh.dispose();
  });
});

// The optimizers and clipGradNorm as a PyTorch user writes them: the parameters carry their backend, so
// `new Adam(lstm.parameters(), { lr })` works; the older `(params, backend, opts)` form keeps working.
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { Linear } from '../src/nn/linear.js';
import { newParameter, type Parameter } from '../src/nn/module.js';
import { LSTM } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { Adam, AdamW, clipGradNorm, SGD, type Optimizer } from '../src/train/optim.js';
import { BACKENDS, errorOf, randomData } from './helpers.js';

describe.each(BACKENDS)('optimizer signatures on the %s backend', (backend) => {
  /** Mean squared distance of an LSTM + Linear's last output from a target, over `steps` optimizer steps. */
  function lossCurve(makeOpt: (params: readonly Parameter[]) => Optimizer, clip?: (ps: readonly Parameter[]) => void): number[] {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 8, seed: 1, backend });
    const head = new Linear({ inFeatures: 8, outFeatures: 1, seed: 2, backend });
    const x = tensor(randomData(5 * 4 * 3, 7), [5, 4, 3]);
    const target = [0.5, -0.5, 0.25, -0.25];
    const params = [...lstm.parameters(), ...head.parameters()];
    const opt = makeOpt(params);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) {
      const { output } = lstm.forward(x);
      const last = tensor(output.data.slice(4 * 4 * 8), [4, 8]);
      const y = head.forward(last);
      let loss = 0;
      const dy = new Float32Array(4);
      for (let b = 0; b < 4; b++) {
        const d = y.data[b]! - target[b]!;
        loss += (d * d) / 4;
        dy[b] = (2 * d) / 4;
      }
      losses.push(loss);
      const dLast = head.backward(tensor(dy, [4, 1]));
      const dOutput = new Float32Array(5 * 4 * 8);
      dOutput.set(dLast.data, 4 * 4 * 8);
      lstm.backward({ dOutput: tensor(dOutput, [5, 4, 8]) });
      clip?.(params);
      opt.step();
      opt.zeroGrad();
    }
    opt.dispose();
    lstm.dispose();
    head.dispose();
    return losses;
  }

  it('new Adam(lstm.parameters(), { lr: 1e-2 }) trains: the loss goes down', () => {
    const losses = lossCurve((ps) => new Adam(ps, { lr: 1e-2 }));
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
  });

  it('AdamW and SGD take (params, opts) too, and clipGradNorm takes (params, maxNorm)', () => {
    const makers: ((ps: readonly Parameter[]) => Optimizer)[] = [
      (ps) => new AdamW(ps, { lr: 1e-2 }),
      (ps) => new SGD(ps, { lr: 1, momentum: 0.9 }),
    ];
    for (const make of makers) {
      const losses = lossCurve(make, (ps) => clipGradNorm(ps, 1));
      expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
    }
  });

  it('(params, opts) and (params, backend, opts) give bit-identical updates', () => {
    const be = loadBackend(backend);
    const a = lossCurve((ps) => new Adam(ps, { lr: 1e-2, betas: [0.8, 0.99] }), (ps) => clipGradNorm(ps, 0.5));
    const b = lossCurve((ps) => new Adam(ps, be, { lr: 1e-2, betas: [0.8, 0.99] }), (ps) => clipGradNorm(ps, be, 0.5));
    expect(a).toEqual(b);
  });

  it('optimizers default their options when given the parameters alone', () => {
    const p = newParameter(loadBackend(backend), 'p', [3]);
    expect(new Adam([p]).lr).toBe(1e-3);
    expect(new AdamW([p]).weightDecay).toBe(0.01);
    expect(new SGD([p]).lr).toBe(0.01);
  });

  it('an empty parameter list, or something not a list, is E_ARGUMENT', () => {
    for (const f of [() => new Adam([], { lr: 1e-2 }), () => new SGD([]), () => new AdamW([], loadBackend(backend))]) {
      const e = errorOf(f);
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.message).toMatch(/params: expected at least one parameter, found an empty list/);
    }
    const e = errorOf(() => new Adam({ lr: 1e-2 } as unknown as Parameter[]));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/params: expected an array of parameters/);
    expect(errorOf(() => clipGradNorm([], 1)).message).toMatch(/params: expected at least one parameter/);
  });

  it('a maxNorm that is not a positive number is E_ARGUMENT', () => {
    const p = newParameter(loadBackend(backend), 'p', [3]);
    for (const bad of [0, -1, NaN, '1']) {
      const e = errorOf(() => clipGradNorm([p], bad as number));
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.message).toMatch(/maxNorm: expected a positive number/);
    }
  });

  it('a parameter without a backend needs the backend argument, and then works', () => {
    const be = loadBackend(backend);
    const bare: Parameter = { name: 'w', shape: [2], value: be.alloc(2), grad: be.alloc(2) } as unknown as Parameter;
    const e = errorOf(() => new Adam([bare], { lr: 1e-2 }));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/params\[0\] \(w\): no backend known; pass one: new Adam\(params, backend, opts\)/);
    bare.grad.view().set([1, -1]);
    new Adam([bare], be, { lr: 0.5 }).step();
    expect(bare.value.view()[0]).toBeCloseTo(-0.5, 5);
    expect(bare.value.view()[1]).toBeCloseTo(0.5, 5);
  });
});

describe.runIf(BACKENDS.includes('native') && BACKENDS.includes('wasm'))('parameters of two backends', () => {
  it('mixed backends among the parameters are E_ARGUMENT naming both', () => {
    const a = newParameter(loadBackend('native'), 'a', [2]);
    const b = newParameter(loadBackend('wasm'), 'b', [2]);
    for (const f of [() => new Adam([a, b], { lr: 1e-2 }), () => new SGD([a, b]), () => clipGradNorm([a, b], 1)]) {
      const e = errorOf(f);
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.message).toMatch(/params\[1\] \(b\): on the wasm backend, params\[0\] \(a\) on the native backend/);
    }
  });

  it('a backend argument other than the parameters\' is E_ARGUMENT', () => {
    const a = newParameter(loadBackend('native'), 'a', [2]);
    const e = errorOf(() => new Adam([a], loadBackend('wasm'), { lr: 1e-2 }));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/params\[0\] \(a\): on the native backend, the backend argument is wasm/);
  });
});

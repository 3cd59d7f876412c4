// Finite differences against backward(): the analytic gradients of L = sum(output*R) + sum(hN*S) (+ sum(cN*U))
// must match central differences of the float32 forward, for parameters, the input and the initial states.
import { CELL_KINDS, CELL_TABLE } from '../src/backend/types.js';
import { describe, expect, it } from 'vitest';
import type { RecurrentBase } from '../src/nn/recurrent.js';
import { tensor, type Tensor } from '../src/tensor.js';
import { BACKENDS, makeLayer, dot, randomData } from './helpers.js';

const KINDS = CELL_KINDS;
const T = 3, B = 2, I = 4, H = 5, L = 2;
const EPS = 1e-2;

describe.each(BACKENDS)('finite-difference gradients on the %s backend', (backend) => {
  it.each(KINDS)('%s, 2 layers, bidirectional', (kind) => {
    const layer: RecurrentBase = makeLayer(kind, { inputSize: I, hiddenSize: H, numLayers: L, bidirectional: true, backend, seed: 7 });
    const S = [L * 2, B, H];
    const x = tensor(randomData(T * B * I, 1), [T, B, I]);
    const h0 = tensor(randomData(L * 2 * B * H, 2), S);
    const c0 = CELL_TABLE[kind].hasCellState ? tensor(randomData(L * 2 * B * H, 3), S) : undefined;
    const R = randomData(T * B * 2 * H, 4), Sg = randomData(L * 2 * B * H, 5), U = randomData(L * 2 * B * H, 6);
    const state = (h: Tensor, c?: Tensor) => (c ? { h0: h, c0: c } : { h0: h });
    const loss = (xx: Tensor, h: Tensor, c?: Tensor) => {
      const o = layer.forward(xx, state(h, c));
      return dot(o.output.data, R) + dot(o.hN.data, Sg) + (o.cN ? dot(o.cN.data, U) : 0);
    };

    layer.forward(x, state(h0, c0));
    const g = layer.backward({
      dOutput: tensor(R, [T, B, 2 * H]), dhN: tensor(Sg, S), ...(c0 ? { dcN: tensor(U, S) } : {}),
    });
    const grads = layer.grads();
    layer.eval();

    const checks: [string, Float32Array, Float32Array, () => number][] = [];
    for (const p of layer.parameters()) checks.push([p.name, p.value.view(), grads[p.name]!.data, () => loss(x, h0, c0)]);
    checks.push(['input', x.data, g.dInput.data, () => loss(x, h0, c0)]);
    checks.push(['h0', h0.data, g.dh0.data, () => loss(x, h0, c0)]);
    if (c0) checks.push(['c0', c0.data, g.dc0!.data, () => loss(x, h0, c0)]);

    let compared = 0, kinks = 0;
    for (const [name, values, analytic, f] of checks) {
      // A spread of entries, always including the one with the largest gradient.
      const idx = new Set([0, values.length - 1, Math.floor(values.length / 2)]);
      let big = 0;
      for (let i = 0; i < analytic.length; i++) if (Math.abs(analytic[i]!) > Math.abs(analytic[big]!)) big = i;
      idx.add(big);
      for (const i of idx) {
        const v = values[i]!;
        const mid = f();
        values[i] = v + EPS; const up = f();
        values[i] = v - EPS; const down = f();
        values[i] = v;
        const fd = (up - down) / (2 * EPS);
        const a = analytic[i]!;
        // A ReLU kink inside [v - EPS, v + EPS] makes the two one-sided slopes disagree: no smooth answer there.
        if (kind === 'rnn_relu' && Math.abs((up - mid) - (mid - down)) / EPS > 0.01 * (1 + Math.abs(a))) { kinks++; continue; }
        expect(Math.abs(fd - a), `${name}[${i}]: finite difference ${fd}, backward ${a}`).toBeLessThan(3e-3 + 1e-2 * Math.abs(a));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(40);
    expect(kinks).toBeLessThan(compared / 4);
    layer.dispose();
  });
});

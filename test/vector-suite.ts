// The PyTorch vector tests for one backend (tools/make-vectors.py): forward outputs and final states, then every
// gradient after backward from the stored upstream gradients. Used by vectors.test.ts (every backend) and
// isa-generic.test.ts (the native addon's portable kernels).
import { describe, expect, it } from 'vitest';
import type { BackendName } from '../src/backend/index.js';
import { expectClose, loadVector, makeLayer, toTensor, VECTOR_FILES } from './helpers.js';

const FWD = { rtol: 1e-5, atol: 1e-6 };
const GRAD = { rtol: 1e-4, atol: 1e-5 };

export function defineVectorTests(backend: BackendName): void {
  it('has vectors to run', () => expect(VECTOR_FILES.length).toBeGreaterThanOrEqual(19));

  describe.each(VECTOR_FILES)('%s', (file) => {
    const v = loadVector(file);
    const setup = () => {
      const layer = makeLayer(v.kind, { ...v.config, backend });
      layer.loadStateDict(Object.fromEntries(Object.entries(v.params).map(([k, t]) => [k, toTensor(t)])));
      const state = { ...(v.h0 ? { h0: toTensor(v.h0) } : {}), ...(v.c0 ? { c0: toTensor(v.c0) } : {}) };
      return { layer, out: layer.forward(toTensor(v.input), state) };
    };

    it('forward matches PyTorch', () => {
      const { layer, out } = setup();
      expect(out.output.shape).toEqual(v.output.shape);
      expectClose('output', out.output.data, v.output.data, FWD.rtol, FWD.atol);
      expectClose('hN', out.hN.data, v.hN.data, FWD.rtol, FWD.atol);
      if (v.cN) expectClose('cN', out.cN!.data, v.cN.data, FWD.rtol, FWD.atol);
      else expect(out.cN).toBeUndefined();
      layer.dispose();
    });

    it('inference mode gives the same forward', () => {
      const { layer, out } = setup();
      layer.eval();
      const again = layer.forward(toTensor(v.input), {
        ...(v.h0 ? { h0: toTensor(v.h0) } : {}), ...(v.c0 ? { c0: toTensor(v.c0) } : {}),
      });
      expect(Array.from(again.output.data)).toEqual(Array.from(out.output.data));
      layer.dispose();
    });

    it('backward matches PyTorch', () => {
      const { layer } = setup();
      const g = layer.backward({
        dOutput: toTensor(v.dOutput),
        dhN: toTensor(v.dhN),
        ...(v.dcN ? { dcN: toTensor(v.dcN) } : {}),
      });
      expectClose('dInput', g.dInput.data, v.grads.input.data, GRAD.rtol, GRAD.atol);
      if (v.grads.h0) expectClose('dh0', g.dh0.data, v.grads.h0.data, GRAD.rtol, GRAD.atol);
      if (v.grads.c0) expectClose('dc0', g.dc0!.data, v.grads.c0.data, GRAD.rtol, GRAD.atol);
      const grads = layer.grads();
      expect(Object.keys(grads).sort()).toEqual(Object.keys(v.grads.params).sort());
      for (const [name, t] of Object.entries(v.grads.params)) {
        expect(grads[name]!.shape, name).toEqual(t.shape);
        expectClose(name, grads[name]!.data, t.data, GRAD.rtol, GRAD.atol);
      }
      layer.dispose();
    });
  });
}

// The PyTorch vector tests for one backend (tools/make-vectors.py): forward outputs and final states, then every
// gradient after backward from the stored upstream gradients. Used by vectors.test.ts (every backend) and
// isa-generic.test.ts (the native addon's portable kernels). The checks themselves live in tools/vector-check.mjs,
// shared with tools/run-vectors.mjs, which runs them without vitest (the arm64 addon under qemu).
import { describe, expect, it } from 'vitest';
import type { BackendName } from '../src/backend/index.js';
import { makeRecurrent } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { CHECKS, loadVector, vectorFiles } from '../tools/vector-check.mjs';

const lib = { makeRecurrent, tensor };
const files = vectorFiles();

export function defineVectorTests(backend: BackendName): void {
  it('has vectors to run', () => expect(files.length).toBeGreaterThanOrEqual(19));

  describe.each(files)('%s', (file) => {
    const v = loadVector(file);
    for (const [name, check] of CHECKS) {
      it(name, () => expect(check(lib, v, backend)).toEqual([]));
    }
  });
}

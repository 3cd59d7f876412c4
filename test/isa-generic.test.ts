// The native addon's portable kernels (4-wide vectors: SSE2 here, NEON on arm64) on the PyTorch vectors: the
// build every CPU without AVX2 runs, which the other files never reach on a machine that has AVX2.
import './isa-generic.setup.js';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { BACKENDS } from './helpers.js';
import { defineVectorTests } from './vector-suite.js';

describe.runIf(BACKENDS.includes('native'))('PyTorch vectors on the native backend, portable kernels', () => {
  it('runs the generic kernels', () => expect(loadBackend('native').details).toMatch(/generic kernels/));
  defineVectorTests('native');
});

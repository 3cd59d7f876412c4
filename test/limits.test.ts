// One size policy for every backend (src/backend/limits.ts), checked before anything is allocated: a layer or a
// call too large for it is an E_ARGUMENT naming the option and the sizes, at once, never a bare RangeError after
// gigabytes of allocation or seconds of work. The backend under test is wrapped so that any allocation larger
// than the test allows fails at once instead of happening (before the fix these tests failed on that, quickly).
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { MAX_BUFFER_FLOATS, MAX_CELL_FLOATS } from '../src/backend/limits.js';
import { RnnkitError } from '../src/errors.js';
import { Linear } from '../src/nn/linear.js';
import { GRU, LSTM } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { BACKENDS } from './helpers.js';
import { watchedBackend as watched } from './watched-backend.js';

function argumentError(f: () => unknown): RnnkitError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RnnkitError);
    expect((e as RnnkitError).code).toBe('E_ARGUMENT');
    return e as RnnkitError;
  }
  throw new Error('expected an E_ARGUMENT error, nothing was thrown');
}

describe.each(BACKENDS)('size limits on %s', (name) => {
  it('new LSTM({ inputSize: 1, hiddenSize: 2**15 }) is an E_ARGUMENT naming hiddenSize, before any allocation', () => {
    const { be, allocs } = watched(name, 2 ** 24);
    const e = argumentError(() => new LSTM({ inputSize: 1, hiddenSize: 2 ** 15, backend: be }));
    expect(e.message).toMatch(/hiddenSize/);
    expect(e.message).toContain(String(4 * 2 ** 15 * 2 ** 15)); // weight_hh_l0 [131072, 32768]
    expect(e.message).toContain(String(MAX_BUFFER_FLOATS));
    expect(allocs).toEqual([]);
  });

  it('a stacked layer whose upper weight_ih is too large is refused before allocating the first layer', () => {
    const { be, allocs } = watched(name, 2 ** 24);
    const e = argumentError(() => new GRU({ inputSize: 1, hiddenSize: 15000, numLayers: 2, bidirectional: true, backend: be }));
    expect(e.message).toMatch(/weight_ih_l1/);
    expect(allocs).toEqual([]);
  });

  it('new Linear with a weight over the limit is an E_ARGUMENT naming inFeatures and outFeatures', () => {
    const { be, allocs } = watched(name, 2 ** 24);
    const e = argumentError(() => new Linear({ inFeatures: 2 ** 16, outFeatures: 2 ** 15, backend: be }));
    expect(e.message).toMatch(/inFeatures.*outFeatures|outFeatures.*inFeatures/);
    expect(allocs).toEqual([]);
  });

  it('Linear 1 -> 2^20 on 2049 rows is an E_ARGUMENT naming the output size, before allocating it', () => {
    const { be, allocs } = watched(name, 2 ** 24);
    const lin = new Linear({ inFeatures: 1, outFeatures: 2 ** 20, backend: be });
    allocs.length = 0;
    const e = argumentError(() => lin.forward(tensor(new Float32Array(2049), [2049, 1])));
    expect(e.message).toMatch(/Linear output/);
    expect(e.message).toContain(String(2049 * 2 ** 20));
    expect(allocs).toEqual([]);
    lin.dispose();
  });

  it('a recurrent forward over the kernels\' cap is refused before its run buffers are allocated', () => {
    // T*B*4H = 2^29 + 4096 floats: over MAX_CELL_FLOATS; before the fix the layer allocated y and the workspace
    // (2.5 GiB for this LSTM) and only then did the kernel call refuse the sizes.
    const { be, allocs } = watched(name, 2 ** 24);
    const lstm = new LSTM({ inputSize: 1, hiddenSize: 1024, backend: be });
    allocs.length = 0;
    const T = 2 ** 17 + 1;
    const e = argumentError(() => lstm.forward(tensor(new Float32Array(T), [T, 1, 1])));
    expect(e.message).toMatch(/T \* B \* max\(I, G \* H\)/);
    expect(e.message).toContain(String(T * 4 * 1024));
    expect(e.message).toContain(String(MAX_CELL_FLOATS));
    expect(allocs).toEqual([]);
    lstm.dispose();
  });

  it('the backend itself refuses a buffer over the limit with E_ARGUMENT', () => {
    const be = loadBackend(name);
    const e = argumentError(() => be.alloc(MAX_BUFFER_FLOATS + 1));
    expect(e.message).toContain(String(MAX_BUFFER_FLOATS + 1));
    expect(e.message).toContain(String(MAX_BUFFER_FLOATS));
  });
});

// Shared test helpers: the backends under test, the PyTorch vectors, and closeness checks.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { BackendName } from '../src/backend/index.js';
import { RnnkitError } from '../src/errors.js';
import type { CellKind } from '../src/backend/types.js';
import { tensor, type Tensor } from '../src/tensor.js';

/**
 * Backends the suite runs on. Both must load (CI builds both); RNNKIT_TEST_BACKENDS=wasm narrows the list
 * for a machine without a C++ toolchain.
 */
export const BACKENDS: BackendName[] = (process.env.RNNKIT_TEST_BACKENDS ?? 'native,wasm')
  .split(',').map((s) => s.trim()).filter(Boolean) as BackendName[];

export interface JsonTensor { shape: number[]; data: number[] }
export interface Vector {
  name: string;
  kind: CellKind;
  config: { inputSize: number; hiddenSize: number; numLayers: number; bidirectional: boolean; batchFirst: boolean };
  input: JsonTensor;
  h0: JsonTensor | null;
  c0: JsonTensor | null;
  params: Record<string, JsonTensor>;
  output: JsonTensor;
  hN: JsonTensor;
  cN: JsonTensor | null;
  dOutput: JsonTensor;
  dhN: JsonTensor;
  dcN: JsonTensor | null;
  grads: { input: JsonTensor; h0: JsonTensor | null; c0: JsonTensor | null; params: Record<string, JsonTensor> };
}

const vectorDir = fileURLToPath(new URL('./vectors/', import.meta.url));
export const VECTOR_FILES = readdirSync(vectorDir).filter((f) => f.endsWith('.json')).sort();
export const loadVector = (file: string): Vector => JSON.parse(readFileSync(vectorDir + file, 'utf8')) as Vector;

export const toTensor = (j: JsonTensor): Tensor => tensor(Float32Array.from(j.data), j.shape);

/** The layer of a cell kind: the library's own factory, so the tests build what the task models build. */
export { makeRecurrent as makeLayer } from '../src/nn/recurrent.js';

/** Deterministic uniform [-1, 1) data. */
export function randomData(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** n floats from 1e-12 to 2, log-spaced, alternating in sign: where tanh cancels if computed carelessly. */
export function smallToTwo(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * 10 ** (-12 + (12.3 * i) / n));
}

/** The largest error of got[i] against Math.tanh(x[i]) in units in the last place of a float32, and its x. */
export function worstTanhUlps(x: ArrayLike<number>, got: ArrayLike<number>): { ulps: number; at: number } {
  let worst = { ulps: 0, at: NaN };
  for (let i = 0; i < x.length; i++) {
    const want = Math.tanh(x[i]!);
    const ulps = Math.abs(got[i]! - want) / 2 ** (Math.floor(Math.log2(Math.abs(want))) - 23);
    if (!(ulps <= worst.ulps)) worst = { ulps, at: x[i]! };
  }
  return worst;
}

/** Every element within atol + rtol * |expected|; reports the worst element on failure. */
export function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!, a = actual[i]!;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) { worst = i; worstExcess = excess; }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** The RnnkitError `fn` throws; the test fails when it throws nothing or something else. */
export function errorOf(fn: () => unknown): RnnkitError {
  try {
    fn();
  } catch (e) {
    expect(e, 'expected an RnnkitError').toBeInstanceOf(RnnkitError);
    return e as RnnkitError;
  }
  return expect.fail('expected an error');
}

/** Σ a[i] b[i] in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * A fit option refused: for each bad value, `fit(value)` (on a fresh model it disposes of after) must reject with
 * an E_ARGUMENT RnnkitError whose message names the option.
 */
export async function expectFitOptionRefused(option: string, values: readonly unknown[],
  fit: (value: unknown) => { run: Promise<unknown>; dispose(): void }): Promise<void> {
  for (const value of values) {
    const f = fit(value);
    const e = await f.run.catch((x: unknown) => x);
    const shown = typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value);
    expect(e, shown).toBeInstanceOf(RnnkitError);
    expect((e as RnnkitError).code, shown).toBe('E_ARGUMENT');
    expect((e as RnnkitError).message, shown).toMatch(new RegExp(option));
    f.dispose();
  }
}

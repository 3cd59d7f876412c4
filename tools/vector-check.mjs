// The PyTorch vector checks (tools/make-vectors.py writes test/vectors/*.json) with no test runner in them: each
// check returns the list of what disagrees, empty when all agrees. test/vector-suite.ts runs them under vitest on
// every backend; tools/run-vectors.mjs runs them in plain Node (the arm64 addon under qemu, a GPU machine).
// The library comes in as `lib` ({ makeRecurrent, tensor }): the tests pass src/, the script passes dist/.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Forward outputs and states: within atol + rtol * |expected| (DESIGN.md, "Numbers"). */
export const FWD = { rtol: 1e-5, atol: 1e-6 };
/** Gradients. */
export const GRAD = { rtol: 1e-4, atol: 1e-5 };

const vectorDir = fileURLToPath(new URL('../test/vectors/', import.meta.url));
/** The vector files, sorted. */
export const vectorFiles = () => readdirSync(vectorDir).filter((f) => f.endsWith('.json')).sort();
export const loadVector = (file) => JSON.parse(readFileSync(vectorDir + file, 'utf8'));

/** null when every element is within atol + rtol * |expected|, else a line naming the worst element. */
export function mismatch(what, actual, expected, rtol, atol) {
  if (actual.length !== expected.length) return `${what}: length ${actual.length}, expected ${expected.length}`;
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i], a = actual[i];
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    // !(x <= 0) also catches NaN
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) { worst = i; worstExcess = excess; }
  }
  return worst < 0 ? null
    : `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`;
}

const sameShape = (what, actual, expected) =>
  JSON.stringify(actual) === JSON.stringify(expected) ? null : `${what}: shape [${actual}], expected [${expected}]`;

const toTensor = (lib, j) => lib.tensor(Float32Array.from(j.data), j.shape);

/** The vector's layer on `backend` with its parameters loaded. */
function makeLayer(lib, v, backend) {
  const layer = lib.makeRecurrent(v.kind, { ...v.config, backend });
  layer.loadStateDict(Object.fromEntries(Object.entries(v.params).map(([k, t]) => [k, toTensor(lib, t)])));
  return layer;
}

const initialState = (lib, v) =>
  ({ ...(v.h0 ? { h0: toTensor(lib, v.h0) } : {}), ...(v.c0 ? { c0: toTensor(lib, v.c0) } : {}) });

const found = (list) => list.filter((x) => x !== null);

/** Forward output, hN and cN against PyTorch's. */
export function checkForward(lib, v, backend) {
  const layer = makeLayer(lib, v, backend);
  try {
    const out = layer.forward(toTensor(lib, v.input), initialState(lib, v));
    return found([
      sameShape('output', out.output.shape, v.output.shape),
      mismatch('output', out.output.data, v.output.data, FWD.rtol, FWD.atol),
      mismatch('hN', out.hN.data, v.hN.data, FWD.rtol, FWD.atol),
      v.cN ? (out.cN ? mismatch('cN', out.cN.data, v.cN.data, FWD.rtol, FWD.atol) : 'cN: missing')
        : (out.cN === undefined ? null : 'cN: returned for a cell without one'),
    ]);
  } finally {
    layer.dispose();
  }
}

/** Inference mode (eval(), no workspace) gives bit for bit the training-mode forward. */
export function checkInference(lib, v, backend) {
  const layer = makeLayer(lib, v, backend);
  try {
    const train = Array.from(layer.forward(toTensor(lib, v.input), initialState(lib, v)).output.data);
    layer.eval();
    const infer = Array.from(layer.forward(toTensor(lib, v.input), initialState(lib, v)).output.data);
    const i = infer.findIndex((x, k) => !Object.is(x, train[k]));
    return infer.length !== train.length ? [`inference output: length ${infer.length}, expected ${train.length}`]
      : i < 0 ? [] : [`inference output: element ${i} is ${infer[i]}, training mode gave ${train[i]}`];
  } finally {
    layer.dispose();
  }
}

/** Every gradient after backward from the stored upstream gradients. */
export function checkBackward(lib, v, backend) {
  const layer = makeLayer(lib, v, backend);
  try {
    layer.forward(toTensor(lib, v.input), initialState(lib, v));
    const g = layer.backward({
      dOutput: toTensor(lib, v.dOutput),
      dhN: toTensor(lib, v.dhN),
      ...(v.dcN ? { dcN: toTensor(lib, v.dcN) } : {}),
    });
    const out = [
      mismatch('dInput', g.dInput.data, v.grads.input.data, GRAD.rtol, GRAD.atol),
      v.grads.h0 ? mismatch('dh0', g.dh0.data, v.grads.h0.data, GRAD.rtol, GRAD.atol) : null,
      v.grads.c0 ? (g.dc0 ? mismatch('dc0', g.dc0.data, v.grads.c0.data, GRAD.rtol, GRAD.atol) : 'dc0: missing') : null,
    ];
    const grads = layer.grads();
    const names = Object.keys(grads).sort(), want = Object.keys(v.grads.params).sort();
    if (names.join() !== want.join()) out.push(`parameter gradients: [${names}], expected [${want}]`);
    for (const [name, t] of Object.entries(v.grads.params)) {
      if (!grads[name]) continue;
      out.push(sameShape(name, grads[name].shape, t.shape), mismatch(name, grads[name].data, t.data, GRAD.rtol, GRAD.atol));
    }
    return found(out);
  } finally {
    layer.dispose();
  }
}

/** The checks by the names the tests give them. */
export const CHECKS = [
  ['forward matches PyTorch', checkForward],
  ['inference mode gives the same forward', checkInference],
  ['backward matches PyTorch', checkBackward],
];

// Run inside the browser by test/browser-demo.test.ts (served at /test/, the bundle at /rnnkit/, the PyTorch
// vectors at /vectors/): the checks of test/vector-suite.ts on the bundle's WASM backend, and one LSTM large
// enough for the backend's threads, whose results the test compares with Node's.
import * as rnnkit from '/rnnkit/rnnkit.js';

const FWD = { rtol: 1e-5, atol: 1e-6 };
const GRAD = { rtol: 1e-4, atol: 1e-5 };
const toTensor = (j) => rnnkit.tensor(Float32Array.from(j.data), j.shape);

/** Why `actual` is not within atol + rtol |expected| of `expected` (the worst element), or null. */
function mismatch(what, actual, expected, { rtol, atol }) {
  if (actual.length !== expected.length) return `${what}: length ${actual.length}, expected ${expected.length}`;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) { worst = i; worstExcess = excess; }
  }
  return worst < 0 ? null : `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]}`;
}

function makeLayer(kind, opts) {
  if (kind === 'lstm') return new rnnkit.LSTM(opts);
  if (kind === 'gru') return new rnnkit.GRU(opts);
  if (kind === 'rnn_tanh') return new rnnkit.RNN({ ...opts, nonlinearity: 'tanh' });
  if (kind === 'rnn_relu') return new rnnkit.RNN({ ...opts, nonlinearity: 'relu' });
  throw new Error(`unknown cell kind ${kind}`);
}

/** Every vector file: forward and backward against PyTorch's numbers. Returns the checks made and the failures. */
export async function runVectors(files, opts) {
  const backend = await rnnkit.ready(opts);
  const failures = [];
  let checks = 0;
  const check = (file, what, a, e, tol) => {
    checks++;
    const m = mismatch(what, a, e, tol);
    if (m) failures.push(`${file}: ${m}`);
  };
  for (const file of files) {
    const v = await (await fetch(`/vectors/${file}`)).json();
    const layer = makeLayer(v.kind, { ...v.config, backend });
    layer.loadStateDict(Object.fromEntries(Object.entries(v.params).map(([k, t]) => [k, toTensor(t)])));
    const out = layer.forward(toTensor(v.input), { ...(v.h0 ? { h0: toTensor(v.h0) } : {}), ...(v.c0 ? { c0: toTensor(v.c0) } : {}) });
    check(file, 'output', out.output.data, v.output.data, FWD);
    check(file, 'hN', out.hN.data, v.hN.data, FWD);
    if (v.cN) check(file, 'cN', out.cN.data, v.cN.data, FWD);
    const g = layer.backward({ dOutput: toTensor(v.dOutput), dhN: toTensor(v.dhN), ...(v.dcN ? { dcN: toTensor(v.dcN) } : {}) });
    check(file, 'dInput', g.dInput.data, v.grads.input.data, GRAD);
    if (v.grads.h0) check(file, 'dh0', g.dh0.data, v.grads.h0.data, GRAD);
    if (v.grads.c0) check(file, 'dc0', g.dc0.data, v.grads.c0.data, GRAD);
    const grads = layer.grads();
    const names = Object.keys(v.grads.params).sort();
    if (JSON.stringify(Object.keys(grads).sort()) !== JSON.stringify(names)) failures.push(`${file}: gradient names differ`);
    for (const name of names) check(file, name, grads[name].data, v.grads.params[name].data, GRAD);
    layer.dispose();
  }
  return { details: backend.details, threads: backend.threads, checks, failures };
}

/**
 * An LSTM (input 64, hidden 256, T 16, batch 4: above the backend's one-thread limits) on fixed data, forward and
 * backward, repeated until the backend ran it on its threads (when it has any; at most `tries` times).
 */
export async function bigLstm(tries = 50) {
  const backend = await rnnkit.ready();
  if (backend.threads > 1) await backend.threadsReady(10_000);
  const [T, B, I, H] = [16, 4, 64, 256];
  const layer = new rnnkit.LSTM({ inputSize: I, hiddenSize: H, backend });
  const data = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.2);
  let s = 1;
  layer.loadStateDict(Object.fromEntries(Object.entries(layer.stateDict()).map(([k, t]) => [k, rnnkit.tensor(data(t.data.length, s++), t.shape)])));
  const before = backend.stats.threaded;
  let out;
  let g;
  for (let i = 0; i < tries; i++) {
    layer.zeroGrad();
    out = layer.forward(rnnkit.tensor(data(T * B * I, 10), [T, B, I]));
    g = layer.backward({ dOutput: rnnkit.tensor(data(T * B * H, 11), [T, B, H]) });
    if (backend.threads === 1 || backend.stats.threaded > before) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const grads = layer.grads();
  return {
    threadedCalls: backend.stats.threaded - before,
    output: Array.from(out.output.data),
    dInput: Array.from(g.dInput.data),
    dWhh: Array.from(grads.weight_hh_l0.data),
  };
}

/**
 * Thread 0 given no spins at all (spins.main 0): at its first barrier wait a threaded call traps, as the page's
 * thread may not sleep. Returns that call's error and the backend's state after it.
 */
export async function mainThreadGivesUp() {
  const backend = await rnnkit.ready({ threads: 2, spins: { main: 0 } });
  await backend.threadsReady(10_000);
  const [T, B, I, H] = [16, 4, 64, 256];
  const layer = new rnnkit.LSTM({ inputSize: I, hiddenSize: H, backend });
  layer.eval();
  const x = rnnkit.tensor(new Float32Array(T * B * I).fill(0.1), [T, B, I]);
  let error = null;
  for (let i = 0; i < 200 && error === null; i++) {
    try {
      layer.forward(x);
    } catch (e) {
      error = { name: e.name, code: e.code, message: e.message };
    }
  }
  const threadedBefore = backend.stats.threaded;
  layer.forward(x);
  layer.dispose();
  return { error, threads: backend.threads, threadedAfter: backend.stats.threaded - threadedBefore };
}

/** A small character model trained in the page (fit on the page's thread, which yields between steps). */
export async function fitInPage() {
  await rnnkit.ready();
  const lm = new rnnkit.LanguageModel({ embeddingDim: 8, hiddenSize: 32, seed: 3 });
  const text = 'the cat sat on the mat. '.repeat(40);
  // progressIntervalMs 0: a loss in the history at every step (by default one a second, so a fast run had only one).
  const r = await lm.fit(text, { epochs: 10, seqLen: 16, batchSize: 4, lr: 0.02, validationSplit: 0, progressIntervalMs: 0 });
  const next = lm.predictNext('the cat sat on the m', 1)[0];
  lm.dispose();
  return { steps: r.steps, first: r.history[0].loss, last: r.history[r.history.length - 1].loss, next };
}

// What every JavaScript peer shares: the data written by export_torch.py, the error check, the timing.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Bench } from 'tinybench';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GEN = path.join(HERE, 'gen');
export const INFERENCE = ['W1', 'W2-lstm', 'W2-gru', 'W2-rnn'];
export const ALL = [...INFERENCE, 'W3'];
/** An error above this is flagged in the table. */
export const TOLERANCE = 1e-3;
/** A task whose single run takes longer than this is timed once and not repeated. */
export const CAP_MS = 20000;

const TYPES = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array };

/** One workload's manifest with every array decoded: { name, kind, ..., a: { name: TypedArray }, shape: { name: dims } }. */
export function loadWorkload(name) {
  const meta = JSON.parse(readFileSync(path.join(GEN, `${name}.json`), 'utf8'));
  const bin = readFileSync(path.join(GEN, `${name}.bin`));
  const a = {}, shape = {};
  for (const [k, d] of Object.entries(meta.arrays)) {
    const T = TYPES[d.dtype];
    const n = d.shape.reduce((p, q) => p * q, 1);
    // copy out: the file buffer's offsets are 8-aligned but the Buffer itself may not be
    a[k] = new T(bin.buffer.slice(bin.byteOffset + d.offset, bin.byteOffset + d.offset + n * T.BYTES_PER_ELEMENT));
    shape[k] = d.shape;
  }
  return { ...meta, a, shape };
}

export function onnxPath(name) { return path.join(GEN, `${name}.onnx`); }

export function maxAbsErr(got, want) {
  if (got.length !== want.length) throw new Error(`output length ${got.length}, expected ${want.length}`);
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Error of an inference output: y [T, B, H] against the float64 reference. */
export function inferenceErr(w, y) { return maxAbsErr(y, w.a.ref_y); }

/** Error of a training peer: its losses of two steps against the float64 reference losses. */
export function trainErr(w, losses) { return maxAbsErr(Float64Array.from(losses), w.a.ref_loss); }

/**
 * Times `fn` (sync or async) and returns { ms (median), samples, note }. `firstMs` is how long the run before (the
 * accuracy check, which doubles as the first warm-up) took: past CAP_MS that run is the result, past 3 s it and
 * one more run make the median. Otherwise one timed run says how slow it is: past 1 s it and two more make the
 * median; below, tinybench takes over: a warm-up, then at least 5 runs and `time` ms.
 */
export async function measure(name, fn, firstMs, { time = Number(process.env.PEER_TIME ?? 1500) } = {}) {
  const timed = async () => { const t0 = performance.now(); await fn(); return performance.now() - t0; };
  const median = (xs) => { xs.sort((p, q) => p - q); const k = xs.length >> 1; return xs.length % 2 ? xs[k] : (xs[k - 1] + xs[k]) / 2; };
  if (firstMs > CAP_MS) return { ms: firstMs, samples: 1, note: `one run only (> ${CAP_MS / 1000} s, the checked run)` };
  if (firstMs > 3000) {
    const xs = [firstMs, await timed()];
    return { ms: median(xs), samples: 2, note: '2 runs (slow, one is the checked run)' };
  }
  const t = await timed();
  if (t > 1000) {
    const xs = [t, await timed(), await timed()];
    return { ms: median(xs), samples: 3, note: '3 runs (slow)' };
  }
  const bench = new Bench({ time, iterations: 5, warmupTime: 300, warmupIterations: 2, throws: true });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (!r || r.state === 'errored' || r.error) throw r?.error ?? new Error(`${name}: no result`);
  return { ms: r.latency.p50, samples: r.latency.samplesCount, note: '' };
}

/**
 * Runs a peer's workloads and prints one JSON line per result (what run.mjs reads).
 * `impl[name](w)` returns a task, or a string: why it cannot run. A task is { run, check?, selfCheck?, note?,
 * dispose? }: `check(out)` takes the output of one run() and returns err or { err, errNote }; with `selfCheck`,
 * `check()` runs by itself instead (W3: two steps from the exported weights, counted as two runs).
 */
export async function runPeer(peer, impl, names = process.env.PEER_WORKLOADS?.split(',') ?? ALL) {
  for (const name of names) {
    const emit = (r) => process.stdout.write(`@@RESULT ${JSON.stringify({ peer, workload: name, ...r })}\n`);
    try {
      const w = loadWorkload(name);
      const maker = impl[name];
      if (!maker) { emit({ skipped: 'not part of this peer' }); continue; }
      const task = await maker(w);
      if (typeof task === 'string') { emit({ skipped: task }); continue; }
      const t0 = performance.now();
      let chk = null, firstMs;
      if (task.selfCheck) {
        chk = await task.check();
        firstMs = (performance.now() - t0) / 2;
      } else {
        const out = await task.run();
        firstMs = performance.now() - t0;
        if (task.check) chk = await task.check(out);
      }
      const err = chk !== null && typeof chk === 'object' ? chk.err : chk;
      const errNote = (chk !== null && typeof chk === 'object' ? chk.errNote : '') ?? '';
      const m = await measure(`${peer} ${name}`, task.run, firstMs);
      emit({ ...m, err, errNote, note: [task.note, m.note].filter(Boolean).join('; ') }); // '; ' separates notes
      if (task.dispose) await task.dispose();
    } catch (e) {
      emit({ skipped: `failed: ${String(e?.message ?? e).split('\n')[0]}` });
    }
  }
}

/** PyTorch's gate order is (i, f, g, o) for LSTM, (r, z, n) for GRU; rows of weight_ih / weight_hh. */
export function gateRows(weight, gates, H, cols) {
  const out = [];
  for (let g = 0; g < gates; g++) out.push(weight.subarray(g * H * cols, (g + 1) * H * cols));
  return out;
}

/** [rows, cols] -> [cols, rows] */
export function transpose(a, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** The installed version of a package of bench/peers. */
export function pkgVersion(name) {
  return JSON.parse(readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
}

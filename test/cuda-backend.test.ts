// The cuda backend as users reach it (backend: 'cuda'), with the GPU replaced by the host emulation
// (RNNKIT_CUDA_EMULATE=1: native/cuda/ compiled with its host executor). Every PyTorch vector through the layers,
// finite differences through device-resident parameters, training that follows native's loss curve, the seeded
// dropout mask, and bad input. Without the emulation (CI has no GPU) the backend must say why it cannot run.
// What only a GPU can show (the CUDA runtime, cuBLAS, speed) is not tested here: see the README's GPU section.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { CELL_KINDS, CELL_TABLE } from '../src/backend/types.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { tensor } from '../src/tensor.js';
import { dot, errorOf, expectClose, makeLayer, randomData } from './helpers.js';
import { defineVectorTests } from './vector-suite.js';

// Read when the cuda backend first loads (in a test below), so setting it here is in time.
process.env.RNNKIT_CUDA_EMULATE = '1';

describe('PyTorch vectors on the cuda backend (host emulation)', () => defineVectorTests('cuda'));

describe('the cuda backend (host emulation)', () => {
  it('is the emulation addon, registered beside native and wasm', () => {
    expect(loadBackend('cuda').details).toMatch(/^CUDA addon, CUDA emulation on the host/);
  });

  it.each(CELL_KINDS)('%s: finite differences of a 2-layer bidirectional layer whose parameters stay on the device', (kind) => {
    const be = loadBackend('cuda');
    const T = 3, B = 2, I = 3, H = 4, EPS = 1e-2;
    const layer = makeLayer(kind, { inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, backend: 'cuda', seed: 3 });
    const x = tensor(randomData(T * B * I, 1), [T, B, I]);
    const R = randomData(T * B * 2 * H, 2), S = randomData(4 * B * H, 3), U = randomData(4 * B * H, 4);
    const loss = () => {
      const o = layer.forward(x);
      return dot(o.output.data, R) + dot(o.hN.data, S) + (o.cN ? dot(o.cN.data, U) : 0);
    };
    layer.forward(x);
    layer.backward({ dOutput: tensor(R, [T, B, 2 * H]), dhN: tensor(S, [4, B, H]), ...(CELL_TABLE[kind].hasCellState ? { dcN: tensor(U, [4, B, H]) } : {}) });
    const grads = layer.grads();
    layer.eval();
    let compared = 0;
    for (const p of layer.parameters()) {
      const values = be.read(p.value);
      const analytic = grads[p.name]!.data;
      for (const i of [0, values.length - 1, values.length >> 1]) {
        const v = values[i]!;
        const mid = loss();
        be.write(p.value, Float32Array.of(v + EPS), i); const up = loss();
        be.write(p.value, Float32Array.of(v - EPS), i); const down = loss();
        be.write(p.value, Float32Array.of(v), i);
        const fd = (up - down) / (2 * EPS), a = analytic[i]!;
        // A ReLU kink inside [v - EPS, v + EPS] makes the one-sided slopes disagree: no smooth answer there.
        if (kind === 'rnn_relu' && Math.abs((up - mid) - (mid - down)) / EPS > 0.01 * (1 + Math.abs(a))) continue;
        expect(Math.abs(fd - a), `${p.name}[${i}]: finite difference ${fd}, backward ${a}`).toBeLessThan(3e-3 + 1e-2 * Math.abs(a));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(kind === 'rnn_relu' ? 8 : 30);
    layer.dispose();
  });

  it('trains a language model (2 GRU layers, dropout) along native\'s loss curve', async () => {
    const text = 'the cat sat on the mat. the dog sat on the log. a cat and a dog. '.repeat(6);
    const losses = async (backend: 'native' | 'cuda') => {
      const m = new LanguageModel({ hiddenSize: 12, embeddingDim: 6, numLayers: 2, cell: 'gru', dropout: 0.25, seed: 7, backend });
      const r = await m.fit(text, { seqLen: 8, batchSize: 4, maxSteps: 8, lr: 1e-2, worker: false, progressIntervalMs: 0 });
      const out = { losses: r.history.map((h) => h.loss), norms: r.gradNorms.map((g) => g.norm), next: m.predictNext('the c', 3) };
      m.dispose();
      return out;
    };
    const [n, c] = [await losses('native'), await losses('cuda')];
    expect(c.losses.length).toBe(8);
    expectClose('losses', c.losses, n.losses, 1e-4, 1e-6);
    expectClose('gradient norms', c.norms, n.norms, 1e-4, 1e-6);
    expect(c.next.map((p) => p.token)).toEqual(n.next.map((p) => p.token));
  });

  it('trains a regressor (2 LSTM layers, dropout) along native\'s loss curve', async () => {
    const series = Array.from({ length: 90 }, (_, t) => 10 + 3 * Math.sin(t / 2) + Math.cos(t / 7));
    const losses = async (backend: 'native' | 'cuda') => {
      const m = new SequenceRegressor({ window: 6, horizon: 2, hiddenSize: 10, numLayers: 2, dropout: 0.2, seed: 3, backend });
      const r = await m.fit(series, { batchSize: 8, maxSteps: 6, lr: 1e-2, worker: false, progressIntervalMs: 0 });
      m.dispose();
      return r.history.map((h) => h.loss);
    };
    expectClose('losses', await losses('cuda'), await losses('native'), 1e-4, 1e-6);
  });

  it('refuses a buffer of another backend, a freed buffer, and a host view', () => {
    const cuda = loadBackend('cuda'), native = loadBackend('native');
    const nb = native.alloc(4);
    expect(errorOf(() => cuda.fill(4, nb, 0)).message).toMatch(/not allocated by this cuda backend/);
    const cb = cuda.alloc(4);
    expect(errorOf(() => cb.view()).code).toBe('E_BACKEND');
    cuda.free(cb);
    expect(errorOf(() => cuda.read(cb)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => cuda.write(cuda.alloc(2), new Float32Array(3))).code).toBe('E_SHAPE');
  });

  it('refuses NaN input like the other backends', () => {
    const layer = makeLayer('lstm', { inputSize: 2, hiddenSize: 3, backend: 'cuda', seed: 1 });
    const x = tensor(Float32Array.of(1, NaN, 0, 0), [2, 1, 2]);
    expect(errorOf(() => layer.forward(x)).code).toBe('E_NONFINITE');
    layer.dispose();
  });
});

describe('RNNKIT_CUDA_PRECISION (host emulation: the GEMMs\' operands rounded as the tensor cores round them)', () => {
  // Each precision in a child process: the device is opened once per process, with the precision of that moment.
  const CHILD = `
const { LSTM, loadBackend, tensor } = await import(process.argv[1] + 'dist/index.js');
const m = new LSTM({ inputSize: 24, hiddenSize: 40, backend: 'cuda', seed: 5 });
m.eval();
const x = tensor(Float32Array.from({ length: 6 * 3 * 24 }, (_, i) => Math.sin(i * 0.7) * 0.8), [6, 3, 24]);
process.stdout.write(JSON.stringify({ details: loadBackend('cuda').details, y: Array.from(m.forward(x).output.data) }));
`;
  const root = new URL('..', import.meta.url).pathname;
  const run = (precision: string) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, root], {
      env: { ...process.env, RNNKIT_CUDA_EMULATE: '1', RNNKIT_CUDA_PRECISION: precision }, encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { details: string; y: number[] };
  };
  it('tf32 and bf16 round the products away from fp32 (the default), each within its own tolerance', () => {
    const fp32 = run('fp32'), tf32 = run('tf32'), bf16 = run('bf16');
    expect(fp32.details).toMatch(/, fp32 \(/);
    expect(tf32.details).toMatch(/, tf32 \(/);
    expect(bf16.details).toMatch(/, bf16 \(/);
    const maxDiff = (a: number[]) => Math.max(...a.map((v, i) => Math.abs(v - fp32.y[i]!)));
    // bf16 keeps 8 significant bits (relative rounding 2^-9), TF32 11 (2^-12): sums of 64 such products, outputs
    // up to 0.31 (here tf32 8.4e-5 off, bf16 9.4e-4)
    const dTf32 = maxDiff(tf32.y), dBf16 = maxDiff(bf16.y);
    expect(dTf32).toBeGreaterThan(1e-6);
    expect(dTf32).toBeLessThan(1e-3);
    expect(dBf16).toBeGreaterThan(4 * dTf32);
    expect(dBf16).toBeLessThan(1e-2);
  }, 60_000);

  it('anything else is a clear settings error', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, root], {
      env: { ...process.env, RNNKIT_CUDA_EMULATE: '1', RNNKIT_CUDA_PRECISION: 'fp16' }, encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/RNNKIT_CUDA_PRECISION.*fp32, tf32 or bf16/);
  });
});

describe('the cuda backend without a GPU (what CI and most machines see)', () => {
  const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const env = { ...process.env, RNNKIT_CUDA_EMULATE: '' };
  // Skipped on a machine with a GPU, where the real backend loads (what the tests above cannot show).
  const gpu = (() => { try { execFileSync('nvidia-smi', { stdio: 'ignore' }); return true; } catch { return false; } })();
  it.skipIf(gpu)('rnnkit info lists it as unavailable with the reason, and RNNKIT_BACKEND=cuda is an E_BACKEND error', () => {
    const info = spawnSync(process.execPath, [cli, 'info'], { env, encoding: 'utf8' });
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/^ {2}cuda +unavailable \(only when asked for\): cuda backend: (no NVIDIA driver|the CUDA addon is not built|no CUDA device)/m);
    const forced = spawnSync(process.execPath, [cli, 'complete', 'Joh'], { env: { ...env, RNNKIT_BACKEND: 'cuda' }, encoding: 'utf8' });
    expect(forced.status).not.toBe(0);
    expect(forced.stderr).toMatch(/E_BACKEND|cuda backend:/);
  });
});

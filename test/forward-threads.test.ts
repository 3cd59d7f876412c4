// Both backends share a forward step's hidden-unit chunks between threads at run time: a thread done with its
// own takes the chunks a slower one has not started. Which thread computes a chunk must not change a bit of
// the result. Thread counts are fixed per process, so each run is a child process (on the built dist/, which
// `npm test` builds first); RNNKIT_TEST_LAG_US makes thread 0 pause before each of its own chunks. Only the
// test-hooks builds honour it (the native addon's build/testhooks/rnnkit_testhooks.node), and the loaders pick
// those when it is set. The thread counts below are the threads a call ran on, as the backend counted them.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// What both children share: the backend (through the package's loader), the cell shape and its inputs, and the
// threads a call ran on: the pool's size once the backend counted a threaded call (be.stats.threaded), else 1.
const COMMON = `
const { loadBackend } = await import(root + 'dist/index.js');
const { GATES, workspaceFloats } = await import(root + 'dist/backend/types.js');
const be = loadBackend(backend);
const [kind, T, B, I0, H] = JSON.parse(shape);
const G = GATES[kind];
const lstm = kind === 'lstm';
const buf = (n, s) => {
  const b = be.alloc(n);
  b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.4));
  return b;
};
const inputsFor = (I) => ({ kind, T, B, I, H, reverse: false, x: buf(T * B * I, 1), h0: buf(B * H, 2), c0: lstm ? buf(B * H, 3) : null,
  wih: buf(G * H * I, 4), whh: buf(G * H * H, 5), bih: buf(G * H, 6), bhh: buf(G * H, 7) });
const threadsOf = (call) => {
  const before = be.stats.threaded;
  call();
  return be.stats.threaded > before ? be.threads : 1;
};
const b64 = (b) => (b ? Buffer.from(b.view().slice().buffer).toString('base64') : '');
// Whether a chunk changes hands depends on the scheduler: a thread that is not running while thread 0 lags takes
// nothing over (seen on a loaded machine: a whole call without one). So a lagged child tries again, each time with
// one more input column (another call shape: the back-off the lagging call started is per shape), until a call ran
// on the threads and one of its chunks was taken over; it reports the shape that did, which the one-thread child
// then runs. A one-thread child runs its shape once.
const TRIES = Number(process.env.RNNKIT_TEST_LAG_US ?? 0) > 0 ? 40 : 1;
`;

// One cellForward (repeated until the backend ran it on its threads: WASM workers start on first use) on
// fixed inputs; prints the outputs (base64 of y, hT, cT), the threads used and the chunks taken over.
const CHILD = `
const [root, backend, shape] = process.argv.slice(1);
${COMMON}
let out;
let fewest = Infinity; // the fewest threads a try ran on
for (let k = 0; k < TRIES; k++) {
  const I = I0 + k, inputs = inputsFor(I);
  const a = { ...inputs, y: be.alloc(T * B * H), hT: be.alloc(B * H), cT: lstm ? be.alloc(B * H) : null, ws: null };
  const before = be.stats.sharedChunks;
  let threads = 1;
  for (let i = 0; i < 100; i++) { // WASM workers start on first use: until the call runs on them
    threads = threadsOf(() => be.cellForward(a));
    if (threads > 1 || be.threads === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const shared = be.stats.sharedChunks - before;
  fewest = Math.min(fewest, threads);
  // native: the groups of its last call (the addon is private in TypeScript only); wasm: calls made in groups so far
  const groups = backend === 'native' ? be.addon.info().lastBatchGroups : be.stats.groupCalls;
  out = { shape: [kind, T, B, I, H], y: b64(a.y), hT: b64(a.hT), cT: b64(a.cT), threads, fewest, shared, tries: k + 1, testHooks: be.stats.testHooks, groups };
  if (shared > 0) break;
}
process.stdout.write(JSON.stringify(out), () => process.exit(0)); // all of it: a big write to a pipe completes later
`;

function forwardIn(backend: string, env: Record<string, string>, shape: unknown[], nodeFlags: string[] = []) {
  const args = [...nodeFlags, '--input-type=module', '-e', CHILD, root, backend, JSON.stringify(shape)];
  const r = spawnSync(process.execPath, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 27, // a large shape's outputs in base64
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { shape: unknown[]; y: string; hT: string; cT: string; threads: number; fewest: number; shared: number; tries: number; testHooks?: boolean; groups?: number };
}

// The native backward shares its per-step product dh_prev = dgh W_hh the same way: one forward with a workspace,
// then one cellBackward; prints every gradient (base64), the threads the backward ran on and the chunks taken over.
const BACKWARD_CHILD = `
const [root, backend, shape] = process.argv.slice(1);
${COMMON}
let line;
for (let k = 0; k < TRIES; k++) {
  const I = I0 + k, inputs = inputsFor(I);
  const wsFloats = workspaceFloats(kind, T, B, H);
  const y = be.alloc(T * B * H), ws = wsFloats ? be.alloc(wsFloats) : null;
  be.cellForward({ ...inputs, y, hT: be.alloc(B * H), cT: lstm ? be.alloc(B * H) : null, ws });
  // The lagging forward made its barriers late, which backs off the forward's call shape only (native/pool.cc):
  // the backward, another shape, starts on all threads at once.
  const before = be.stats.sharedChunks;
  let g, threads = 1;
  for (let i = 0; i < 100; i++) { // WASM workers start on first use: until the call runs on them (fresh sums each time)
    g = { dx: be.alloc(T * B * I), dh0: be.alloc(B * H), dc0: lstm ? be.alloc(B * H) : null, dwih: be.alloc(G * H * I),
      dwhh: be.alloc(G * H * H), dbih: be.alloc(G * H), dbhh: be.alloc(G * H) };
    threads = threadsOf(() => be.cellBackward({ ...inputs, y, ws, dy: buf(T * B * H, 8), dhT: buf(B * H, 9),
      dcT: lstm ? buf(B * H, 10) : null, ...g }));
    if (threads > 1 || be.threads === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const out = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, b64(v)]));
  const shared = be.stats.sharedChunks - before;
  const groups = backend === 'native' ? be.addon.info().lastBatchGroups : be.stats.groupCalls;
  line = JSON.stringify({ ...out, shape: [kind, T, B, I, H], threads, shared, tries: k + 1, testHooks: be.stats.testHooks, groups });
  if (shared > 0) break;
}
process.stdout.write(line, () => process.exit(0)); // all of it: a big write to a pipe completes later
`;

function backwardIn(env: Record<string, string>, shape: unknown[], backend = 'native') {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', BACKWARD_CHILD, root, backend, JSON.stringify(shape)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string | number | unknown[]>;
}

const THREADS: Record<string, string> = { native: 'RNNKIT_THREADS', wasm: 'RNNKIT_WASM_THREADS' };

/** One shape's forward on two threads (with `env2` too) and on one, each in its own child. */
function twoAndOne(backend: string, shape: unknown[], env2: Record<string, string> = {}) {
  const two = forwardIn(backend, { [THREADS[backend]!]: '2', ...env2 }, shape);
  const one = forwardIn(backend, { [THREADS[backend]!]: '1' }, shape);
  return { two, one };
}

/** The outputs whose bits differ between two forwards (base64 of y, hT, cT): none, when they agree. */
const differing = (a: { y: string; hT: string; cT: string }, b: { y: string; hT: string; cT: string }) =>
  (['y', 'hT', 'cT'] as const).filter((k) => a[k] !== b[k]);

describe.each(BACKENDS)('%s forward on two threads', (backend) => {
  // kind, T, B, I, H: H = 100 is 4 chunks of 32 units (AVX-512), 7 of 16 (AVX2, WASM), 13 of 8 (portable)
  it.each([
    ['lstm', 12, 3, 17, 100],
    ['gru', 12, 4, 17, 100],
    ['rnn_tanh', 12, 5, 17, 200],
  ])('%s: chunks taken over from a slower thread give the same bits as one thread', (...shape) => {
    const two = forwardIn(backend, { [THREADS[backend]!]: '2', RNNKIT_TEST_LAG_US: '300' }, shape);
    const one = forwardIn(backend, { [THREADS[backend]!]: '1' }, two.shape); // the shape whose call shared chunks
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    if (backend === 'native') {
      expect(one.testHooks).toBe(false); // the release addon
      expect(two.testHooks).toBe(true); // RNNKIT_TEST_LAG_US: the test-hooks addon
    }
    expect(one.shared).toBe(0);
    expect(two.shared, `after ${two.tries} calls`).toBeGreaterThan(0); // the lagging thread's chunks were taken over
    expect(two.y).toBe(one.y);
    expect(two.hT).toBe(one.hT);
    expect(two.cT).toBe(one.cT);
  });
});

describe.runIf(BACKENDS.includes('native'))('native batch-1 forward on two threads', () => {
  // A row times the weights reads each weight once, from its owner's cache: batch 1 never takes chunks over
  // (native/kernels.cc, cell_forward); a lagging thread backs the shape off instead (thread-choice.test.ts).
  it('keeps every chunk with its owner, even while that thread lags, and gives one thread\'s bits', () => {
    const two = forwardIn('native', { RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '300' }, ['lstm', 12, 1, 17, 256]);
    const one = forwardIn('native', { RNNKIT_THREADS: '1' }, two.shape);
    expect(two.testHooks).toBe(true);
    expect(two.threads).toBe(2);
    expect(two.fewest).toBe(2); // every try ran on two threads
    expect(two.tries).toBe(40); // and none took a chunk over (a try that did would have ended the loop)
    expect(two.shared).toBe(0);
    expect(one.threads).toBe(1);
    expect(two.y).toBe(one.y);
    expect(two.hT).toBe(one.hT);
    expect(two.cT).toBe(one.cT);
  }, 60_000);
});

describe.runIf(BACKENDS.includes('native'))('native forward in batch groups', () => {
  // Above batch 1 the threads may split the batch rows as well as the hidden units (native/pool.h, batch_groups:
  // each group's rows are sequences of their own). Which rows a thread computes must not change a bit either.
  // RNNKIT_TEST_BATCH_GROUPS (test-hooks addon, loaded for RNNKIT_TEST_LAG_US, here 0: no lag) asks for groups
  // where the rule would not make them; an odd B leaves groups of unequal rows (23: 11 and 12). Groups are made
  // only where every product sums one chain per element (micro-tiles of 4 rows or more, native/kernels.cc):
  // B 6 would be two groups of 3, and is run on the hidden-unit split instead.
  it.each([
    ['lstm', 12, 20, 17, 100],
    ['gru', 12, 32, 17, 100],
    ['rnn_tanh', 12, 23, 17, 200],
  ])('%s: two groups of one thread each give one thread\'s bits', (...shape) => {
    const { two, one } = twoAndOne('native', shape, { RNNKIT_TEST_LAG_US: '0', RNNKIT_TEST_BATCH_GROUPS: '2' });
    expect(two.testHooks).toBe(true);
    expect(two.threads).toBe(2);
    expect(two.groups).toBe(2);
    expect(one.threads).toBe(1);
    expect(differing(two, one)).toEqual([]);
  });

  it('are what the release addon makes of a small layer on two threads, with one thread\'s bits', () => {
    // LSTM H 64 (256 columns: 128 a thread, under kSplitCols) and batch 32: two groups of 16 rows
    const { two, one } = twoAndOne('native', ['lstm', 12, 32, 17, 64]);
    expect(two.testHooks).toBe(false);
    expect([two.threads, two.groups]).toEqual([2, 2]); // (so too with the portable build's 8-unit chunks: 128 columns a thread)
    expect(differing(two, one)).toEqual([]);
    // W2's layers keep the hidden-unit split on two threads (LSTM 2048 columns: 1024 a thread)
    expect(forwardIn('native', { RNNKIT_THREADS: '2' }, ['lstm', 3, 32, 17, 512]).groups).toBe(1);
    // H 32 is one chunk of AVX-512's 32 units (one thread without groups): two threads, a group of rows each
    const small = twoAndOne('native', ['lstm', 12, 32, 17, 32]);
    expect([small.two.threads, small.two.groups]).toEqual([2, 2]);
    expect(differing(small.two, small.one)).toEqual([]);
  });

  it.each([
    ['lstm', 8, 16, 11, 100],
    ['gru', 8, 20, 11, 100],
    ['rnn_tanh', 8, 23, 11, 200],
  ])('%s: the backward in groups (after a forward in groups) gives the hidden-unit split\'s gradients', (...shape) => {
    // The backward groups its threads the same way (its product dh_prev = dgh W_hh over a group's rows); the
    // threaded backward's bits differ from one thread's (one GEMM there), so the reference is two threads without
    // groups. Both halves matter: the forward's workspace and outputs feed the backward.
    const env = { RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '0' };
    const grouped = backwardIn({ ...env, RNNKIT_TEST_BATCH_GROUPS: '2' }, shape);
    const plain = backwardIn({ ...env, RNNKIT_TEST_BATCH_GROUPS: '1' }, shape);
    expect(grouped.threads).toBe(2);
    expect(grouped.groups).toBe(2);
    expect(plain.groups).toBe(1);
    for (const k of ['dx', 'dh0', 'dc0', 'dwih', 'dwhh', 'dbih', 'dbhh']) expect(grouped[k] === plain[k], k).toBe(true);
  });

  it('are not made where a group\'s product would sum in interleaved chains', () => {
    const { two, one } = twoAndOne('native', ['lstm', 12, 6, 17, 100], { RNNKIT_TEST_LAG_US: '0', RNNKIT_TEST_BATCH_GROUPS: '2' });
    expect(two.threads).toBe(2);
    expect(two.groups).toBe(1);
    expect(differing(two, one)).toEqual([]);
  });
});

describe('wasm forward in batch groups', () => {
  // Above batch 1, a small layer's two WASM threads each take half of the batch rows with all the hidden units
  // and meet at no step (assembly/kernels.ts, batchGroups: under 256 of the G*H columns a thread, an even number
  // of rows each, at least 8). Every product still sums one chain per element: one thread's bits. Reverse, GRU's
  // separate n block and groups of unequal chunks of units are among the shapes.
  it.each([
    ['lstm', 12, 32, 17, 64],
    ['gru', 9, 16, 20, 48],
    ['rnn_tanh', 10, 20, 7, 100],
  ])('%s: two threads in groups give one thread\'s bits', (...shape) => {
    const { two, one } = twoAndOne('wasm', shape);
    expect(two.threads).toBe(2);
    expect(two.groups).toBeGreaterThan(0);
    expect(differing(two, one)).toEqual([]);
  });

  it('are not taken by W2\'s layers (enough columns a thread) or at an odd batch', () => {
    expect(forwardIn('wasm', { RNNKIT_WASM_THREADS: '2' }, ['lstm', 3, 32, 17, 512]).groups).toBe(0);
    const odd = forwardIn('wasm', { RNNKIT_WASM_THREADS: '2' }, ['lstm', 6, 33, 17, 64]);
    expect(odd.threads).toBe(2);
    expect(odd.groups).toBe(0);
  });

  it.each([
    ['lstm', 8, 32, 11, 64],
    ['gru', 8, 16, 11, 48],
    ['rnn_tanh', 8, 20, 11, 100],
  ])('%s: the backward in groups gives one thread\'s gate gradients', (...shape) => {
    // The loop over the steps (gate gradients, dh_prev = dgh W_hh over a group's rows, which takes the depth
    // blocks of all B rows' product: gemmPacked's blockRows) must give one thread's bits: dh0, dc0 and the bias
    // gradients (sums of every gate gradient) show it. dx, dW_ih and dW_hh come from the GEMMs after the loop,
    // whose split between threads changes their last bits with or without groups (native/KERNELS.md, "Threads").
    const two = backwardIn({ RNNKIT_WASM_THREADS: '2' }, shape, 'wasm');
    const one = backwardIn({ RNNKIT_WASM_THREADS: '1' }, shape, 'wasm');
    expect(two.threads).toBe(2);
    expect(two.groups as number).toBeGreaterThan(0);
    for (const k of ['dh0', 'dc0', 'dbih', 'dbhh']) expect(two[k] === one[k], k).toBe(true);
  });

  it('are not taken where the product\'s blocks of rows are odd, and give one thread\'s bits either way', () => {
    // H 300: the packing area holds 983 rows of h_prev, an odd block whose last row goes through tile1x16
    // (found by review: grouped, rows 1023, 1965, 2006 and 2047 differed); H 304: 970 rows, grouped
    for (const [H, grouped] of [[300, false], [304, true]] as const) {
      const { two, one } = twoAndOne('wasm', ['rnn_tanh', 2, 2048, 8, H]);
      expect(two.threads).toBe(2);
      expect((two.groups ?? 0) > 0, `H ${H}`).toBe(grouped);
      expect(differing(two, one), `H ${H}`).toEqual([]);
    }
  });
});

describe('wasm batch-1 forward on two threads', () => {
  // A batch-1 step multiplies h_prev by a thread's panels three at a time, the rest in pairs (assembly/kernels.ts,
  // gemvPanels), and a thread's panel count depends on the thread count; every tile sums in the same order, so
  // the bits must not. Shapes: LSTM 64 panels on one thread (20 groups of three and two pairs), 32 on each of
  // two (ten groups and a pair); GRU 13 chunks (39 panels; 18 and 21); tanh RNN 20 panels (six groups and a
  // pair; on two threads two groups and two pairs each). Batch 1 keeps every chunk with its owner.
  it.each([
    ['lstm', 6, 1, 17, 256],
    ['gru', 6, 1, 17, 200],
    ['rnn_tanh', 6, 1, 17, 320],
  ])('%s: two threads give one thread\'s bits', (...shape) => {
    const { two, one } = twoAndOne('wasm', shape);
    expect(two.threads).toBe(2);
    expect(one.threads).toBe(1);
    expect(two.shared).toBe(0);
    expect(differing(two, one)).toEqual([]);
  });
});

describe.runIf(BACKENDS.includes('native'))('native backward on two threads', () => {
  it.each([
    ['lstm', 10, 3, 17, 100],
    ['gru', 10, 4, 17, 100],
    ['rnn_tanh', 10, 5, 17, 200],
  ])('%s: chunks of dh_prev taken over from a slower thread give the gradients of one thread', (...shape) => {
    const two = backwardIn({ RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '300' }, shape);
    const one = backwardIn({ RNNKIT_THREADS: '1' }, two.shape as unknown as unknown[]);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(one.testHooks).toBe(false);
    expect(two.testHooks).toBe(true);
    expect(one.shared).toBe(0);
    expect(two.shared, `after ${two.tries} calls`).toBeGreaterThan(0);
    // One thread runs the product as one GEMM, two in chunks with other depth blocks, and dx is a GEMM split by
    // rows: the last bits may differ (native/KERNELS.md), nothing more. (A thief computing the wrong chunk, or
    // reading dh_prev before all of it is written, is off by far more.)
    const floats = (b64: unknown) => new Float32Array(new Uint8Array(Buffer.from(b64 as string, 'base64')).buffer);
    for (const k of ['dx', 'dh0', ...(shape[0] === 'lstm' ? ['dc0'] : []), 'dwih', 'dwhh', 'dbih', 'dbhh']) {
      const [a1, a2] = [floats(one[k]), floats(two[k])];
      expect(a2.length, k).toBe(a1.length);
      const off = a1.filter((v, i) => !(Math.abs(v - a2[i]!) <= 1e-5 + 1e-5 * Math.abs(v))).length;
      expect(off, `${k}: elements off`).toBe(0);
    }
  });
});

describe('wasm workers', () => {
  // Node flags a Worker may not take (V8's --expose-gc) or that break its CommonJS source (--input-type, set by
  // forwardIn itself) must not leave the backend on one thread.
  it('start under node flags a worker does not accept', () => {
    const r = forwardIn('wasm', { RNNKIT_WASM_THREADS: '2' }, ['lstm', 12, 3, 17, 100], ['--expose-gc', '--no-warnings']);
    expect(r.threads).toBe(2);
  });
});

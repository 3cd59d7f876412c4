// The native backend splits its large elementwise passes (fill, copies, the batch-first transpose, dropout,
// scaling, the optimizer steps, the embedding's gather), the sum of squares behind gradient clipping and the
// cross-entropy's rows over its threads. Each must give the bits of one thread: every element's arithmetic is its
// own, and the sums (squares, the loss) add fixed blocks in order. Thread counts are fixed per process, so each
// count is a child process on the built dist/; the child reports each result's hash and the threads its call ran
// on.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const CHILD = `
const [root] = process.argv.slice(1);
const { createHash } = await import('node:crypto');
const { loadBackend } = await import(root + 'dist/index.js');
const be = loadBackend('native');
const N = 600_000; // well over a thread's share (kMinRangeFloats, and 1e5 flops a thread)
const buf = (n, s) => { const b = be.alloc(n); b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + s) * 0.9)); return b; };
const hash = (b) => createHash('sha256').update(b.view()).digest('hex').slice(0, 16);
const out = {};
// threads: 2 when the call opened a parallel region (threadedRuns counts them) and it ran on two threads
const note = (name, result, call) => {
  const before = be.addon.info().threadedRuns;
  call();
  const info = be.addon.info();
  out[name] = { hash: typeof result === 'function' ? result() : hash(result), threads: info.threadedRuns > before ? info.lastThreads : 1 };
};
let x = buf(N + 100, 1);
note('fill', x, () => be.fill(N - 7, x, 2.5, 13));
const src = buf(N, 2), dst = buf(N + 100, 3);
note('copy', dst, () => be.copy(990, 500, src, 3, 600, dst, 5, 601)); // strides wider than the rows
const row = buf(N, 17);
note('copy of one row', row, () => be.copy(1, N - 9, src, 7, 0, row, 2, 0)); // one long row: split by columns
const t = buf(N, 4), tt = buf(N, 5);
note('transpose01', tt, () => be.transpose01(100, 60, 100, t, tt));
const d = buf(N, 6), dy = buf(N, 7);
note('dropout', dy, () => be.dropout(N - 3, 0.3, 123456789, d, dy));
const s = buf(N, 8);
note('scale', s, () => be.scale(N - 5, s, -0.75));
let ss = 0;
const q = buf(N + 5, 9);
note('sumSquares', () => String(ss), () => { ss = be.sumSquares(N + 5, q); });
const p = buf(N, 10), g = buf(N, 11), m = buf(N, 12), v = buf(N, 13);
v.view().set(v.view().map(Math.abs));
note('adamStep', () => hash(p) + hash(m) + hash(v), () => be.adamStep(N - 1, p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, true, 3));
const p2 = buf(N, 14), b2 = buf(N, 15);
note('sgdStep', () => hash(p2) + hash(b2), () => be.sgdStep(N, p2, g, b2, 0.1, 0.9, 1e-4, true, false));
const R = 4100, C = 65; // rows over whole blocks of 64 and a part block; a target out of range (ignored)
const logits = buf(R * C, 16), dl = be.alloc(R * C), targets = be.alloc(R);
targets.view().set(Float32Array.from({ length: R }, (_, i) => (i === 77 ? -1 : (i * 7) % C)));
let loss = 0;
note('softmaxCrossEntropy', () => String(loss) + hash(dl), () => { loss = be.softmaxCrossEntropy(R, C, logits, targets, dl, 1 / R); });
const EN = 3000, ED = 100, EV = 50; // one id out of range (a zero row)
const ids = be.alloc(EN), table = buf(EV * ED, 18), emb = be.alloc(EN * ED);
ids.view().set(Float32Array.from({ length: EN }, (_, i) => (i === 5 ? EV : (i * 13) % EV)));
note('embeddingForward', emb, () => be.embeddingForward(EN, ED, EV, ids, table, emb));
// destination rows that overlap (a stride under the row): in order, on one thread, so the last row wins
const over = be.alloc(1000);
const before = be.addon.info().threadedRuns;
be.copy(2000, 500, src, 0, 250, over, 0, 0);
out.overlap = { hash: hash(over), threads: be.addon.info().threadedRuns > before ? 2 : 1,
  lastRowWins: over.view()[499] === src.view()[1999 * 250 + 499] };
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`;

type Result = { hash: string; threads: number; lastRowWins?: boolean };
function runIn(threads: number) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, root], {
    env: { ...process.env, RNNKIT_THREADS: String(threads) },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, Result>;
}

describe.runIf(BACKENDS.includes('native'))('native elementwise passes on two threads', () => {
  it('give one thread\'s bits: fill, copies, transpose01, dropout, scale, sumSquares, adamStep, sgdStep, softmaxCrossEntropy, embeddingForward', () => {
    const two = runIn(2);
    const one = runIn(1);
    const { overlap: overlapTwo, ...twoOps } = two;
    const { overlap: overlapOne, ...oneOps } = one;
    // overlapping destination rows stay on one thread, in order, whatever the pool's size
    expect([overlapTwo!.threads, overlapTwo!.lastRowWins, overlapOne!.lastRowWins]).toEqual([1, true, true]);
    expect(overlapTwo!.hash).toBe(overlapOne!.hash);
    const names = Object.keys(oneOps);
    expect(names).toHaveLength(11);
    for (const k of names) {
      expect(oneOps[k]!.threads, `${k} on one thread`).toBe(1);
      expect(twoOps[k]!.threads, `${k} on two threads`).toBe(2);
      expect(twoOps[k]!.hash, `${k}: two threads against one`).toBe(oneOps[k]!.hash);
    }
  });
});

// The WASM backend runs the dense passes of a training step as jobs on its threads too (assembly/dense.ts): fill,
// Adam, SGD and scale one range of whole cache lines a thread, the sum of squares and the cross-entropy's loss in fixed
// blocks (4096 floats, 64 rows) added in order by the caller; the layers' copies, transposes, direction interleaves and
// dropout by rows or ranges (a copy whose destination rows overlap on one thread, in order). Each must give one
// thread's bits, also where only some of the pool's threads have work (four threads on 70,001 elements: two working).
const WASM_CHILD = `
const [root] = process.argv.slice(1);
const { createHash } = await import('node:crypto');
const { loadBackend } = await import(root + 'dist/index.js');
const be = loadBackend('wasm');
if (be.threads > 1 && !(await be.threadsReady())) throw new Error('the workers did not start');
const buf = (n, s) => { const b = be.alloc(n); b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + s) * 0.9)); return b; };
const hash = (b) => createHash('sha256').update(b.view()).digest('hex').slice(0, 16);
const out = {};
const note = (name, result, call) => {
  const before = be.stats.threaded;
  call();
  out[name] = { hash: typeof result === 'function' ? result() : hash(result), threads: be.stats.threaded > before ? be.threads : 1 };
};
// N: work for every thread of the pool (PASS_FLOATS in wasm-core.ts: 32768 a thread); N2: for two of them only
// (the others run the job to its end with nothing to do), each size twice, so a job that left the pool out of
// step would hang or differ in the second round
for (const [N, tag] of [[300_001, ''], [70_001, ' (two working threads)'], [300_001, ' again'], [70_001, ' (two working threads) again']]) {
  const x = buf(N + 100, 1);
  note('fill' + tag, x, () => be.fill(N - 7, x, 2.5, 13)); // not a whole number of cache lines, from an offset
  const s = buf(N, 8);
  note('scale' + tag, s, () => be.scale(N - 5, s, -0.75));
  let ss = 0;
  const q = buf(N + 5, 9);
  note('sumSquares' + tag, () => String(ss), () => { ss = be.sumSquares(N + 5, q); });
  const g = buf(N, 11);
  for (const [name, decoupled, wd] of [['adamStep', false, 0.01], ['adamW', true, 0.01], ['adam without decay', false, 0]]) {
    const p = buf(N, 10), m = buf(N, 12), v = buf(N, 13);
    v.view().set(v.view().map(Math.abs));
    note(name + tag, () => hash(p) + hash(m) + hash(v), () => be.adamStep(N - 1, p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, wd, decoupled, 3));
  }
  for (const [name, nesterov, first] of [['sgdStep', true, false], ['sgd first step', false, true]]) {
    const p2 = buf(N, 14), b2 = buf(N, 15);
    note(name + tag, () => hash(p2) + hash(b2), () => be.sgdStep(N, p2, g, b2, 0.1, 0.9, 1e-4, nesterov, first));
  }
  // rows over whole blocks of 64 and a part block; a target out of range; a masked logit
  const C = 65, R = Math.floor(N / C) - 7;
  const logits = buf(R * C, 16), dl = be.alloc(R * C), targets = be.alloc(R);
  logits.view()[5 * C + 3] = -Infinity;
  targets.view().set(Float32Array.from({ length: R }, (_, i) => (i === 77 ? -1 : (i * 7) % C)));
  let loss = 0;
  note('softmaxCrossEntropy' + tag, () => String(loss) + hash(dl), () => { loss = be.softmaxCrossEntropy(R, C, logits, targets, dl, 1 / R); });
  note('softmaxCrossEntropy without dlogits' + tag, () => String(loss), () => { loss = be.softmaxCrossEntropy(R, C, logits, targets, null, 1); });
  if (dl.view()[5 * C + 3] !== 0) throw new Error('a masked logit got a gradient');
  const src = buf(N, 2), dst = buf(N + 100, 3);
  const cols = 590, rows = Math.floor((N - 10) / 601);
  note('copy' + tag, dst, () => be.copy(rows, cols, src, 3, 600, dst, 5, 601)); // strides wider than the rows
  const row = buf(N, 17);
  note('copy of one row' + tag, row, () => be.copy(1, N - 9, src, 7, 0, row, 2, 0)); // split by columns
  const A = 97, B = 13, T = Math.floor(N / (A * B)), t = buf(A * B * T, 4), tt = buf(A * B * T, 5);
  note('transpose01' + tag, tt, () => be.transpose01(A, B, T, t, tt));
  const R2 = Math.floor(N / 200), H2 = 100, fwd = buf(R2 * H2, 19), rev = buf(R2 * H2, 20), pair = be.alloc(2 * R2 * H2);
  note('interleave' + tag, pair, () => be.interleave(R2, H2, fwd, rev, pair));
  note('deinterleave' + tag, () => hash(fwd) + hash(rev), () => { fwd.view().fill(0); rev.view().fill(0); be.deinterleave(R2, H2, pair, fwd, rev); });
  const d = buf(N, 6), dy = be.alloc(N);
  note('dropout' + tag, dy, () => be.dropout(N - 3, 0.3, 0xdeadbeef, d, dy)); // a seed over 2^31
  note('dropout in place' + tag, d, () => be.dropout(N - 3, 0.5, 12345, d, d));
}
// destination rows that overlap (a stride under the row): in order, on one thread, so the last row wins
const over = be.alloc(1000), osrc = buf(2000 * 250 + 250, 21);
note('overlapping copy', over, () => be.copy(2000, 500, osrc, 0, 250, over, 0, 0));
out['overlapping copy'].lastRowWins = over.view()[499] === osrc.view()[1999 * 250 + 499];
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`;

describe('wasm dense passes on two and four threads', () => {
  it('give one thread\'s bits: fill, scale, sumSquares, adamStep (Adam, AdamW), sgdStep, softmaxCrossEntropy, copies, transpose01, interleave, deinterleave, dropout', () => {
    const runWasm = (threads: number) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', WASM_CHILD, root], {
        // barriers that never sleep: a threaded call whose barrier slept (four threads on two cores) would make
        // the backend time its shape on one thread first (the back-off's probe), and the call would not be threaded
        env: { ...process.env, RNNKIT_WASM_THREADS: String(threads), RNNKIT_WASM_SPINS: '2000000000,2000000000,65536' },
        encoding: 'utf8',
        timeout: 60_000, // a pool left out of step hangs
      });
      if (r.status !== 0) throw new Error(`child on ${threads} threads failed (${r.status ?? r.signal}): ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, Result>;
    };
    const { 'overlapping copy': overlapOne, ...one } = runWasm(1);
    const names = Object.keys(one);
    expect(names).toHaveLength(68);
    for (const threads of [2, 4]) {
      const { 'overlapping copy': overlap, ...many } = runWasm(threads);
      expect([overlap!.threads, overlap!.lastRowWins, overlapOne!.lastRowWins]).toEqual([1, true, true]);
      expect(overlap!.hash).toBe(overlapOne!.hash);
      for (const k of names) {
        expect(one[k]!.threads, `${k} on one thread`).toBe(1);
        expect(many[k]!.threads, `${k} on ${threads} threads`).toBe(threads);
        expect(many[k]!.hash, `${k}: ${threads} threads against one`).toBe(one[k]!.hash);
      }
    }
  });
});

// The native Adam and dropout run in the ISA's vectors (native/isa_impl.h: adam_range without contraction, dropout
// on integers); every instruction set the CPU offers must give the same bits (as the baseline loops they replaced
// did). Each ISA is a child process (the addon picks it once, from RNNKIT_ISA); one the CPU lacks is left out.
const ISA_CHILD = `
const [root] = process.argv.slice(1);
const { createHash } = await import('node:crypto');
const { loadBackend } = await import(root + 'dist/index.js');
const be = loadBackend('native');
const isa = /(\\w+) kernels/.exec(be.details)[1];
const hashes = [];
for (const [n, wd, decoupled] of [[100003, 0.1, false], [100003, 0.1, true], [37, 0, false]]) {
  const mk = (s, abs) => { const b = be.alloc(n); b.view().set(Float32Array.from({ length: n }, (_, i) => { const v = Math.sin(i * 0.37 + s) * 0.5; return abs ? Math.abs(v) : v; })); return b; };
  const p = mk(1), g = mk(2), m = mk(3), v = mk(4, true);
  for (let step = 1; step <= 3; step++) be.adamStep(n, p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, wd, decoupled, step);
  hashes.push(createHash('sha256').update(p.view()).update(m.view()).update(v.view()).digest('hex').slice(0, 16));
  const y = be.alloc(n);
  be.dropout(n, 0.3, 0xdeadbeef, g, y);
  hashes.push(createHash('sha256').update(y.view()).digest('hex').slice(0, 16));
}
process.stdout.write(JSON.stringify({ isa, hashes }), () => process.exit(0));
`;

describe.runIf(BACKENDS.includes('native'))('native Adam and dropout on every instruction set', () => {
  it('give the same bits on avx512, avx2 and the portable kernels (those the CPU runs)', (ctx) => {
    const runs = ['avx512', 'avx2', 'generic'].flatMap((isa) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', ISA_CHILD, root], {
        env: { ...process.env, RNNKIT_ISA: isa }, encoding: 'utf8',
      });
      if (r.status !== 0) return []; // an instruction set this CPU lacks
      const out = JSON.parse(r.stdout) as { isa: string; hashes: string[] };
      return out.isa === isa ? [out] : [];
    });
    expect(runs.map((r) => r.isa)).toContain('generic');
    if (runs.length < 2) ctx.skip('only the portable kernels run on this CPU: nothing to compare');
    for (const r of runs.slice(1)) expect(r.hashes, `${r.isa} against ${runs[0]!.isa}`).toEqual(runs[0]!.hashes);
  });
});

// The WASM backend keeps an inference call's packed weights between calls (as the native addon does): one token
// at a time no longer repacks W_ih and W_hh on every call. The kernel compares the weights with the copy they
// were packed from before using a packing, so weights changed in place or a reused address never give a stale
// answer, and skips that comparison only when the weights' buffers were not written since (no write(), no kernel
// call that took them, no view ever handed out); these tests change weights every way a caller can and compare
// with an uncached call (a workspace given: training calls pack every time).
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { loadWasmBackendSync } from '../src/backend/wasm-node.js';
import { CELL_KINDS, GATES, workspaceFloats, type Buf, type CellKind } from '../src/backend/types.js';

const be = loadBackend('wasm');
const stats = () => (be as unknown as { stats: { packReuses: number; packsUnchecked: number; packsMade: number } }).stats;
const wave = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.3);
const bufOf = (data: Float32Array) => { const b = be.alloc(data.length); be.write(b, data); return b; };
const bits = (b: Buf, n: number) => Array.from(new Uint32Array(be.read(b, 0, n).buffer));

/** One cell's weights and inputs; run(cached) is a forward, cached: without a workspace, else with one. */
function cell(kind: CellKind, T: number, B: number, I: number, H: number, seed: number) {
  const G = GATES[kind], lstm = kind === 'lstm';
  const w = { wih: bufOf(wave(G * H * I, seed)), whh: bufOf(wave(G * H * H, seed + 1)), bih: bufOf(wave(G * H, seed + 2)), bhh: bufOf(wave(G * H, seed + 3)) };
  const x = bufOf(wave(T * B * I, seed + 4)), h0 = bufOf(wave(B * H, seed + 5)), c0 = lstm ? bufOf(wave(B * H, seed + 6)) : null;
  /** y: an output buffer of the caller's (it is then left allocated), else one of the call's own. */
  const run = (cached: boolean, yGiven?: Buf): number[] => {
    const y = yGiven ?? be.alloc(T * B * H), hT = be.alloc(B * H), cT = lstm ? be.alloc(B * H) : null;
    const ws = cached ? null : be.alloc(workspaceFloats(kind, T, B, H));
    be.cellForward({ kind, T, B, I, H, reverse: false, x, h0, c0, ...w, y, hT, cT, ws });
    const out = bits(y, T * B * H);
    for (const b of [yGiven ? null : y, hT, cT, ws]) if (b) be.free(b);
    return out;
  };
  return { w, run, G };
}

describe('the WASM backend keeps inference packings', () => {
  it.each(CELL_KINDS)('%s: repeated calls reuse the packing and give the bits of an uncached call', (kind) => {
    const c = cell(kind, 3, 2, 5, 37, 1);
    const before = { ...stats() };
    const want = c.run(false);
    for (let i = 0; i < 3; i++) expect(c.run(true)).toEqual(want);
    expect(stats().packsMade - before.packsMade).toBe(1);
    expect(stats().packReuses - before.packReuses).toBe(2);
    expect(stats().packsUnchecked - before.packsUnchecked).toBe(2); // nothing wrote the weights: not compared
  });

  it.each(CELL_KINDS)('%s: one weight changed in place (W_ih\'s first, W_hh\'s last element) is repacked', (kind) => {
    const c = cell(kind, 2, 1, 6, 40, 2);
    let before = c.run(true);
    for (const [name, n, at] of [['wih', c.G * 40 * 6, 0], ['whh', c.G * 40 * 40, c.G * 40 * 40 - 1]] as const) {
      const v = be.read(c.w[name]);
      v[at] = v[at]! + 0.25;
      be.write(c.w[name], v);
      const want = c.run(false);
      expect(want, `${name}[${at}] changes the output`).not.toEqual(before);
      const unchecked = stats().packsUnchecked;
      expect(c.run(true), `${name}[${at}] of ${n}`).toEqual(want);
      expect(stats().packsUnchecked, 'the call after a write compares').toBe(unchecked);
      before = want;
    }
  });

  /** Each way but write() that weights can change after a packing; `change` changes one element or more. */
  const ways: [string, (c: ReturnType<typeof cell>) => void][] = [
    ['a view taken before the packing, written after it', (c) => {
      const v = viewsBefore.get(c)!;
      v[5] = v[5]! + 0.125;
    }],
    ['a view taken after the packing', (c) => {
      const v = c.w.whh.view();
      v[v.length - 2] = v[v.length - 2]! - 0.5;
    }],
    ['a kernel that takes them (scale)', (c) => be.scale(c.G * 40 * 6, c.w.wih, 1.5)],
    ['a kernel that takes them (an Adam step)', (c) => {
      const n = c.G * 40 * 40, g = bufOf(wave(n, 7)), m = be.alloc(n), v = be.alloc(n);
      be.adamStep(n, c.w.whh, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0, false, 1);
      for (const b of [g, m, v]) be.free(b);
    }],
    ['a copy into them', (c) => {
      const src = bufOf(wave(40, 8));
      be.copy(1, 40, src, 0, 40, c.w.whh, 120, 40);
      be.free(src);
    }],
  ];
  const viewsBefore = new Map<ReturnType<typeof cell>, Float32Array>();

  it.each(ways)('weights changed by %s are compared and repacked before the next cached call', (way, change) => {
    for (const kind of CELL_KINDS) {
      const c = cell(kind, 2, 1, 6, 40, 20);
      if (way.startsWith('a view taken before')) viewsBefore.set(c, c.w.wih.view());
      c.run(true);
      const unchecked = stats().packsUnchecked;
      c.run(true);
      // (a view once taken makes every later call compare)
      expect(stats().packsUnchecked - unchecked, `${kind}: unchanged weights`).toBe(viewsBefore.has(c) ? 0 : 1);
      const before = c.run(false);
      change(c);
      const want = c.run(false);
      expect(want, `${kind}: the change changes the output`).not.toEqual(before);
      expect(c.run(true), kind).toEqual(want);
      expect(c.run(true), `${kind}, again`).toEqual(want);
    }
  });

  it.runIf(be.threads > 1)('after a failed threaded call no packing is kept: the failed call\'s is left to its threads, the others freed', () => {
    // A backend of its own, whose threads this test ends: its job fails once, as a call that trapped part-way
    // on several threads would (threadsFailed runs from inside cellForward's job, its packing in flight).
    type Entry = { packed: number; src: number };
    const own = loadWasmBackendSync() as unknown as typeof be & {
      stats: { packReuses: number; packsMade: number };
      packs: Entry[]; threadsFailed(nt: number, e: unknown): Error;
      job: (...a: unknown[]) => void; heap: { release(ptr: number, bytes: number): void };
    };
    const G = 4, H = 24, I = 4, T = 2;
    const buf = (d: Float32Array) => { const b = own.alloc(d.length); own.write(b, d); return b; };
    const w = { wih: buf(wave(G * H * I, 1)), whh: buf(wave(G * H * H, 2)), bih: buf(wave(G * H, 3)), bhh: buf(wave(G * H, 4)) };
    const w2 = { ...w, wih: buf(wave(G * H * I, 5)), whh: buf(wave(G * H * H, 6)) };
    const x = buf(wave(T * I, 7)), h0 = own.alloc(H), c0 = own.alloc(H), hT = own.alloc(H), cT = own.alloc(H);
    const run = (ws: typeof w, training = false): number[] => {
      const y = own.alloc(T * H), wsBuf = training ? own.alloc(workspaceFloats('lstm', T, 1, H)) : null;
      own.cellForward({ kind: 'lstm', T, B: 1, I, H, reverse: false, x, h0, c0, ...ws, y, hT, cT, ws: wsBuf });
      const out = Array.from(new Uint32Array(own.read(y).buffer));
      own.free(y);
      if (wsBuf) own.free(wsBuf);
      return out;
    };
    run(w2); run(w);
    expect(own.packs.length).toBe(2);
    const [inFlight, other] = [own.packs[0]!, own.packs[1]!]; // most recently used first: w's, then w2's
    const released: number[] = [];
    const release = own.heap.release.bind(own.heap);
    own.heap.release = (ptr, bytes) => { released.push(ptr); release(ptr, bytes); };
    const job = own.job.bind(own);
    own.job = () => { throw own.threadsFailed(2, new Error('a test failure')); };
    expect(() => run(w)).toThrow(/a test failure/);
    own.job = job;
    expect(own.packs.length).toBe(0);
    expect(released).toEqual(expect.arrayContaining([other.packed, other.src]));
    expect(released).not.toContain(inFlight.packed);
    expect(released).not.toContain(inFlight.src);
    const made = own.stats.packsMade, reuses = own.stats.packReuses;
    for (const ws of [w, w2, w, w2]) expect(run(ws)).toEqual(run(ws, true));
    expect([own.stats.packsMade, own.stats.packReuses]).toEqual([made, reuses]);
  });

  it.each(CELL_KINDS)('%s: a call whose output is one of its weights leaves the next call to compare them', (kind) => {
    const c = cell(kind, 2, 1, 6, 40, 30);
    c.run(true);
    c.run(true);
    c.run(true, c.w.whh); // y written over W_hh's first T*B*H floats, after the call packed W_hh
    const want = c.run(false);
    const unchecked = stats().packsUnchecked;
    expect(c.run(true)).toEqual(want);
    expect(stats().packsUnchecked).toBe(unchecked);
  });

  it.runIf(be.threads > 1)('on the threads (LSTM 64 -> 256, batch 1: W1\'s shape), each thread checks and repacks its own rows', async () => {
    const c = cell('lstm', 2, 1, 64, 256, 4);
    const threadedCalls = () => (be as unknown as { stats: { threaded: number } }).stats.threaded;
    // A change is checked by a cached call that ran on the threads. The workers start on first use, and the
    // back-off may put the shape on one thread for a while: change the weight again until the cached call after
    // a change ran threaded (at most 250 tries, 20 ms apart).
    for (const at of [0, 4 * 256 * 256 - 1]) { // thread 0's rows, then the last thread's
      let threadedCheck = false;
      for (let i = 0; i < 250 && !threadedCheck; i++) {
        const v = be.read(c.w.whh);
        v[at] = v[at]! - 0.5 / (i + 1);
        be.write(c.w.whh, v);
        const want = c.run(false);
        const t = threadedCalls();
        expect(c.run(true), `whh[${at}], try ${i + 1}`).toEqual(want);
        threadedCheck = threadedCalls() > t;
        if (!threadedCheck) await new Promise((r) => setTimeout(r, 20));
      }
      expect(threadedCheck, `whh[${at}]: a cached call after the change ran on the threads`).toBe(true);
    }
  });

  it('freeing weights releases their packing; the address reused for other weights gets a new one', () => {
    const c = cell('lstm', 2, 1, 4, 24, 3);
    c.run(true);
    const n = 4 * 24 * 24;
    const addr = (b: Buf) => (b as unknown as { ptr: number }).ptr;
    const freed = addr(c.w.whh);
    be.free(c.w.whh); // releases the packing of the freed weights too
    c.w.whh = bufOf(wave(n, 9));
    expect(addr(c.w.whh)).toBe(freed); // the allocator handed the same block back
    const before = { ...stats() };
    expect(c.run(true)).toEqual(c.run(false));
    expect(stats().packsMade - before.packsMade).toBe(1); // a new packing, not the freed weights' one
    expect(stats().packReuses - before.packReuses).toBe(0);
  });

  it('keeps 16 packings: the seventeenth weights evict the oldest, whose next call packs again', () => {
    const cells = Array.from({ length: 17 }, (_, i) => cell('gru', 1, 1, 3, 16, 10 + i));
    const made = stats().packsMade;
    for (const c of cells) c.run(true);
    expect(stats().packsMade - made).toBe(17);
    expect(cells[16]!.run(true)).toEqual(cells[16]!.run(false)); // kept
    expect(stats().packsMade - made).toBe(17);
    expect(cells[0]!.run(true)).toEqual(cells[0]!.run(false)); // evicted: packed again
    expect(stats().packsMade - made).toBe(18);
  });
});

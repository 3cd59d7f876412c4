// The native addon's batch-1 forward reads W_hh from a copy laid out by rows (native/isa_impl.h, pack_rows1),
// kept in the inference packing beside the panels that larger batches read. These tests change the weights every
// way a caller can, between batch-1 calls and calls of other batches, and compare with an uncached call (a
// workspace given: training calls pack every time, into buffers of their own).
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { CELL_KINDS, GATES, workspaceFloats, type Buf, type CellKind } from '../src/backend/types.js';
import { BACKENDS } from './helpers.js';

describe.runIf(BACKENDS.includes('native'))('native batch-1 forward', () => {
  const be = loadBackend('native');
  const wave = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.3);
  const bufOf = (data: Float32Array) => { const b = be.alloc(data.length); be.write(b, data); return b; };
  const bits = (b: Buf, n: number) => Array.from(new Uint32Array(be.read(b, 0, n).buffer));

  /** One cell's weights; run(B, cached) is a forward of batch B, cached: without a workspace, else with one. */
  function cell(kind: CellKind, T: number, I: number, H: number, seed: number) {
    const G = GATES[kind], lstm = kind === 'lstm';
    const w = { wih: bufOf(wave(G * H * I, seed)), whh: bufOf(wave(G * H * H, seed + 1)), bih: bufOf(wave(G * H, seed + 2)), bhh: bufOf(wave(G * H, seed + 3)) };
    const run = (B: number, cached: boolean): number[] => {
      const x = bufOf(wave(T * B * I, seed + 4)), h0 = bufOf(wave(B * H, seed + 5)), c0 = lstm ? bufOf(wave(B * H, seed + 6)) : null;
      const y = be.alloc(T * B * H), hT = be.alloc(B * H), cT = lstm ? be.alloc(B * H) : null;
      const ws = cached ? null : be.alloc(workspaceFloats(kind, T, B, H));
      be.cellForward({ kind, T, B, I, H, reverse: false, x, h0, c0, ...w, y, hT, cT, ws });
      const out = bits(y, T * B * H);
      for (const b of [x, h0, c0, y, hT, cT, ws]) if (b) be.free(b);
      return out;
    };
    /** Adds `d` to every element of row `r` of W_hh ([G*H, H]) in place. */
    const nudge = (r: number, d: number) => {
      const v = be.read(w.whh);
      for (let k = 0; k < H; k++) v[r * H + k] = v[r * H + k]! + d;
      be.write(w.whh, v);
    };
    return { run, nudge, G };
  }

  // H = 100: a last chunk narrower than the panels on every ISA; H = 256 with I = 64: W1's shape, on the threads.
  it.each(CELL_KINDS.flatMap((kind) => [[kind, 100, 7], [kind, 256, 64]] as const))(
    '%s H=%i: repeated calls, and a row of W_hh changed in place, give the bits of an uncached call',
    (kind, H, I) => {
      const c = cell(kind, 3, I, H, 1);
      const want = c.run(1, false);
      for (let i = 0; i < 3; i++) expect(c.run(1, true)).toEqual(want);
      let before = want;
      for (const row of [0, c.G * H - 1]) { // the first and the last unit's rows: the first and the last chunk
        c.nudge(row, 0.5);
        const changed = c.run(1, false);
        expect(changed).not.toEqual(before);
        expect(c.run(1, true), `W_hh row ${row}`).toEqual(changed);
        before = changed;
      }
    },
  );

  it.each(CELL_KINDS)('%s: weights changed while a batch of 3 ran are not served stale to the next batch-1 call', (kind) => {
    const c = cell(kind, 4, 9, 70, 2);
    c.run(1, true); // the packing and its batch-1 copy
    c.nudge(5, 0.5);
    const three = c.run(3, true); // packs the panels again; the batch-1 copy is now behind them
    expect(three).toEqual(c.run(3, false));
    expect(c.run(1, true)).toEqual(c.run(1, false));
  });
});

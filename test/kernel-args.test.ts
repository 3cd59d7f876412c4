// Every buffer of a cell kernel call is length-checked before the kernel runs (src/backend/check.ts, and again in
// native/addon.cc): one float short is an E_SHAPE error naming that buffer, never a read past its end.
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs, CellKind } from '../src/backend/types.js';
import { GATES, workspaceFloats } from '../src/backend/types.js';
import { RnnkitError } from '../src/errors.js';
import { BACKENDS } from './helpers.js';

const [T, B, I, H] = [2, 3, 4, 5];

/** The floats each buffer needs, null where the kind has no such buffer. */
function sizes(kind: CellKind): Record<string, number | null> {
  const GH = GATES[kind] * H, lstm = kind === 'lstm', ws = workspaceFloats(kind, T, B, H);
  return {
    x: T * B * I, h0: B * H, c0: lstm ? B * H : null, wih: GH * I, whh: GH * H, bih: GH, bhh: GH, y: T * B * H,
    hT: B * H, cT: lstm ? B * H : null, ws: ws > 0 ? ws : null,
    dy: T * B * H, dhT: B * H, dcT: lstm ? B * H : null, dx: T * B * I, dh0: B * H, dc0: lstm ? B * H : null,
    dwih: GH * I, dwhh: GH * H, dbih: GH, dbhh: GH,
  };
}

const FORWARD = ['x', 'h0', 'c0', 'wih', 'whh', 'bih', 'bhh', 'y', 'hT', 'cT', 'ws'];
const BACKWARD = ['x', 'h0', 'c0', 'wih', 'whh', 'bih', 'bhh', 'y', 'ws', 'dy', 'dhT', 'dcT', 'dx', 'dh0', 'dc0',
  'dwih', 'dwhh', 'dbih', 'dbhh'];

/** The arguments of one call, every buffer its right length except `short`, one float short. */
function args(be: Backend, kind: CellKind, names: string[], short: string | null): Record<string, unknown> {
  const a: Record<string, unknown> = { kind, T, B, I, H, reverse: false };
  for (const [name, n] of Object.entries(sizes(kind))) {
    if (!names.includes(name)) continue;
    a[name] = n === null ? null : be.alloc(name === short ? n - 1 : n) satisfies Buf;
  }
  return a;
}

function errorOf(f: () => void): RnnkitError | null {
  try {
    f();
  } catch (e) {
    if (e instanceof RnnkitError) return e;
    throw e;
  }
  return null;
}

describe.each(BACKENDS)('cell kernel arguments on the %s backend', (backend) => {
  const be = loadBackend(backend);
  describe.each(['lstm', 'gru', 'rnn_tanh'] as const)('%s', (kind) => {
    const needed = (names: string[]) => names.filter((n) => sizes(kind)[n] !== null);
    it('buffers of the right lengths pass', () => {
      expect(errorOf(() => be.cellForward(args(be, kind, FORWARD, null) as unknown as CellForwardArgs))).toBeNull();
      expect(errorOf(() => be.cellBackward(args(be, kind, BACKWARD, null) as unknown as CellBackwardArgs))).toBeNull();
    });
    it.each(needed(FORWARD))('cellForward: %s one float short is E_SHAPE naming it', (name) => {
      const e = errorOf(() => be.cellForward(args(be, kind, FORWARD, name) as unknown as CellForwardArgs));
      expect(e?.code).toBe('E_SHAPE');
      expect(e?.message).toMatch(new RegExp(`buffer ${name}: expected at least ${sizes(kind)[name]} floats, found ${sizes(kind)[name]! - 1}`));
    });
    it.each(needed(BACKWARD))('cellBackward: %s one float short is E_SHAPE naming it', (name) => {
      const e = errorOf(() => be.cellBackward(args(be, kind, BACKWARD, name) as unknown as CellBackwardArgs));
      expect(e?.code).toBe('E_SHAPE');
      expect(e?.message).toMatch(new RegExp(`buffer ${name}: expected at least ${sizes(kind)[name]} floats, found ${sizes(kind)[name]! - 1}`));
    });
  });
});

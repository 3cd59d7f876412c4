// The cell kinds: the one table every TypeScript file reads (DESIGN.md, "One fact, one place"). Adding a kind
// touches this table, the kernel sources (native/kernels.cc, assembly/, native/cuda/cell_ops.h with its gate counts
// and workspace sizes in native/cuda/driver.h) and the vectors (tools/make-vectors.py).
//
// The order of the rows is the order users see ("expected one of lstm, gru, rnn_tanh, rnn_relu"); the code is
// the kernels' `kind` argument (native/kernels.h `CellKind`, native/KERNELS.md "Kind codes").

export interface CellSpec {
  /** The kernels' kind argument. */
  readonly code: number;
  /** Gate blocks of H rows in W_ih [G*H, I], W_hh [G*H, H] and the biases, in PyTorch's order; G is their count. */
  readonly gates: readonly string[];
  /** Floats of workspace forward keeps for backward, per T*B*H (native/KERNELS.md, "Workspace"). */
  readonly workspacePerTBH: number;
  /** Whether the cell carries a cell state c beside h (c0, cT, dcT, dc0). */
  readonly hasCellState: boolean;
}

export const CELL_TABLE = {
  // workspace: [T,B,4H] activated i,f,g,o, then [T,B,H] cell states
  lstm: { code: 2, gates: ['i', 'f', 'g', 'o'], workspacePerTBH: 5, hasCellState: true },
  // workspace: [T,B,3H] activated r,z,n, then [T,B,H] ghn = h_prev W_hnᵀ + b_hn
  gru: { code: 3, gates: ['r', 'z', 'n'], workspacePerTBH: 4, hasCellState: false },
  // no workspace: backward reads y and h0
  rnn_tanh: { code: 0, gates: ['h'], workspacePerTBH: 0, hasCellState: false },
  rnn_relu: { code: 1, gates: ['h'], workspacePerTBH: 0, hasCellState: false },
} as const satisfies Record<string, CellSpec>;

export type CellKind = keyof typeof CELL_TABLE;

/** Every kind, in the table's order. */
export const CELL_KINDS: readonly CellKind[] = Object.freeze(Object.keys(CELL_TABLE) as CellKind[]);

// Without a prototype, so `kind in GATES` (src/backend/check.ts) is true for the kinds only, not for "toString".
const column = <T>(pick: (c: CellSpec) => T): Readonly<Record<CellKind, T>> =>
  Object.freeze(Object.assign(Object.create(null) as Record<CellKind, T>, Object.fromEntries(CELL_KINDS.map((k) => [k, pick(CELL_TABLE[k])]))));

/** The kernels' code of each kind. */
export const CELL_CODES = column((c) => c.code);
/** G, the gate count of each kind. */
export const GATES = column((c) => c.gates.length);

/** Floats of workspace forward keeps for backward (native/KERNELS.md). */
export function workspaceFloats(kind: CellKind, T: number, B: number, H: number): number {
  return CELL_TABLE[kind].workspacePerTBH * T * B * H;
}

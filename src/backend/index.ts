// Choosing a backend: native if the addon loads, else WASM; RNNKIT_BACKEND=native|wasm forces one. Every
// attempt is recorded so `rnnkit info` (and backendReport()) can say what was chosen and why others were not.
import { RnnkitError } from '../errors.js';
import { loadNativeBackend } from './native.js';
import type { Backend } from './types.js';
import { loadWasmBackendSync } from './wasm.js';

export type BackendName = 'native' | 'wasm';
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm'];

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  /** Why it could not be used (when !ok), or its details (when ok). */
  detail: string;
}

export interface BackendReport {
  /** The backend `getBackend()` returns, or null when none loads. */
  active: BackendName | null;
  /** The value of RNNKIT_BACKEND when it forces one. */
  forced: BackendName | null;
  attempts: BackendAttempt[];
}

const loaders: Record<BackendName, () => Backend> = { native: loadNativeBackend, wasm: loadWasmBackendSync };
const loaded = new Map<BackendName, Backend | RnnkitError>();

function attempt(name: BackendName): Backend | RnnkitError {
  let r = loaded.get(name);
  if (r === undefined) {
    try {
      r = loaders[name]();
    } catch (e) {
      r = e instanceof RnnkitError ? e : new RnnkitError('E_BACKEND', `${name} backend: ${(e as Error).message}`, { cause: e });
    }
    loaded.set(name, r);
  }
  return r;
}

function forcedName(): BackendName | null {
  const v = (process.env.RNNKIT_BACKEND ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return null;
  if (v === 'native' || v === 'wasm') return v;
  throw new RnnkitError('E_BACKEND', `RNNKIT_BACKEND: expected native, wasm or auto, found "${v}"`);
}

/** A specific backend, or an E_BACKEND error that says why it cannot load. */
export function loadBackend(name: BackendName): Backend {
  if (!BACKEND_NAMES.includes(name)) {
    throw new RnnkitError('E_ARGUMENT', `backend: expected one of ${BACKEND_NAMES.join(', ')}, found "${String(name)}"`);
  }
  const r = attempt(name);
  if (r instanceof RnnkitError) throw r;
  return r;
}

/** The default backend: forced by RNNKIT_BACKEND, else native, else WASM. */
export function getBackend(): Backend {
  const forced = forcedName();
  if (forced) return loadBackend(forced);
  for (const name of BACKEND_NAMES) {
    const r = attempt(name);
    if (!(r instanceof RnnkitError)) return r;
  }
  const why = BACKEND_NAMES.map((n) => `${n}: ${(attempt(n) as RnnkitError).message}`).join('; ');
  throw new RnnkitError('E_BACKEND', `no backend could be loaded (${why})`);
}

/** Resolves a layer's `backend` option. */
export function resolveBackend(b: Backend | BackendName | undefined): Backend {
  if (b === undefined) return getBackend();
  if (typeof b === 'string') return loadBackend(b);
  return b;
}

/** What loads here, which one is active, and why the others are not. Never throws for a backend failure. */
export function backendReport(): BackendReport {
  const attempts = BACKEND_NAMES.map((name): BackendAttempt => {
    const r = attempt(name);
    return r instanceof RnnkitError ? { name, ok: false, detail: r.message } : { name, ok: true, detail: r.details };
  });
  let forced: BackendName | null = null;
  let active: BackendName | null = null;
  try {
    forced = forcedName();
    active = getBackend().name;
  } catch {
    active = null;
  }
  return { active, forced, attempts };
}

export type { Backend, Buf, CellKind } from './types.js';

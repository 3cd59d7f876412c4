// Choosing a backend: native if the addon loads, else WASM; RNNKIT_BACKEND=native|wasm forces one. Every
// attempt is recorded so `rnnkit info` (and backendReport()) can say what was chosen and why others were not.
import { RnnkitError } from '../errors.js';
import { loadNativeBackend } from './native.js';
import { invalidSetting, readSetting, settingError } from './settings.js';
import type { Backend } from './types.js';
import { loadWasmBackendSync } from './wasm-node.js';

export type BackendName = 'native' | 'wasm';
export const BACKEND_NAMES: readonly BackendName[] = ['native', 'wasm'];

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  /** Why it could not be used (when !ok), or its details (when ok). */
  detail: string;
  /** The RNNKIT_* variable whose value is not an allowed one, when that is why it could not be used. */
  setting?: string;
}

export interface BackendReport {
  /** The backend `getBackend()` returns, or null when none loads. */
  active: BackendName | null;
  /** The value of RNNKIT_BACKEND when it forces one. */
  forced: BackendName | null;
  attempts: BackendAttempt[];
  /** Why no backend is active (when active is null), else null. */
  error: string | null;
  /** The RNNKIT_* variables with values that are not allowed ones: `rnnkit info` then exits 1. */
  invalidSettings: string[];
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

/** @internal Forgets a failed load of `name`, so the next call tries again (the browser entry's ready()). */
export function retryBackend(name: BackendName): void {
  if (loaded.get(name) instanceof RnnkitError) loaded.delete(name);
}

function forcedName(): BackendName | null {
  const raw = readSetting('RNNKIT_BACKEND');
  const v = raw.toLowerCase();
  if (v === '' || v === 'auto') return null;
  if (v === 'native' || v === 'wasm') return v;
  throw settingError('RNNKIT_BACKEND', raw, 'native, wasm or auto');
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
    if (invalidSetting(r) !== null) throw r; // a bad setting is the user's to fix, not a reason to fall back
  }
  const why = BACKEND_NAMES.map((n) => `${n}: ${(attempt(n) as RnnkitError).message}`).join('; ');
  throw new RnnkitError('E_BACKEND', `no backend could be loaded (${why})`);
}

/** Resolves a layer's `backend` option. */
export function resolveBackend(b: Backend | BackendName | undefined): Backend {
  if (b === undefined) return getBackend();
  if (typeof b === 'string') return loadBackend(b);
  const ops = ['alloc', 'free', 'cellForward', 'cellBackward'] as const;
  if (b === null || typeof b !== 'object' || ops.some((k) => typeof (b as unknown as Record<string, unknown>)[k] !== 'function')) {
    const found = b === null ? 'null' : typeof b === 'object' ? 'an object that is not a backend' : typeof b;
    throw new RnnkitError('E_ARGUMENT', `backend: expected ${BACKEND_NAMES.map((n) => `'${n}'`).join(' or ')} or a loaded Backend, found ${found}`);
  }
  return b;
}

/** What loads here, which one is active, and why the others are not. Never throws for a backend failure. */
export function backendReport(): BackendReport {
  const invalidSettings: string[] = [];
  const attempts = BACKEND_NAMES.map((name): BackendAttempt => {
    const r = attempt(name);
    if (!(r instanceof RnnkitError)) return { name, ok: true, detail: r.details };
    const setting = invalidSetting(r);
    if (setting === null) return { name, ok: false, detail: r.message };
    invalidSettings.push(setting);
    return { name, ok: false, detail: r.message, setting };
  });
  let forced: BackendName | null = null;
  let active: BackendName | null = null;
  let error: string | null = null;
  try {
    forced = forcedName();
    active = getBackend().name;
  } catch (e) {
    active = null;
    error = (e as Error).message;
    const setting = invalidSetting(e);
    if (setting !== null && !invalidSettings.includes(setting)) invalidSettings.push(setting);
  }
  return { active, forced, attempts, error, invalidSettings };
}

export type { Backend, Buf, CellKind } from './types.js';

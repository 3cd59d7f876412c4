// Choosing a backend. Backends come from a registry: each has a name and a loader; `native` and `wasm` are
// registered here and take part in the automatic choice (native, else WASM), others (`cuda`) load only when asked
// for. RNNKIT_BACKEND=<a registered name> forces one. Every attempt is recorded so `rnnkit info` (and
// backendReport()) can say what was chosen and why the others were not.
import { RnnkitError } from '../errors.js';
import { loadCudaBackend } from './cuda.js';
import { loadNativeBackend } from './native.js';
import { invalidSetting, readSetting, settingError } from './settings.js';
import type { Backend, BackendName } from './types.js';
import { loadWasmBackendSync } from './wasm-node.js';

export type { BackendName } from './types.js';

/**
 * Loads a backend: returns it, or returns the reason it cannot load here (a sentence a user can act on:
 * "no NVIDIA driver (libcuda.so.1 not found)"). A thrown error counts as such a reason too.
 */
export type BackendLoader = () => Backend | string;

export interface BackendRegistration {
  /** Whether the automatic choice (RNNKIT_BACKEND unset or `auto`) may pick it, in order of registration. */
  auto?: boolean;
}

interface Entry {
  name: BackendName;
  load: BackendLoader;
  auto: boolean;
}

const registry: Entry[] = [];
const names: BackendName[] = [];
/** The registered backends' names, in order of registration (a live list: a later registration joins it). */
export const BACKEND_NAMES: readonly BackendName[] = names;
const loaded = new Map<BackendName, Backend | RnnkitError>();

/**
 * Adds a backend under `name` (lowercase letters, digits and dashes; not `auto`; not taken). Its loader runs once,
 * on first use; its result or reason is kept for the life of the process.
 */
export function registerBackend(name: string, load: BackendLoader, opts: BackendRegistration = {}): void {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(name) || name === 'auto') {
    throw new RnnkitError('E_ARGUMENT', `backend name: expected lowercase letters, digits and dashes (not "auto"), found ${JSON.stringify(name)}`);
  }
  if (names.includes(name)) throw new RnnkitError('E_ARGUMENT', `backend name: "${name}" is already registered`);
  if (typeof load !== 'function') throw new RnnkitError('E_ARGUMENT', `backend ${name}: expected a loader function, found ${typeof load}`);
  registry.push({ name, load, auto: opts.auto ?? false });
  names.push(name);
}

registerBackend('native', loadNativeBackend, { auto: true });
registerBackend('wasm', loadWasmBackendSync, { auto: true });
// Only when asked for: a GPU is worth it for large batches, not for the streaming calls most users make.
registerBackend('cuda', loadCudaBackend);

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  /** Why it could not be used (when !ok), or its details (when ok). */
  detail: string;
  /** The RNNKIT_* variable whose value is not an allowed one, when that is why it could not be used. */
  setting?: string;
  /** Whether the automatic choice may pick it; when false it is used only when asked for by name. */
  auto: boolean;
}

export interface BackendReport {
  /** The backend `getBackend()` returns, or null when none loads. */
  active: BackendName | null;
  /** The value of RNNKIT_BACKEND when it forces one. */
  forced: BackendName | null;
  /** Every registered backend, in order of registration. */
  attempts: BackendAttempt[];
  /** Why no backend is active (when active is null), else null. */
  error: string | null;
  /** The RNNKIT_* variables with values that are not allowed ones: `rnnkit info` then exits 1. */
  invalidSettings: string[];
}

const known = () => `${names.join(', ')}`;

function attempt(e: Entry): Backend | RnnkitError {
  let r = loaded.get(e.name);
  if (r === undefined) {
    try {
      const b = e.load();
      if (typeof b === 'string') r = new RnnkitError('E_BACKEND', `${e.name} backend: ${b}`);
      else if (b === null || typeof b !== 'object') r = new RnnkitError('E_BACKEND', `${e.name} backend: its loader returned ${b === null ? 'null' : typeof b}, neither a backend nor a reason`);
      else r = b;
    } catch (err) {
      r = err instanceof RnnkitError ? err : new RnnkitError('E_BACKEND', `${e.name} backend: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    loaded.set(e.name, r);
  }
  return r;
}

function entry(name: BackendName): Entry | undefined {
  return registry.find((e) => e.name === name);
}

/** @internal Forgets a failed load of `name`, so the next call tries again (the browser entry's ready()). */
export function retryBackend(name: BackendName): void {
  if (loaded.get(name) instanceof RnnkitError) loaded.delete(name);
}

function forcedName(): BackendName | null {
  const raw = readSetting('RNNKIT_BACKEND');
  const v = raw.toLowerCase();
  if (v === '' || v === 'auto') return null;
  if (entry(v)) return v;
  throw settingError('RNNKIT_BACKEND', raw, `${known()} or auto`);
}

/** A registered backend, or an E_BACKEND error that says why it cannot load (or, for an unknown name, which are known). */
export function loadBackend(name: BackendName): Backend {
  const e = typeof name === 'string' ? entry(name) : undefined;
  if (!e) {
    throw new RnnkitError('E_BACKEND', `backend: expected one of the registered backends ${known()}, found ${typeof name === 'string' ? `"${name}"` : String(name)}`);
  }
  const r = attempt(e);
  if (r instanceof RnnkitError) throw r;
  return r;
}

/** The default backend: forced by RNNKIT_BACKEND, else the first that loads of those registered with `auto`. */
export function getBackend(): Backend {
  const forced = forcedName();
  if (forced) return loadBackend(forced);
  const auto = registry.filter((e) => e.auto);
  for (const e of auto) {
    const r = attempt(e);
    if (!(r instanceof RnnkitError)) return r;
    if (invalidSetting(r) !== null) throw r; // a bad setting is the user's to fix, not a reason to fall back
  }
  const why = auto.map((e) => `${e.name}: ${(attempt(e) as RnnkitError).message}`).join('; ');
  throw new RnnkitError('E_BACKEND', `no backend could be loaded (${why})`);
}

/** Resolves a layer's `backend` option: undefined (the default), a registered name, or a loaded Backend. */
export function resolveBackend(b: Backend | BackendName | undefined): Backend {
  if (b === undefined) return getBackend();
  if (typeof b === 'string') return loadBackend(b);
  const ops = ['alloc', 'free', 'cellForward', 'cellBackward', 'write', 'read'] as const;
  if (b === null || typeof b !== 'object' || ops.some((k) => typeof (b as unknown as Record<string, unknown>)[k] !== 'function')) {
    const found = b === null ? 'null' : typeof b === 'object' ? 'an object that is not a backend' : typeof b;
    throw new RnnkitError('E_ARGUMENT', `backend: expected ${names.map((n) => `'${n}'`).join(' or ')} or a loaded Backend, found ${found}`);
  }
  return b;
}

/** What loads here, which one is active, and why the others are not. Never throws for a backend failure. */
export function backendReport(): BackendReport {
  const invalidSettings: string[] = [];
  const attempts = registry.map((e): BackendAttempt => {
    const r = attempt(e);
    if (!(r instanceof RnnkitError)) return { name: e.name, ok: true, detail: r.details, auto: e.auto };
    const setting = invalidSetting(r);
    if (setting === null) return { name: e.name, ok: false, detail: r.message, auto: e.auto };
    invalidSettings.push(setting);
    return { name: e.name, ok: false, detail: r.message, setting, auto: e.auto };
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

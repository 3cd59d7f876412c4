// The backend registry (src/backend/index.ts): names come from it, not from a fixed list; an unknown name is an
// E_BACKEND naming the registered ones; a registered backend that cannot load shows its reason in `rnnkit info`
// and in the error when it is asked for; the automatic choice stays native, else WASM.
import { afterEach, describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES, backendReport, getBackend, loadBackend, registerBackend, resolveBackend,
} from '../src/backend/index.js';
import { formatInfo } from '../src/cli/info.js';
import { LSTM } from '../src/nn/recurrent.js';
import { errorOf } from './helpers.js';

const saved = process.env.RNNKIT_BACKEND;
afterEach(() => {
  if (saved === undefined) delete process.env.RNNKIT_BACKEND; else process.env.RNNKIT_BACKEND = saved;
});

// Registered once for the whole file (a registration lasts for the process).
registerBackend('nogpu', () => 'no NVIDIA driver here (libcuda.so.1 not found)');
registerBackend('throws', () => { throw new Error('the library said no'); });

describe('the backend registry', () => {
  it('lists native and wasm first, then later registrations, in order', () => {
    expect(BACKEND_NAMES.slice(0, 2)).toEqual(['native', 'wasm']);
    expect(BACKEND_NAMES).toContain('nogpu');
    expect(BACKEND_NAMES.indexOf('throws')).toBe(BACKEND_NAMES.indexOf('nogpu') + 1);
  });

  it('an unknown name is E_BACKEND naming every registered backend', () => {
    for (const f of [() => loadBackend('abacus'), () => resolveBackend('abacus'), () => new LSTM({ inputSize: 2, hiddenSize: 3, backend: 'abacus' })]) {
      const e = errorOf(f);
      expect(e.code).toBe('E_BACKEND');
      expect(e.message).toMatch(/"abacus"/);
      for (const n of ['native', 'wasm', 'nogpu']) expect(e.message).toContain(n);
    }
  });

  it('RNNKIT_BACKEND with an unknown name is E_BACKEND naming the registered ones', () => {
    process.env.RNNKIT_BACKEND = 'abacus';
    const e = errorOf(() => getBackend());
    expect(e.code).toBe('E_BACKEND');
    expect(e.message).toMatch(/RNNKIT_BACKEND: expected native, wasm, cuda, nogpu, throws or auto, found "abacus"/);
  });

  it('a registered backend that cannot load gives its reason when asked for, by name or by RNNKIT_BACKEND', () => {
    const e = errorOf(() => new LSTM({ inputSize: 2, hiddenSize: 3, backend: 'nogpu' }));
    expect(e.code).toBe('E_BACKEND');
    expect(e.message).toBe('nogpu backend: no NVIDIA driver here (libcuda.so.1 not found)');
    process.env.RNNKIT_BACKEND = 'NoGPU';
    expect(errorOf(() => getBackend()).message).toBe(e.message);
    expect(errorOf(() => loadBackend('throws')).message).toBe('throws backend: the library said no');
  });

  it('rnnkit info lists every registered backend with its status or reason', () => {
    delete process.env.RNNKIT_BACKEND;
    const r = backendReport();
    expect(r.attempts.map((a) => a.name)).toEqual([...BACKEND_NAMES]);
    const nogpu = r.attempts.find((a) => a.name === 'nogpu')!;
    expect(nogpu).toMatchObject({ ok: false, auto: false, detail: 'nogpu backend: no NVIDIA driver here (libcuda.so.1 not found)' });
    const text = formatInfo(r);
    expect(text).toContain('nogpu   unavailable (only when asked for): nogpu backend: no NVIDIA driver here (libcuda.so.1 not found)');
    expect(text).toContain('throws  unavailable (only when asked for): throws backend: the library said no');
    expect(text).toMatch(/^ {2}native {2}available: C\+\+ addon/m);
  });

  it('the automatic choice is native, else wasm, and never a backend registered without auto', () => {
    delete process.env.RNNKIT_BACKEND;
    expect(getBackend().name).toBe('native');
    expect(backendReport().active).toBe('native');
    process.env.RNNKIT_BACKEND = 'auto';
    expect(getBackend().name).toBe('native');
  });

  it('a backend registered with auto joins the automatic order after native and wasm', () => {
    // (The fall-back from native to wasm itself is seen in test/cli.test.ts, in a copy without the addon.)
    registerBackend('later', () => 'not here', { auto: true });
    delete process.env.RNNKIT_BACKEND;
    const r = backendReport();
    expect(r.attempts.filter((a) => a.auto).map((a) => a.name)).toEqual(['native', 'wasm', 'later']);
    expect(r.active).toBe('native');
  });

  it('refuses a bad or taken name and a loader that is not a function', () => {
    for (const name of ['auto', 'Native', '', '1gpu', 'native']) {
      expect(errorOf(() => registerBackend(name, () => 'x')).code, name).toBe('E_ARGUMENT');
    }
    expect(errorOf(() => registerBackend('fine', 'x' as never)).code).toBe('E_ARGUMENT');
    expect(BACKEND_NAMES).not.toContain('fine');
  });

  it('a loader that returns neither a backend nor a reason is an E_BACKEND saying so', () => {
    registerBackend('empty', () => null as never);
    expect(errorOf(() => loadBackend('empty')).message).toMatch(/empty backend: its loader returned null/);
  });
});

// One rule for the RNNKIT_* settings: a value that is not one of the allowed ones is an E_BACKEND error from loading
// the backend it affects, naming the variable, the value found and the allowed values, and `rnnkit info` shows it
// and exits 1. Each case runs in a child process (the addon reads its settings once per process).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS = ['RNNKIT_BACKEND', 'RNNKIT_THREADS', 'RNNKIT_ISA', 'RNNKIT_WASM_THREADS', 'RNNKIT_WASM_RELAXED', 'RNNKIT_WASM_SPINS'];

function run(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(SETTINGS.map((k) => [k, '']));
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: root, env: { ...process.env, ...clean, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const info = (env: Record<string, string>, json = false) =>
  run([join(root, 'dist/cli/main.js'), 'info', ...(json ? ['--json'] : [])], env);

/** loadBackend(name) in a child: 'ok' or the error's code and message. */
function load(name: string, env: Record<string, string>): string {
  const src = `import('./dist/index.js').then((m) => { try { m.loadBackend(${JSON.stringify(name)}); console.log('ok'); }
    catch (e) { console.log(e.code + ' ' + e.message); } })`;
  return run(['-e', src], env).out.trim();
}

const native = BACKENDS.includes('native');
const wasm = BACKENDS.includes('wasm');

// [variable, bad value, backend it affects, a pattern of the allowed values in the message]
const BAD: [string, string, 'native' | 'wasm', RegExp][] = [
  ['RNNKIT_THREADS', 'abc', 'native', /1 to 256/],
  ['RNNKIT_THREADS', '0', 'native', /1 to 256/],
  ['RNNKIT_THREADS', '2.5', 'native', /1 to 256/],
  ['RNNKIT_THREADS', '4x', 'native', /1 to 256/],
  ['RNNKIT_ISA', 'avx9', 'native', /avx512.*avx2.*generic|generic/],
  ['RNNKIT_WASM_THREADS', 'x', 'wasm', /1 to 16.*auto/],
  ['RNNKIT_WASM_RELAXED', 'maybe', 'wasm', /0.*1/],
  ['RNNKIT_WASM_SPINS', '1,2', 'wasm', /main,worker,idle/],
];

describe('invalid RNNKIT_* settings', () => {
  for (const [variable, value, backend, allowed] of BAD) {
    const has = backend === 'native' ? native : wasm;
    it.skipIf(!has)(`${variable}=${value}: loading ${backend} is E_BACKEND naming the variable, value and allowed values`, () => {
      const r = load(backend, { [variable]: value });
      expect(r).toMatch(new RegExp(`^E_BACKEND .*${variable}`));
      expect(r).toContain(`"${value}"`);
      expect(r).toMatch(allowed);
    });

    it.skipIf(!has)(`${variable}=${value}: rnnkit info shows it and exits 1 (--json too)`, () => {
      const r = info({ [variable]: value });
      expect(r.code).toBe(1);
      expect(r.out).toContain(variable);
      expect(r.out).toContain(`"${value}"`);
      const j = info({ [variable]: value }, true);
      expect(j.code).toBe(1);
      const report = JSON.parse(j.out) as { attempts: { name: string; ok: boolean; setting?: string }[] };
      const a = report.attempts.find((x) => x.name === backend)!;
      expect(a.ok).toBe(false);
      expect(a.setting).toBe(variable);
    });
  }

  it.skipIf(!native)('a bad native setting is an error under auto too, not a silent fall back to WASM', () => {
    expect(load('native', { RNNKIT_THREADS: 'abc' })).toMatch(/^E_BACKEND/);
    const src = `import('./dist/index.js').then((m) => { try { console.log(m.getBackend().name); }
      catch (e) { console.log(e.code + ' ' + e.message); } })`;
    expect(run(['-e', src], { RNNKIT_THREADS: 'abc' }).out.trim()).toMatch(/^E_BACKEND .*RNNKIT_THREADS/);
  });

  it('RNNKIT_BACKEND=gpu: rnnkit info says why no backend is active and exits 1', () => {
    const r = info({ RNNKIT_BACKEND: 'gpu' });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/RNNKIT_BACKEND.*"gpu"/);
  });
});

describe('valid RNNKIT_* settings', () => {
  it.skipIf(!native)('RNNKIT_THREADS=1 and RNNKIT_ISA=generic load, and rnnkit info exits 0', () => {
    expect(load('native', { RNNKIT_THREADS: '1', RNNKIT_ISA: 'generic' })).toBe('ok');
    const r = info({ RNNKIT_THREADS: ' 1 ', RNNKIT_ISA: 'generic' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/generic kernels, 1 thread\b/);
  });

  it.skipIf(!wasm)('RNNKIT_WASM_THREADS=1, RNNKIT_WASM_RELAXED=0 and RNNKIT_WASM_SPINS=1,2,3 load', () => {
    expect(load('wasm', { RNNKIT_WASM_THREADS: '1', RNNKIT_WASM_RELAXED: '0', RNNKIT_WASM_SPINS: '1,2,3' })).toBe('ok');
    expect(load('wasm', { RNNKIT_WASM_THREADS: 'auto', RNNKIT_WASM_RELAXED: 'on' })).toBe('ok');
    expect(info({ RNNKIT_WASM_RELAXED: 'false' }).code).toBe(0);
  });
});

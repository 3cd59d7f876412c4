// The rnnkit command in a subprocess: `rnnkit info` explains the backends, including when the addon is missing.
// The command runs in a package where exactly the backends under test (RNNKIT_TEST_BACKENDS) can load, so what it
// reports is known: with both, this checkout; with fewer, a copy without the others' binaries (the addon in
// build/, the WASM builds in dist/wasm/), which is what a machine without a C++ toolchain has.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendName } from '../src/backend/index.js';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ALL: BackendName[] = ['native', 'wasm']; // the order in which the command tries them
const LOADABLE = ALL.filter((b) => BACKENDS.includes(b));
const copies: string[] = [];
afterAll(() => { for (const dir of copies) rmSync(dir, { recursive: true, force: true }); });

/** A copy of the package (package.json, dist/, node_modules linked) in which only `backends` can load. */
function packageWith(backends: BackendName[]): string {
  const pkg = mkdtempSync(join(tmpdir(), `rnnkit-${backends.join('-') || 'none'}-`));
  copies.push(pkg);
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  const wasmDir = join(root, 'dist', 'wasm');
  cpSync(join(root, 'dist'), join(pkg, 'dist'), {
    recursive: true,
    filter: (src) => backends.includes('wasm') || (src !== wasmDir && !src.startsWith(wasmDir + sep)),
  });
  if (backends.includes('native')) {
    mkdirSync(join(pkg, 'build', 'Release'), { recursive: true });
    cpSync(join(root, 'build', 'Release', 'rnnkit.node'), join(pkg, 'build', 'Release', 'rnnkit.node'));
  }
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
  return pkg;
}

const pkgUnderTest = LOADABLE.length === ALL.length ? root : packageWith(LOADABLE);

function rnnkit(args: string[], env: Record<string, string> = {}, pkg = pkgUnderTest) {
  const r = spawnSync(process.execPath, [join(pkg, 'dist/cli/main.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, RNNKIT_BACKEND: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('rnnkit info', () => {
  it('lists every backend, whether it loads, and the active one (native before WASM)', () => {
    const r = rnnkit(['info']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`active backend: ${LOADABLE[0]}\n`));
    for (const b of ALL) expect(r.out).toMatch(new RegExp(`${b}\\s+${LOADABLE.includes(b) ? 'available' : 'unavailable'}`));
  });

  it('reports a backend forced by RNNKIT_BACKEND', () => {
    const forced = LOADABLE[LOADABLE.length - 1]!; // WASM when both load: not the one chosen anyway
    const r = rnnkit(['info'], { RNNKIT_BACKEND: forced });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`active backend: ${forced} (forced by RNNKIT_BACKEND=${forced})`);
  });

  it('prints JSON with --json', () => {
    const r = rnnkit(['info', '--json']);
    const report = JSON.parse(r.out);
    expect(report.active).toBe(LOADABLE[0]);
    expect(report.attempts.map((a: { name: string }) => a.name)).toEqual(['native', 'wasm', 'cuda']);
  });

  it('rejects an unknown command with exit code 2', () => {
    const r = rnnkit(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "frobnicate"/);
  });

  describe.runIf(LOADABLE.includes('wasm'))('in a copy of the package without the native addon', () => {
    const pkg = LOADABLE.includes('native') ? packageWith(['wasm']) : pkgUnderTest;

    it('falls back to WASM and says why native is unavailable', () => {
      const r = rnnkit(['info'], {}, pkg);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/active backend: wasm/);
      expect(r.out).toMatch(/native\s+unavailable: .*could not be loaded.*npm rebuild rnnkit/);
    });

    it('fails with E_BACKEND when native is forced', () => {
      const r = rnnkit(['info'], { RNNKIT_BACKEND: 'native' }, pkg);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/active backend: none/);
    });
  });
});

describe('rnnkit bench', () => {
  it('times a workload on every backend and prints JSON rows', () => {
    const r = rnnkit(['bench', 'W1', '--time', '50', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { rows: { workload: string; backend: string; medianMs: number; runs: number }[] };
    expect(out.rows.map((x) => x.backend)).toEqual(LOADABLE);
    for (const row of out.rows) {
      expect(row.workload).toBe('W1');
      expect(row.medianMs).toBeGreaterThan(0);
      expect(row.runs).toBeGreaterThanOrEqual(5);
    }
    expect(r.err).toMatch(new RegExp(`1/\\d W1 on ${LOADABLE[0]}`));
  });

  it('rejects an unknown workload with exit code 2', () => {
    const r = rnnkit(['bench', 'W9']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown workload "W9"/);
  });
});

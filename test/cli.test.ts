// The rnnkit command in a subprocess: `rnnkit info` explains the backends, including when the addon is missing.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function rnnkit(args: string[], env: Record<string, string> = {}, pkg = root) {
  const r = spawnSync(process.execPath, [join(pkg, 'dist/cli/main.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, RNNKIT_BACKEND: '', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('rnnkit info', () => {
  it('lists both backends and the active one', () => {
    const r = rnnkit(['info']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`active backend: ${BACKENDS[0]}`));
    for (const b of BACKENDS) expect(r.out).toMatch(new RegExp(`${b}\\s+available`));
  });

  it('reports a backend forced by RNNKIT_BACKEND', () => {
    const r = rnnkit(['info'], { RNNKIT_BACKEND: 'wasm' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/active backend: wasm \(forced by RNNKIT_BACKEND=wasm\)/);
  });

  it('prints JSON with --json', () => {
    const r = rnnkit(['info', '--json']);
    const report = JSON.parse(r.out);
    expect(report.active).toBe(BACKENDS[0]);
    expect(report.attempts.map((a: { name: string }) => a.name)).toEqual(['native', 'wasm']);
  });

  it('rejects an unknown command with exit code 2', () => {
    const r = rnnkit(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "frobnicate"/);
  });

  describe('in a copy of the package without the native addon', () => {
    const pkg = mkdtempSync(join(tmpdir(), 'rnnkit-noaddon-'));
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    afterAll(() => rmSync(pkg, { recursive: true, force: true }));

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
    expect(out.rows.map((x) => x.backend)).toEqual(BACKENDS);
    for (const row of out.rows) {
      expect(row.workload).toBe('W1');
      expect(row.medianMs).toBeGreaterThan(0);
      expect(row.runs).toBeGreaterThanOrEqual(5);
    }
    expect(r.err).toMatch(/1\/\d W1 on native/);
  });

  it('rejects an unknown workload with exit code 2', () => {
    const r = rnnkit(['bench', 'W9']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown workload "W9"/);
  });
});

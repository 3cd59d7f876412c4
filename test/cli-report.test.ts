// `--out <dir>` on `rnnkit gradients` and `rnnkit experiment memory`: <dir>/index.html is written (the directory
// made when missing), stderr says where, and stdout is the same table as without --out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const model = join(root, 'models/names.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'rnnkit-report-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const data = join(dir, 'names.txt');
writeFileSync(data, 'Mary\nSarah\nMargaret\nJohn\nAnna\nSamuel\nMarta\nSara\nElizabeth\nMarie\nJames\nRobert\n');

const rnnkit = (args: string[]) => spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args],
  { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RNNKIT_DEBUG: '' } });
const svgs = (html: string) => (html.match(/<svg /g) ?? []).length;

describe('--out <dir>', () => {
  it('rnnkit gradients writes the gradient chart into a new nested directory; the table is unchanged', () => {
    const args = ['gradients', model, '--data', data, '--length', '10', '--batch', '2'];
    const plain = rnnkit(args);
    expect(plain.status, plain.stderr).toBe(0);
    const outDir = join(dir, 'g', 'report');
    const r = rnnkit([...args, '--out', outDir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stderr).toContain(`report written to ${join(outDir, 'index.html')}`);
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    expect(svgs(html)).toBe(1);
    expect(html).toContain(model); // the model path names the series
    const layers = (plain.stdout.match(/^layer \d+$/gm) ?? []).length;
    expect(layers).toBeGreaterThan(0);
    expect((html.match(/<path class="series"/g) ?? []).length).toBe(layers);
    expect((html.match(/<circle class="point"/g) ?? []).length).toBe(10 * layers);
  });

  it('rnnkit experiment memory writes the accuracy chart, the three cells\' gradient chart and a training-curve chart per cell', () => {
    const outDir = join(dir, 'm');
    const r = rnnkit(['experiment', 'memory', '--seeds', '1', '--steps', '3', '--test-per-bucket', '4', '--out', outDir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^memory experiment: agreement/);
    expect(r.stderr).toContain(`report written to ${join(outDir, 'index.html')}`);
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    expect(svgs(html)).toBe(5);
    for (const c of ['rnn_tanh', 'lstm', 'gru']) expect(html).toContain(`Training loss: ${c}`);
    // The gradient chart: one series per cell, 102 points each (the k = 100 test sentences are 102 steps), and
    // the γ each legend shows is the one the terminal table prints for that cell.
    const chart = html.split('<svg ').find((c) => c.includes('aria-label="Gradient norm by distance from the loss"'))!;
    expect(chart).toBeDefined();
    const groups = chart.split('<g class="series-group"').slice(1);
    expect(groups.length).toBe(3);
    for (const [i, c] of ['rnn_tanh', 'lstm', 'gru'].entries()) {
      const g = groups[i]!;
      expect(g).toContain(`data-series="seed 0 (${c}) layer 0: γ = `);
      const gamma = /γ = ([0-9.e+-]+)"/.exec(g)![1]!;
      const row = new RegExp(`^${c} +0 .* (\\S+) +\\S+$`, 'm').exec(r.stdout);
      expect(row, r.stdout).not.toBeNull();
      expect(Number(row![1])).toBeCloseTo(Number(gamma), 2);
      // A line through the distances (over 40 points: no markers); zeros, if any underflowed, are left out.
      const vertices = (/<path class="series"[^>]* d="([^"]*)"/.exec(g)![1]!.match(/[ML]/g) ?? []).length;
      expect(vertices).toBeGreaterThan(50);
      expect(vertices).toBeLessThanOrEqual(102);
    }
    expect(r.stdout).toMatch(/^gradient of the loss at the end, ‖∂L\/∂h‖ by distance k, on 4 test sequences of 102 steps/m);
  });

  it('a --out that is a file fails at once with E_IO, before any work', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const r = rnnkit(['experiment', 'memory', '--seeds', '1', '--steps', '100000', '--out', file]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/E_IO/);
    expect(r.stderr).toContain(file);
    expect(r.stderr).not.toMatch(/step \d+\//); // no training started
  });
});

// `rnnkit gradients`: the table for the bundled names model on a small text, and --json carrying the numbers the
// library computes on the same windows.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tableDistances } from '../src/cli/gradients.js';
import { gradientReport, windows } from '../src/diagnostics/gradient-report.js';
import { LanguageModel } from '../src/models/language-model.js';
import { tokenize } from '../src/models/vocab.js';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const model = join(root, 'models/names.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'rnnkit-gradients-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const text = 'Mary\nSarah\nMargaret\nJohn\nAnna\nSamuel\nMarta\nSara\nElizabeth\nMarie\nJames\nRobert\n';
const data = join(dir, 'names.txt');
writeFileSync(data, text);

function rnnkit(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { cwd: dir, env: { ...process.env, RNNKIT_DEBUG: '', ...env } });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end();
  });
}

it('the table shows distances 1, 2, 5, 10, 20, 50, ... and T', () => {
  expect(tableDistances(12)).toEqual([1, 2, 5, 10, 12]);
  expect(tableDistances(100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
  expect(tableDistances(1)).toEqual([1]);
});

describe.each(BACKENDS)('rnnkit gradients on the %s backend', (backend) => {
  const env = { RNNKIT_BACKEND: backend };

  it('prints the table for the bundled names model: norms by distance, γ, the 1e-3 distance, the Jacobian and W_hh radii', async () => {
    const r = await rnnkit(['gradients', model, '--data', data, '--length', '12', '--batch', '3'], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/lstm, \d+ layers?; 3 windows of 12 steps/); // the bundled model's depth may change when it is retrained
    expect(r.out).toMatch(/loss at the last step: [\d.]+ nats/);
    expect(r.out).toMatch(/distance\s+\|dL\/dh\|\s+\|dL\/dc\|/);
    for (const d of [1, 2, 5, 10, 12]) expect(r.out).toMatch(new RegExp(`\\n\\s+${d}\\s+[\\d.e-]+\\s+[\\d.e-]+\\n`));
    expect(r.out).toMatch(/gamma \(per-step decay of \|dL\/dh\|, fit over distances 1-12\): [\d.]+; of \|dL\/dc\|: [\d.]+/);
    expect(r.out).toMatch(/under 0.001 of distance 1 at distance: (\d+|not within 12)/);
    expect(r.out).toMatch(/\|dS_t\/dS_t-1\| \(largest singular value; S = \(h, c\)\), mean over steps: [\d.]+ \(min [\d.]+, max [\d.]+\)/);
    expect(r.out).toMatch(/\|dh_t\/dh_t-1\| \(c held\), mean over steps: [\d.]+/);
    expect(r.out).toMatch(/spectral radius of W_hh: i [\d.]+ {2}f [\d.]+ {2}g [\d.]+ {2}o [\d.]+/);
  });

  it('--json carries the numbers gradientReport gives for the same windows', async () => {
    const r = await rnnkit(['gradients', model, '--data', data, '--length', '8', '--batch', '2', '--json'], env);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    const lm = await LanguageModel.load(model, { backend });
    const want = gradientReport(lm, windows(lm.vocabulary.encode(tokenize(text, 'char')), 8, 2));
    expect(j).toMatchObject({ kind: 'lstm', T: 8, B: 2 });
    expect(j.loss).toBeCloseTo(want.loss!, 6);
    for (let k = 0; k < 8; k++) expect(j.layers[0].h[k]).toBeCloseTo(want.layers[0]!.h[k]!, 6);
    expect(j.layers[0].gamma).toBeCloseTo(want.layers[0]!.gamma!, 6);
    expect(Object.keys(j.layers[0].spectralRadius)).toEqual(['i', 'f', 'g', 'o']);
    lm.dispose();
  });

  it('a text shorter than one window is an E_ARGUMENT naming the file; no model is a usage error', async () => {
    const r = await rnnkit(['gradients', model, '--data', data, '--length', '500'], env);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/E_ARGUMENT.*names\.txt: \d+ tokens, fewer than the 501/);
    const u = await rnnkit(['gradients', '--data', data], env);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/missing <model>/);
  });
});

// The README runs as written: every ```js block is executed as an ES module that imports 'rnnkit' by name (the
// package resolves itself through its "exports"), and every `npx rnnkit ...` line of a ```sh block runs and exits
// 0. So the README cannot drift from the code again. Not run here: npm install / npm test (that is CI itself),
// benchmarks (minutes), and ```text blocks (the CLI synopsis, with placeholders).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

interface Block { lang: string; code: string; line: number }

/** Fenced blocks with their language and the README line they start on. */
function blocks(md: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(md); m; m = re.exec(md)) {
    out.push({ lang: m[1]!, code: m[2]!, line: md.slice(0, m.index).split('\n').length });
  }
  return out;
}

const all = blocks(readme);
const js = all.filter((b) => b.lang === 'js');
const cli = all.filter((b) => b.lang === 'sh').flatMap((b) => b.code.split('\n')
  .map((l, i) => ({ cmd: l.replace(/\s+#.*$/, '').trim(), line: b.line + 1 + i }))
  .filter((l) => l.cmd.startsWith('npx rnnkit ')));

// Inside the package folder, so that `import 'rnnkit'` resolves to this package; removed afterwards.
const work = mkdtempSync(join(root, '.readme-snippets-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README', () => {
  it('has the snippets this test runs', () => {
    expect(js.length).toBeGreaterThanOrEqual(2);
    expect(cli.length).toBeGreaterThanOrEqual(3);
    expect(all.every((b) => ['js', 'sh', 'text'].includes(b.lang)), 'every block says js, sh or text').toBe(true);
  });

  it.each(js.map((b) => [b.line, b] as const))('the js block at line %i runs as written', (_line, b) => {
    const file = join(work, `block-${b.line}.mjs`);
    writeFileSync(file, b.code);
    const r = spawnSync(process.execPath, [file], { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, RNNKIT_BACKEND: '' } });
    expect(r.status, `README line ${b.line}:\n${r.stderr}`).toBe(0);
  }, 150_000);

  // `npx rnnkit` in a clone installs the folder into npm's _npx cache first (seconds, and racy when two runs
  // share the cache): the lines run the package's declared bin with node instead, and one test runs npx itself.
  const bin = join(root, (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin.rnnkit!);

  // npx runs the bin through the shell: it must be executable as built, since an npx cache that already links this
  // folder never sets the mode again (CI's second run of the same path failed with "rnnkit: Permission denied").
  it('the package\'s bin is an executable script', () => {
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(bin).mode & 0o111, `${bin} is not executable`).toBe(0o111);
  });

  // --ignore-scripts: fetching the folder runs its `prepare` script otherwise, which rebuilds dist/ in the middle
  // of the suite (other tests read it, and the browser bundle's freshness check then fails in CI's second pass).
  it('npx rnnkit runs the package\'s bin', () => {
    const r = spawnSync('npx', ['--ignore-scripts', 'rnnkit', '--version'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 150_000);

  it.each(cli.map((c) => [c.line, c.cmd] as const))('the command at line %i runs: %s', (_line, cmd) => {
    const line = cmd.replace(/^npx rnnkit /, `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} `);
    const r = spawnSync('bash', ['-c', line], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, RNNKIT_BACKEND: '' } });
    expect(r.status, `${cmd}:\n${r.stderr}`).toBe(0);
    expect(r.stdout.trim()).not.toBe('');
  }, 90_000);
});

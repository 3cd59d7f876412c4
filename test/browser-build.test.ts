// The browser build without a browser: the portable WASM core imports nothing from Node, the bundle
// (dist/browser/, `npm run build:browser`) holds no Node import and fits its size budget, the browser
// counterparts of the Node-only modules fail with the right codes, and the stream's hidden state the demo
// charts is the model's.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadWasmBackend, loadWasmBackendSync } from '../src/backend/wasm-browser.js';
import { loadNativeBackend } from '../src/backend/native-browser.js';
import { readFileLimited } from '../src/io/atomic-browser.js';
import { LanguageModel } from '../src/models/language-model.js';
import { errorOf, expectClose } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundleDir = join(root, 'dist', 'browser');
const KB = 1024;

describe('the browser build', () => {
  it('nothing below the adapters imports from node: or reads process (the WASM core, the browser files)', () => {
    const files = ['src/backend/wasm-core.ts', 'src/backend/wasm-browser.ts', 'src/browser.ts',
      ...['backend', 'io', 'models'].flatMap((d) => readdirSync(join(root, 'src', d)).filter((f) => f.endsWith('-browser.ts')).map((f) => `src/${d}/${f}`))];
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const code = readFileSync(join(root, f), 'utf8').replace(/^\s*\/\/.*$/gm, '');
      expect(code, f).not.toMatch(/from ['"]node:|require\(|\bprocess\./);
    }
  });

  it('the bundle is built from the current sources, holds no Node import, and with one .wasm is under 300 KB gzipped', () => {
    const bundle = join(bundleDir, 'rnnkit.js');
    const built = statSync(bundle, { throwIfNoEntry: false });
    expect(built, 'dist/browser/rnnkit.js is missing: run npm run build:browser').toBeDefined();
    const sources = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    const newer = [...sources(join(root, 'src')), join(root, 'dist/wasm/rnnkit.wasm')].filter((f) => statSync(f).mtimeMs > built!.mtimeMs);
    expect(newer, 'changed since the bundle was built: run npm run build:browser').toEqual([]);
    const js = readFileSync(bundle);
    expect(js.toString()).not.toMatch(/["']node:|require\(/);
    const wasm = ['rnnkit.wasm', 'rnnkit-relaxed.wasm', 'rnnkit-mt.wasm', 'rnnkit-relaxed-mt.wasm']
      .map((f) => gzipSync(readFileSync(join(bundleDir, f)), { level: 9 }).length);
    const total = gzipSync(js, { level: 9 }).length + Math.max(...wasm);
    console.log(`browser bundle: ${js.length} bytes raw, ${gzipSync(js, { level: 9 }).length} gzipped; with the largest .wasm ${total} bytes gzipped`);
    expect(total).toBeLessThan(300 * KB);
  });

  it('in a browser build, the native backend, files and an unloaded WASM backend are errors that say what to do', async () => {
    expect(errorOf(() => loadNativeBackend()).code).toBe('E_BACKEND');
    const io = await readFileLimited('models/names.safetensors', 100).catch((e) => e);
    expect(io.code).toBe('E_IO');
    expect(io.message).toMatch(/models\/names\.safetensors: a browser has no file system; .*fetchModel/);
    const early = errorOf(() => loadWasmBackendSync());
    expect(early.code).toBe('E_BACKEND');
    expect(early.message).toMatch(/await ready\(\)/);
    const bad = await loadWasmBackend({ threads: 0 }).catch((e) => e);
    expect([bad.code, bad.message]).toEqual(['E_ARGUMENT', "threads: expected an integer from 1 to 16, or 'auto', found 0"]);
    const away = await loadWasmBackend({ wasmUrl: 'http://127.0.0.1:1/nowhere/' }).catch((e) => e);
    expect(away.code).toBe('E_BACKEND');
    expect(away.message).toMatch(/^cannot fetch the WASM build http:\/\/127\.0\.0\.1:1\/nowhere\/rnnkit\.wasm: /);
  });
});

describe('LanguageModelStream.hidden', () => {
  it('is the hidden state after the text fed, [numLayers, 1, hiddenSize], a copy', async () => {
    const lm = await LanguageModel.load(join(root, 'models/names.safetensors'), { backend: 'wasm' });
    const s = lm.stream('');
    expect(s.hidden()!.shape).toEqual([lm.config.numLayers, 1, lm.config.hiddenSize]);
    const streamed = s.clone().feed('J').feed('o').feed('h');
    // one call over the whole text gives the same state as three one-step calls
    const direct = lm._step(lm.vocabulary.encode(['\n', 'J', 'o', 'h']));
    const h = streamed.hidden()!;
    expectClose('h', h.data, direct.h.data, 1e-5, 1e-6);
    h.data.fill(0);
    expect(streamed.hidden()!.data.some((v) => v !== 0)).toBe(true);
    lm.dispose();
  });
});

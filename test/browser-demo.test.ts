// rnnkit in a real browser: Debian's chromium (test/browser-launch.ts) on the demo's server (scripts/demo.mjs,
// 127.0.0.1 only), over the browser bundle (`npm run build:browser`: dist/browser/). The demo page loads, answers
// "Joh" with "n" first, feeds one character per keystroke (no prefix re-read), draws the hidden state, generates
// Moby Dick text and works offline once loaded; the PyTorch vectors pass on the bundle's WASM backend with one
// thread (page not isolated) and with two (COOP/COEP: Web Workers over a shared memory), and a large LSTM run on
// the browser's threads agrees with Node's WASM backend. Screenshots and the measured per-keystroke latencies go
// to test-artifacts/browser/ (ignored by git).
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { LSTM } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { CHROMIUM, launchChromium, MISSING, skipBrowser } from './browser-launch.js';
import { expectClose, VECTOR_FILES } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const artifacts = join(root, 'test-artifacts', 'browser');
const skip = skipBrowser('test/browser-demo.test.ts');
const mounts = { '/test/': join(root, 'test', 'browser'), '/vectors/': join(root, 'test', 'vectors') };

interface Vectors { details: string; threads: number; checks: number; failures: string[] }
interface Big { threadedCalls: number; output: number[]; dInput: number[]; dWhh: number[] }
interface Server { url: string; close: () => Promise<void> }
let browser: Browser | undefined;
let isolated: Server;
let plain: Server;

beforeAll(async () => {
  if (skip) return;
  const { startServer } = (await import('../scripts/demo.mjs')) as { startServer: (o: object) => Promise<Server> };
  isolated = await startServer({ isolated: true, mounts });
  plain = await startServer({ isolated: false, mounts });
  browser = await launchChromium();
  mkdirSync(artifacts, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await isolated?.close();
  await plain?.close();
});

/** A fresh context and page that may reach 127.0.0.1 only; page errors are collected in `errors`. */
async function open(url: string): Promise<{ context: BrowserContext; page: Page; errors: string[]; remote: string[] }> {
  if (!browser) throw new Error(MISSING);
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const errors: string[] = [];
  const remote: string[] = [];
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'blob:') return route.continue();
    remote.push(u.href);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`); });
  await page.goto(url);
  return { context, page, errors, remote };
}

/** Waits for the demo to be ready (models loaded) or to show an error. */
async function demoReady(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const d = (window as unknown as { rnnkitDemo?: { ready: boolean; error: string | null } }).rnnkitDemo;
    return d !== undefined && (d.ready || d.error !== null);
  }, null, { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).rnnkitDemo.error)).toBeNull();
}

/** Runs `code` (a JavaScript expression; a string, so that vitest's transform leaves its import() alone) in the page. */
const inPage = <T>(page: Page, code: string): Promise<T> => page.evaluate(code) as Promise<T>;

const firstTokens = (page: Page) => page.locator('#next li .token').allTextContents();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe.skipIf(skip)('rnnkit in headless Chromium', () => {
  it(`Debian's chromium is at ${CHROMIUM} and the bundle is built`, () => {
    expect(existsSync(CHROMIUM), MISSING).toBe(true);
    expect(existsSync(join(root, 'dist/browser/rnnkit.js')), 'run npm run build:browser').toBe(true);
  });

  it('the demo page loads on 2 threads (cross-origin isolated) and typing "Joh" shows "n" first', async () => {
    const { context, page, errors, remote } = await open(isolated.url);
    try {
      await demoReady(page);
      expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
      expect(await page.locator('#status').textContent()).toMatch(/AssemblyScript WASM .*2 threads \(Web Workers/);
      const empty = await firstTokens(page); // after the separator alone: the first letter of a name
      await page.locator('#name').pressSequentially('Jo');
      const afterJo = await firstTokens(page);
      expect(afterJo).not.toEqual(empty);
      await page.locator('#name').press('h');
      const afterJoh = await firstTokens(page);
      expect(afterJoh[0]).toBe('n');
      expect(afterJoh).toHaveLength(8);
      // the hidden-state chart has a column per typed character: coloured (non-white) pixels in the first three
      const coloured = await page.evaluate(() => {
        const c = document.getElementById('hidden') as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, 60, c.height - 20).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 || d[i + 1] !== 255 || d[i + 2] !== 255) n++;
        return n;
      });
      expect(coloured).toBeGreaterThan(60 * 100);
      const png = join(artifacts, 'demo-joh.png');
      await page.screenshot({ path: png, fullPage: true });
      expect(statSync(png).size).toBeGreaterThan(10_000);
      expect(errors).toEqual([]);
      expect(remote).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it.each([['2 threads', true], ['1 thread', false]] as const)('a keystroke feeds one character: every recurrent call is one step, however long the name; latency measured (%s)', async (label, iso) => {
    const { context, page, errors } = await open((iso ? isolated : plain).url);
    try {
      await demoReady(page);
      // the bundle's module is the page's (same URL): wrap its backend's cellForward to record each call's steps
      await inPage(page, `import('/rnnkit/rnnkit.js').then(({ getBackend }) => {
        const be = getBackend();
        const forward = be.cellForward.bind(be);
        window.steps = [];
        be.cellForward = (a) => { window.steps.push(a.T); return forward(a); };
        window.rnnkitDemo.latencies.length = 0;
        window.rnnkitDemo.stepMs.length = 0;
      })`);
      const name = 'Maximilianus Bartholomew';
      for (const ch of name) await page.locator('#name').press(ch === ' ' ? 'Space' : ch);
      const steps = (await page.evaluate(() => (window as any).steps)) as number[];
      // 2 layers x 1 step per keystroke; re-reading the prefix would show calls of T = the name's length so far
      expect(steps).toEqual(new Array(2 * name.length).fill(1));
      const { latencies: ms, stepMs } = (await page.evaluate(() => (window as any).rnnkitDemo)) as { latencies: number[]; stepMs: number[] };
      expect(ms).toHaveLength(name.length);
      const report = {
        keystrokes: ms.length, medianMs: median(ms), maxMs: Math.max(...ms), modelMedianMs: median(stepMs), modelMaxMs: Math.max(...stepMs), ms, stepMs,
      };
      expect(await inPage<number>(page, 'window.rnnkitDemo.backend.threads')).toBe(iso ? 2 : 1);
      writeFileSync(join(artifacts, `keystroke-latency-${iso ? 2 : 1}-thread.json`), `${JSON.stringify(report, null, 2)}\n`);
      console.log(`browser keystroke latency, ${ms.length} keys, ${label}: median ${report.medianMs.toFixed(2)} ms (max ${report.maxMs.toFixed(2)}) `
        + `with drawing, of which the model ${report.modelMedianMs.toFixed(2)} ms (max ${report.modelMaxMs.toFixed(2)})`);
      await page.locator('#name').press('Backspace');
      expect(await page.evaluate(() => (window as any).steps.length)).toBe(2 * name.length); // a kept state, no step
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('Moby Dick: Generate writes sampled text at the slider\'s temperature', async () => {
    const { context, page, errors } = await open(isolated.url);
    try {
      await demoReady(page);
      await page.locator('#temperature').fill('0.5');
      expect(await page.locator('#tval').textContent()).toBe('0.50');
      await page.locator('#generate').click();
      await page.waitForFunction(() => (document.getElementById('story')!.textContent ?? '').length >= 600, null, { timeout: 20_000 });
      const text = (await page.locator('#story').textContent())!;
      expect(text.startsWith('Call me ')).toBe(true);
      expect(text.split(' ').length).toBeGreaterThan(60); // words, not one repeated symbol
      const png = join(artifacts, 'demo-moby-dick.png');
      await page.screenshot({ path: png, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('works offline once loaded: reloaded with the network off, "Joh" still shows "n" first', async () => {
    const { context, page, errors } = await open(isolated.url);
    try {
      await demoReady(page);
      // the service worker has cached the page, the bundle, the .wasm builds and the models
      await page.waitForFunction(async () => {
        await navigator.serviceWorker.ready;
        const keys = await (await caches.open('rnnkit-demo-v1')).keys();
        return keys.length >= 10;
      }, null, { timeout: 30_000 });
      await context.setOffline(true);
      await page.reload();
      await demoReady(page);
      await page.locator('#name').pressSequentially('Joh');
      expect((await firstTokens(page))[0]).toBe('n');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the PyTorch vectors pass on the WASM backend in the browser, one thread (page not cross-origin isolated), plain SIMD', async () => {
    const { context, page, errors } = await open(`${plain.url}test/index.html`);
    try {
      expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(false);
      const r = await inPage<Vectors>(page, `import('/test/vectors.js').then((m) => m.runVectors(${JSON.stringify(VECTOR_FILES)}, { threads: 2, relaxed: false }))`);
      expect(r.threads).toBe(1); // asked for 2; a page that is not isolated has no shared memory
      // the plain SIMD128 build: relaxed SIMD validates in this Chromium, so the threaded test below runs the other
      expect(r.details).toMatch(/^AssemblyScript WASM SIMD128, 1 thread, rnnkit\.wasm; one thread, not 2: the page is not cross-origin isolated .*; relaxed SIMD off/);
      expect(r.failures).toEqual([]);
      expect(r.checks).toBeGreaterThanOrEqual(VECTOR_FILES.length * 6);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the PyTorch vectors pass on 2 threads (COOP/COEP), and a large LSTM run on them agrees with Node', async () => {
    const { context, page, errors } = await open(`${isolated.url}test/index.html`);
    try {
      const r = await inPage<Vectors>(page, `import('/test/vectors.js').then((m) => m.runVectors(${JSON.stringify(VECTOR_FILES)}, { threads: 2 }))`);
      expect(r.threads).toBe(2);
      expect(r.details).toMatch(/2 threads \(Web Workers over a shared memory\), rnnkit(-relaxed)?-mt\.wasm/);
      expect(r.failures).toEqual([]);
      expect(r.checks).toBeGreaterThanOrEqual(VECTOR_FILES.length * 6);
      const big = await inPage<Big>(page, `import('/test/vectors.js').then((m) => m.bigLstm())`);
      expect(big.threadedCalls).toBeGreaterThan(0);
      const node = bigLstmInNode();
      expectClose('output', big.output, node.output, 1e-5, 1e-6);
      expectClose('dInput', big.dInput, node.dInput, 1e-4, 1e-5);
      expectClose('weight_hh_l0 gradient', big.dWhh, node.dWhh, 1e-4, 1e-5);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('fit trains in the page (on its thread, yielding between steps): the loss falls and the model learns the text', async () => {
    const { context, page, errors } = await open(`${plain.url}test/index.html`);
    try {
      const r = await inPage<{ steps: number; first: number; last: number; next: { token: string } }>(page,
        `import('/test/vectors.js').then((m) => m.fitInPage())`);
      expect(r.steps).toBeGreaterThan(10);
      expect(r.last).toBeLessThan(r.first * 0.1);
      expect(r.next.token).toBe('a');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the page\'s thread never sleeps: a barrier past its spin bound fails the call with E_BACKEND, then one thread, right', async () => {
    const { context, page } = await open(`${isolated.url}test/index.html`);
    try {
      const r = await inPage<{ error: { code: string; message: string } | null; threadedAfter: number }>(page,
        `import('/test/vectors.js').then((m) => m.mainThreadGivesUp())`);
      expect(r.error).not.toBeNull();
      expect(r.error!.code).toBe('E_BACKEND');
      expect(r.error!.message).toMatch(/^WASM backend: a call on 2 threads failed \(Atomics\.wait cannot be called in this context\); .*later calls run on one thread$/);
      expect(r.threadedAfter).toBe(0);
      // the same backend, on one thread now: the vectors and the large LSTM are still right
      const v = await inPage<Vectors>(page, `import('/test/vectors.js').then((m) => m.runVectors(${JSON.stringify(VECTOR_FILES)}))`);
      expect(v.failures).toEqual([]);
      const big = await inPage<Big>(page, `import('/test/vectors.js').then((m) => m.bigLstm(1))`);
      expect(big.threadedCalls).toBe(0);
      const node = bigLstmInNode();
      expectClose('output', big.output, node.output, 1e-5, 1e-6);
      expectClose('dInput', big.dInput, node.dInput, 1e-4, 1e-5);
    } finally {
      await context.close();
    }
  });
});

/** test/browser/vectors.js's bigLstm on Node's WASM backend (the same sizes, data and parameters). */
function bigLstmInNode() {
  const [T, B, I, H] = [16, 4, 64, 256];
  const layer = new LSTM({ inputSize: I, hiddenSize: H, backend: loadBackend('wasm') });
  const data = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.2);
  let s = 1;
  layer.loadStateDict(Object.fromEntries(Object.entries(layer.stateDict()).map(([k, t]) => [k, tensor(data(t.data.length, s++), t.shape)])));
  const out = layer.forward(tensor(data(T * B * I, 10), [T, B, I]));
  const g = layer.backward({ dOutput: tensor(data(T * B * H, 11), [T, B, H]) });
  const r = { output: out.output.data, dInput: g.dInput.data, dWhh: layer.grads().weight_hh_l0!.data };
  layer.dispose();
  return r;
}

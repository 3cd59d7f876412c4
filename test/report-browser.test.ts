// The HTML reports rendered by a real browser: Debian's /usr/bin/chromium, headless, driven by playwright-core (no
// browser download). Reports written by the CLI's --out are opened by file:// URL with every non-file request
// refused; each chart must be there with a non-zero rendered size, its series and points drawn inside it.
// A screenshot of each page is kept under the OS temp dir (path printed). Skipping without chromium and the
// launch: test/browser-launch.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium, MISSING, skipBrowser } from './browser-launch.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rnnkit-report-browser-'));
const shots = mkdtempSync(join(tmpdir(), 'rnnkit-report-screenshots-'));
let browser: Browser | undefined;

const rnnkit = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
};

const skip = skipBrowser('test/report-browser.test.ts');

beforeAll(async () => {
  if (!skip) browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`rnnkit report screenshots: ${shots}`);
});

/**
 * Opens the page offline, checks `charts` charts with at least one drawn series and point each (but those in
 * `linesOnly`: over 40 points per series are drawn without markers), saves a screenshot.
 */
async function checkRendered(html: string, charts: number, shot: string, linesOnly: readonly number[] = []): Promise<void> {
  if (!browser) throw new Error(MISSING);
  const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
  try {
    const remote: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      remote.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(html).href);
    const svgs = page.locator('svg.chart');
    expect(await svgs.count()).toBe(charts);
    for (let i = 0; i < charts; i++) {
      const svg = svgs.nth(i);
      const box = await svg.boundingBox();
      expect(box, `chart ${i}`).not.toBeNull();
      expect(box!.width).toBeGreaterThan(300);
      expect(box!.height).toBeGreaterThan(200);
      // The drawn lines and points sit inside the chart and have an area (a path of NaNs renders as nothing).
      for (const sel of ['path.series', ...(linesOnly.includes(i) ? [] : ['circle.point']), 'text.ytick']) {
        const els = svg.locator(sel);
        expect(await els.count(), `${sel} in chart ${i}`).toBeGreaterThan(0);
        const b = await els.first().boundingBox();
        expect(b, `${sel} in chart ${i}`).not.toBeNull();
        expect(b!.width + b!.height).toBeGreaterThan(0);
        expect(b!.x).toBeGreaterThanOrEqual(box!.x - 1);
        expect(b!.x + b!.width).toBeLessThanOrEqual(box!.x + box!.width + 1);
      }
    }
    expect(remote).toEqual([]);
    const png = join(shots, shot);
    await page.screenshot({ path: png, fullPage: true });
    expect(statSync(png).size).toBeGreaterThan(10_000);
  } finally {
    await page.close();
  }
}

describe.skipIf(skip)('the HTML reports in headless Chromium', () => {
  it(`Debian's chromium is at ${CHROMIUM}`, () => {
    expect(existsSync(CHROMIUM), MISSING).toBe(true);
  });

  it('rnnkit gradients --out: the gradient-norm chart renders with its series', async () => {
    const data = join(dir, 'names.txt');
    writeFileSync(data, 'Mary\nSarah\nMargaret\nJohn\nAnna\nSamuel\nMarta\nSara\nElizabeth\nMarie\nJames\nRobert\n');
    rnnkit(['gradients', join(root, 'models/names.safetensors'), '--data', data, '--length', '12', '--batch', '2', '--out', join(dir, 'gradients')]);
    await checkRendered(join(dir, 'gradients', 'index.html'), 1, 'gradients.png');
  });

  it('rnnkit experiment memory --out: the accuracy chart, the three cells\' gradient chart and a training-curve chart per cell render', async () => {
    rnnkit(['experiment', 'memory', '--seeds', '2', '--steps', '20', '--test-per-bucket', '10', '--out', join(dir, 'memory')]);
    // Chart 1 is the gradient chart: 102 distances per cell, lines without markers.
    await checkRendered(join(dir, 'memory', 'index.html'), 5, 'memory.png', [1]);
  });
});

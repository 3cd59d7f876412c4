// Shared by the browser tests: Debian's /usr/bin/chromium, headless, driven by playwright-core (no browser
// download). Without /usr/bin/chromium the tests skip with the reason printed, so `npm test` on a fresh machine
// stays green; .ci/run installs chromium and sets RNNKIT_REQUIRE_BROWSER=1, and then a missing browser fails.
// RNNKIT_SKIP_BROWSER=1 skips them anywhere.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const required = process.env.RNNKIT_REQUIRE_BROWSER === '1';

export const MISSING = `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; .ci/run does) ` +
  'or set RNNKIT_SKIP_BROWSER=1 on a machine without it';

/** Whether the browser tests of `file` skip here (printing why, unless RNNKIT_SKIP_BROWSER=1 asked for it). */
export function skipBrowser(file: string): boolean {
  const skip = process.env.RNNKIT_SKIP_BROWSER === '1' || (!required && !existsSync(CHROMIUM));
  if (skip && process.env.RNNKIT_SKIP_BROWSER !== '1') console.warn(`${file} skipped: ${MISSING}`);
  return skip;
}

/**
 * Headless Chromium, or undefined where it is missing (each test then fails with MISSING, counted as a failure).
 * playwright-core is imported here so that RNNKIT_SKIP_BROWSER=1 also works where it is not installed.
 */
export async function launchChromium(): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

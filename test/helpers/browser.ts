import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium: no test tool may download a browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether the browser tests can run here. Without Debian's Chromium they are skipped with a message, except in CI
 * (`CI=true`), where a missing browser is a failure of the set-up, not a reason to skip.
 */
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') {
  throw new Error(`${CHROMIUM} is missing; CI must install Debian's chromium (apt-get install -y chromium) to run the browser tests.`);
}
if (!haveChromium) console.warn(`[browser] skipped: ${CHROMIUM} not found (apt-get install -y chromium to run these tests)`);

/**
 * Headless Chromium as this machine runs it as root: no sandbox, no GPU, and none of the background networking a
 * closed network refuses (connections to Google's hosts at every start).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

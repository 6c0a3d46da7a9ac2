import { existsSync } from 'node:fs';
import type { Browser, LaunchOptions } from 'playwright-core';

/** Debian's Chromium (apt `chromium`); browser tests are skipped where it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

/**
 * Headless Chromium for end-to-end page tests. `fakeMicWav` plays a WAV file as the microphone.
 * Autoplay is allowed so the page's audio graph runs without a real user.
 */
export async function launchChromium(opts: { fakeMicWav?: string; launch?: LaunchOptions } = {}): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (opts.fakeMicWav) {
    args.push('--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${opts.fakeMicWav}`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args, ...opts.launch });
}

import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, startStack, waitUntil, type Stack } from '@chorus/testkit';

const ARTIFACTS = 'test-artifacts';
let stack: Stack;
let browser: Browser;

describe.skipIf(!hasChromium())('the page in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startStack({ ttsWorkers: 1 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  const stats = (page: Page) => page.evaluate(() => (window as any).chorusAudio?.stats ?? null);

  it('streams a character reply as text and plays its speech through the audio graph; interrupt stops it', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
    await page.goto(stack.edges[0]!.url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');

    stack.llm.enqueue({ text: 'Hello from Mars. The sky is pink at noon and blue at sunset.', chunkSize: 6 });
    await page.fill('#text', '@Alice hello there');
    await page.press('#text', 'Enter');
    await page.getByText('The sky is pink at noon').waitFor({ timeout: 20_000 });
    await waitUntil(async () => ((await stats(page))?.nonSilentSamplesPlayed ?? 0) > 1000, { timeoutMs: 20_000, message: 'non-silent audio played' });
    const speaking = await page.locator('#speaking').textContent();
    await page.screenshot({ path: `${ARTIFACTS}/voice-out-page.png`, fullPage: true });
    expect(speaking).toMatch(/Alice/);

    // A long reply, cut in the middle: the page stops and tells the server how much it heard.
    const long = Array.from({ length: 12 }, (_, i) => `This is sentence ${i + 1} of a long reply.`).join(' ');
    stack.llm.enqueue({ text: long, chunkSize: 20 });
    await page.fill('#text', '@Bob talk a lot');
    await page.press('#text', 'Enter');
    await waitUntil(async () => ((await stats(page))?.lastPlayed?.ms ?? 0) > 500, { timeoutMs: 20_000, message: 'Bob speaking' });
    await page.click('#interrupt');
    const request = stack.llm.requests.length;
    const before = (await stats(page)).nonSilentSamplesPlayed;
    await new Promise((r) => setTimeout(r, 700));
    const after = (await stats(page)).nonSilentSamplesPlayed;
    expect(after - before).toBeLessThan(48_000 * 0.2); // at most a render quantum or two, not more speech
    expect(stack.llm.requests.length).toBe(request);
    expect(errors).toEqual([]);
    await page.close();
  });
});

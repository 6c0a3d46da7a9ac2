import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav, hasChromium, hasPocketsphinx, launchChromium, speechClip, startStack, waitUntil, type Stack } from '@chorus/testkit';

const ARTIFACTS = 'test-artifacts';
let stack: Stack;
let browser: Browser;
let dir: string;

describe.skipIf(!hasChromium() || !hasPocketsphinx())('talking to a character from a real browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(path.join(tmpdir(), 'chorus-mic-'));
    // Chromium loops the file: a long silent tail keeps the next repetition away until the reply has played.
    const wav = path.join(dir, 'mic.wav');
    writeFileSync(wav, encodeWav(await speechClip('Alice, what is the weather like on Mars?', { leadMs: 500, tailMs: 8000 }), 16000));
    stack = await startStack({ sttWorkers: 1, ttsWorkers: 1 });
    browser = await launchChromium({ fakeMicWav: wav });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const audio = (page: Page) => page.evaluate(() => (window as any).chorusAudio?.stats ?? null);
  const mic = (page: Page) => page.evaluate(() => (window as any).chorusMic?.stats ?? null);

  it('the microphone speaks to Alice: live transcript, her text reply, and her spoken reply played', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(stack.edges[0]!.url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');

    stack.llm.enqueue({ text: 'It is cold and dusty on Mars today.', chunkSize: 6 });
    await page.click('#mic');
    await waitUntil(async () => ((await mic(page))?.framesSent ?? 0) > 10, { timeoutMs: 15_000, message: 'mic frames sent' });
    // The user's words appear as their bubble, then Alice answers in text and in speech.
    await page.locator('#log').getByText(/weather/i).first().waitFor({ timeout: 30_000 });
    // Off again before Chromium's fake device repeats the file.
    await page.click('#mic');
    await page.getByText('It is cold and dusty on Mars today.').first().waitFor({ timeout: 30_000 });
    await waitUntil(async () => ((await audio(page))?.nonSilentSamplesPlayed ?? 0) > 4000, { timeoutMs: 30_000, message: "Alice's speech played" });
    // The per-turn readout counts from the end of speech (the server says when that was) to text and sound.
    await page.locator('#latency', { hasText: /speech end → transcript \d+ ms · text \d+ ms · voice \d+ ms/ }).waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${ARTIFACTS}/voice-in-page.png`, fullPage: true });
    const request = stack.llm.requests.at(-1)!;
    expect(JSON.stringify(request.body.messages).toLowerCase()).toMatch(/weather/);

    await waitUntil(async () => (await mic(page))?.listening === false, { message: 'mic off' });
    const sent = (await mic(page)).framesSent;
    await new Promise((r) => setTimeout(r, 300));
    expect((await mic(page)).framesSent).toBe(sent);
    expect(errors).toEqual([]);
    await page.close();
  });
});

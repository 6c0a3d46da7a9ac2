import { AudioChunk, decodeEntry, SentenceEntry, STREAMS } from '@chorus/contracts';
import { hasChromium, launchChromium, startStack, waitUntil, waitUntilSaved, type Stack } from '@chorus/testkit';
import { Redis } from 'ioredis';
import { mkdirSync, readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import type { Browser, BrowserContext, Download, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTextChunks, withTextChunk } from '../src/lib/png.js';

const ARTIFACTS = 'test-artifacts/web';
let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let redis: Redis;
const problems: string[] = [];

const stats = () => page.evaluate(() => (window as any).chorusAudio?.stats ?? null);
const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
const conversationId = () => page.evaluate(() => localStorage.getItem('conversation_id'));
const tab = (name: string) => page.click(`#tab-${name}`);
const connected = () => page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');

async function say(text: string): Promise<void> {
  await tab('chat');
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

async function saved(download: Promise<Download>): Promise<Buffer> {
  const d = await download;
  return readFileSync((await d.path())!);
}

/** A tiny real PNG (2×2, RGB) made with zlib, so the card import reads a file any tool could have written. */
function pngImage(): Uint8Array {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.from([0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return new Uint8Array(
    Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]),
  );
}

const UNKNOWN_EXTENSIONS = { depth_prompt: { prompt: 'Stay in character.', depth: 4 }, 'some/tool': { a: [1, { b: 2 }], on: true } };

function card(name: string, extra: Record<string, unknown> = {}) {
  return {
    spec: 'chara_card_v2',
    spec_version: '2.0',
    data: {
      name, description: `{{char}} is a lighthouse keeper who talks to {{user}} about ships.`, personality: 'patient, dry humour',
      scenario: 'A stormy night.', first_mes: `Ahoy, {{user}}. I am ${name}.`, mes_example: '', creator_notes: 'test card',
      system_prompt: '', post_history_instructions: '', alternate_greetings: [], tags: ['sea'], creator: 'tests', character_version: '1',
      extensions: { ...UNKNOWN_EXTENSIONS, ...extra },
    },
  };
}

describe.skipIf(!hasChromium())('the web app in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startStack({ ttsWorkers: 1 });
    redis = new Redis(stack.redis.url);
    browser = await launchChromium();
    context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 800 } });
    page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    page.on('dialog', (d) => void d.accept()); // delete confirmations
    await page.goto(stack.edges[0]!.url);
    await connected();
  });
  afterAll(async () => {
    await browser?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  it('creates a character with a chosen voice, which answers a mention with streamed text and audible speech', async () => {
    await shot('chat-empty');
    await tab('characters');
    await page.click('#new-character');
    const form = page.locator('#character-editor');
    await form.locator('[name=name]').fill('Marvin');
    await form.locator('[name=system_prompt]').fill('You are Marvin, a gloomy robot who answers in one sentence.');
    await form.locator('[name=voice_id]').selectOption({ label: 'AWB (flite)' });
    await form.getByRole('button', { name: 'Create' }).click();
    const item = page.locator('#character-list li[data-character="Marvin"]');
    await item.waitFor();
    expect(await item.textContent()).toContain('voice AWB');
    await shot('characters');

    const played = (await stats())?.nonSilentSamplesPlayed ?? 0;
    stack.llm.enqueue({ text: 'Life. Do not talk to me about life. Here I am, brain the size of a planet.', chunkSize: 5, chunkDelayMs: 20 });
    await say('@Marvin how are you?');
    const bubble = page.locator('#log .msg.assistant', { hasText: 'Marvin' }).last();
    await bubble.getByText('brain the size of a planet').waitFor({ timeout: 20_000 });
    await waitUntil(async () => ((await stats())?.nonSilentSamplesPlayed ?? 0) > played + 1000, { timeoutMs: 20_000, message: 'Marvin audible' });

    // The persona reached the model, and the sentences were spoken with the chosen voice.
    const request = stack.llm.requests.at(-1)!.body;
    expect(JSON.stringify(request.messages)).toContain('gloomy robot');
    const sentences = await redis.xrange(STREAMS.sentence((await conversationId())!), '-', '+');
    const marvin = sentences.map(([, f]) => decodeEntry(SentenceEntry, f)).filter((e) => e.character_name === 'Marvin');
    expect(marvin.length).toBeGreaterThan(0);
    expect(new Set(marvin.map((e) => e.voice_id))).toEqual(new Set(['flite-awb']));
    await page.locator('#latency', { hasText: 'voice' }).waitFor();
    await shot('chat-reply');
  });

  it('interrupts a long reply with the Stop button and with Esc: the speech stops and the bubble is marked', async () => {
    for (const how of ['button', 'escape'] as const) {
      const long = Array.from({ length: 14 }, (_, i) => `This is sentence number ${i + 1} of a very long story.`).join(' ');
      stack.llm.enqueue({ text: long, chunkSize: 16, chunkDelayMs: 10 });
      const before = (await stats())?.messagesPlayed ?? 0;
      await say('@Alice tell me a long story');
      await waitUntil(async () => {
        const s = await stats();
        return !!s && s.lastPlayed.ms > 400 && (await page.locator('#speaking').textContent())!.includes('Alice');
      }, { timeoutMs: 20_000, message: 'Alice speaking' });
      if (how === 'button') await page.click('#interrupt');
      else await page.keyboard.press('Escape');
      const cut = (await stats()).nonSilentSamplesPlayed;
      await new Promise((r) => setTimeout(r, 700));
      expect((await stats()).nonSilentSamplesPlayed - cut).toBeLessThan(48_000 * 0.2);
      await page.locator('#log .msg.interrupted').last().waitFor();
      expect(await page.locator('#speaking').textContent()).toBe('');
      expect((await stats()).messagesPlayed).toBeLessThanOrEqual(before + 1);
    }
  });

  it('a socket dropped mid-speech reconnects and the reply plays on: every sample of it arrives once', async () => {
    const long = Array.from({ length: 8 }, (_, i) => `Here is part ${i + 1} of what I have to say.`).join(' ');
    stack.llm.enqueue({ text: long, chunkSize: 12, chunkDelayMs: 250 }); // its text, so its speech, still comes at the drop
    const before = await stats();
    await say('@Alice say it all');
    await waitUntil(async () => (await page.locator('#speaking').textContent())!.includes('Alice'), { timeoutMs: 20_000, message: 'Alice speaking' });
    const messageId = (await stats()).lastPlayed.message_id as string;
    const audio = STREAMS.audio((await conversationId())!, messageId);
    const total = async () => {
      const chunks = (await redis.xrange(audio, '-', '+')).map(([, f]) => decodeEntry(AudioChunk, f));
      if (!chunks.at(-1)?.final) return -1; // not all synthesized yet
      return chunks.reduce((n, c) => n + Buffer.from(c.pcm, 'base64').length / 2, 0);
    };
    await page.evaluate(() => (window as any).chorusSocket.drop());
    expect(await total()).toBe(-1); // dropped mid-message
    await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'connected');
    await connected();
    await waitUntil(async () => (await total()) > 0, { timeoutMs: 30_000, message: 'all of the reply synthesized' });
    const expected = await total();
    await waitUntil(async () => (await stats()).samplesReceived - before.samplesReceived >= expected, { timeoutMs: 30_000, message: 'the rest of the reply received' });
    await waitUntil(async () => (await page.locator('#speaking').textContent()) === '', { timeoutMs: 30_000, message: 'speech over' });
    expect((await stats()).samplesReceived - before.samplesReceived).toBe(expected); // nothing twice, nothing lost
    expect((await stats()).nonSilentSamplesPlayed).toBeGreaterThan(before.nonSilentSamplesPlayed);
    expect(problems).toEqual([]);
  });

  it('imports V2 cards from JSON and PNG and exports them back with unknown extensions intact', async () => {
    await tab('characters');
    // A voice this server lacks comes along and is created, minus the server address a card must not choose.
    const json = card('Keeper Jo', { chorus: { voice: { name: 'Jo voice', engine: 'flite', params: { voice: 'kal', duration_stretch: 1.1, base_url: 'http://evil.example/v1' } } } });
    await page.setInputFiles('#import-card', { name: 'jo.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) });
    await page.locator('#character-list li[data-character="Keeper Jo"]').waitFor();

    const pngCard = card('Zoë Storm', { chorus: { voice: { id: 'flite-rms', name: 'RMS', engine: 'flite', params: { voice: 'rms' } } } });
    const png = withTextChunk(pngImage(), 'chara', Buffer.from(JSON.stringify(pngCard)).toString('base64'));
    await page.setInputFiles('#import-card', { name: 'zoe.png', mimeType: 'image/png', buffer: Buffer.from(png) });
    const zoe = page.locator('#character-list li[data-character="Zoë Storm"]');
    await zoe.waitFor();
    expect(await zoe.textContent()).toContain('voice RMS'); // the card's voice was matched to ours
    const jo = page.locator('#character-list li[data-character="Keeper Jo"]');
    expect(await jo.textContent()).toContain('Keeper Jo is a lighthouse keeper who talks to the user');
    expect(await jo.textContent()).toContain('voice Jo voice');
    await tab('voices');
    const joVoice = await page.locator('#voice-list li[data-voice="Jo voice"]').textContent();
    expect(joVoice).toContain('"duration_stretch":1.1');
    expect(joVoice).not.toContain('evil.example');
    await tab('characters');
    await shot('characters-imported');

    const exportedJson = JSON.parse((await saved(Promise.all([page.waitForEvent('download'), jo.getByRole('button', { name: 'Export JSON' }).click()]).then(([d]) => d))).toString('utf8'));
    expect(exportedJson.spec).toBe('chara_card_v2');
    expect(exportedJson.data.name).toBe('Keeper Jo');
    expect(exportedJson.data.description).toBe(json.data.description);
    expect(exportedJson.data.first_mes).toBe(json.data.first_mes);
    for (const [k, v] of Object.entries(UNKNOWN_EXTENSIONS)) expect(exportedJson.data.extensions[k]).toEqual(v);

    const exportedPng = await saved(Promise.all([page.waitForEvent('download'), zoe.getByRole('button', { name: 'Export PNG' }).click()]).then(([d]) => d));
    expect([...exportedPng.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const back = JSON.parse(Buffer.from(readTextChunks(new Uint8Array(exportedPng)).get('chara')!, 'base64').toString('utf8'));
    expect(back.data.name).toBe('Zoë Storm');
    for (const [k, v] of Object.entries(UNKNOWN_EXTENSIONS)) expect(back.data.extensions[k]).toEqual(v);
    expect(back.data.extensions.chorus.voice).toMatchObject({ engine: 'flite', params: { voice: 'rms' } });

    // The imported greeting opens an empty conversation.
    await tab('conversations');
    await page.click('#new-conversation');
    await tab('chat');
    await page.locator('#log .msg.greeting', { hasText: 'Ahoy, the user. I am Keeper Jo.' }).waitFor();
  });

  it('applies the model settings panel to the next turn', async () => {
    await tab('settings');
    await page.fill('#model-settings [name=temperature]', '0.37'); // between the arrows' 0.05 steps
    await page.fill('#model-settings [name=top_k]', '20');
    await page.click('#model-settings button[type=submit]');
    await page.locator('#model-settings', { hasText: 'Saved.' }).waitFor();
    await shot('settings');
    const n = stack.llm.requests.length;
    await say('@Alice quick question');
    await waitUntil(() => stack.llm.requests.length > n, { timeoutMs: 20_000, message: 'LLM request' });
    const body = stack.llm.requests.at(-1)!.body;
    expect(body.temperature).toBe(0.37);
    expect(body.top_k).toBe(20);

    // An emptied field goes back to the endpoint's default; the others stay.
    await tab('settings');
    await page.fill('#model-settings [name=top_k]', '');
    await page.click('#model-settings button[type=submit]');
    await page.locator('#model-settings', { hasText: 'Saved.' }).waitFor();
    const m = stack.llm.requests.length;
    await say('@Alice another question');
    await waitUntil(() => stack.llm.requests.length > m, { timeoutMs: 20_000, message: 'LLM request' });
    const after = stack.llm.requests.at(-1)!.body;
    expect(after.temperature).toBe(0.37);
    expect(after).not.toHaveProperty('top_k');
  });

  it('restores a conversation after a reload, and reopens a past one from the list', async () => {
    await say('@Bob remember the password is swordfish');
    await page.locator('#log .msg.assistant', { hasText: 'swordfish' }).waitFor({ timeout: 20_000 });
    const first = await conversationId();
    // Reloaded once write-behind has saved the reply, so that it comes back from the database.
    await waitUntilSaved(stack.redis.url, first);
    await page.reload();
    await connected();
    await page.locator('#log .msg.assistant', { hasText: 'swordfish' }).waitFor({ timeout: 20_000 });
    expect(await conversationId()).toBe(first);

    await tab('conversations');
    await page.click('#new-conversation');
    await waitUntil(async () => (await conversationId()) !== first, { message: 'a new conversation' });
    await tab('chat');
    expect(await page.locator('#log .msg.user').count()).toBe(0);
    await tab('conversations');
    await page.locator(`#conversation-list li[data-conversation="${first}"]`).waitFor();
    await shot('conversations');
    await page.locator(`#conversation-list li[data-conversation="${first}"]`).getByRole('button', { name: 'Open' }).click();
    await page.locator('#log .msg.user', { hasText: 'swordfish' }).waitFor({ timeout: 10_000 });
    expect(await conversationId()).toBe(first);
  });

  it('a page reloaded while a reply streams shows that reply from its first word, then to its end', async () => {
    const parts = ['First part of a slow story, ', 'second part of it, ', 'third part, ', 'fourth, ', 'fifth, ', 'sixth, ', 'seventh, ', 'and the end.'];
    stack.llm.enqueue({ chunks: parts, chunkDelayMs: 1500 });
    await say('@Alice tell me the slow story');
    const bubble = () => page.locator('#log .msg.assistant', { hasText: 'slow story' }).last();
    await bubble().getByText('second part').waitFor({ timeout: 20_000 });
    await page.reload();
    await connected();
    // While it still streams (before its last part), the bubble already starts where the reply starts.
    await bubble().waitFor({ timeout: 20_000 });
    const early = (await bubble().textContent()) ?? '';
    expect(early).toContain('First part of a slow story, second part of it, ');
    expect(early).not.toContain('and the end.');
    await bubble().getByText('and the end.').waitFor({ timeout: 30_000 });
    expect(await bubble().textContent()).toContain(parts.join(''));
  });

  it('a message typed in one tab shows once in another tab of the same conversation, with the reply', async () => {
    const other = await context.newPage(); // same storage: it opens the conversation this page shows
    other.on('pageerror', (e) => problems.push(String(e)));
    try {
      await other.goto(stack.edges[0]!.url);
      await other.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');
      expect(await other.evaluate(() => localStorage.getItem('conversation_id'))).toBe(await conversationId());
      stack.llm.enqueue({ text: 'Both tabs see this.' });
      await say('@Alice a word for both tabs');
      for (const p of [page, other]) {
        await p.locator('#log .msg.assistant', { hasText: 'Both tabs see this.' }).waitFor({ timeout: 20_000 });
        expect(await p.locator('#log .msg.user', { hasText: 'a word for both tabs' }).count()).toBe(1);
      }
      // The reply comes after the message in the other tab too.
      const order = await other.locator('#log .msg').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
      const asked = order.findIndex((t) => t.includes('a word for both tabs'));
      expect(asked).toBeGreaterThanOrEqual(0);
      expect(order.findIndex((t) => t.includes('Both tabs see this.'))).toBeGreaterThan(asked);
    } finally {
      await other.close();
    }
  });

  it('lists the voices of the engines and previews one; reads well on a phone-sized screen; no console errors', async () => {
    await tab('voices');
    await page.locator('#voice-list li[data-voice="SLT"]').waitFor();
    const played = (await stats()).nonSilentSamplesPlayed;
    await page.locator('#voice-list li[data-voice="SLT"]').getByRole('button', { name: 'Preview' }).click();
    await waitUntil(async () => (await stats()).nonSilentSamplesPlayed > played + 1000, { timeoutMs: 20_000, message: 'preview audible' });
    await shot('voices');

    await page.setViewportSize({ width: 390, height: 844 });
    await tab('chat');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('phone-chat');
    // Problems stay until dismissed: several at once must not push the message box off a phone's screen.
    for (const n of [1, 2, 3, 4]) {
      stack.llm.enqueue({ status: 401, errorMessage: `Invalid API key (${n}): a long explanation that wraps over several lines on a narrow screen` });
      await say(`@Alice hello ${n}`);
      await page.locator('#notices .notice', { hasText: `(${n})` }).waitFor();
    }
    const box = (await page.locator('#text').boundingBox())!;
    expect(box.y + box.height).toBeLessThanOrEqual(844);
    await shot('phone-notices');
    while (await page.locator('#notices .close').count()) await page.locator('#notices .close').first().click();
    await tab('characters');
    await shot('phone-characters');
    expect(problems).toEqual([]);
  });
});

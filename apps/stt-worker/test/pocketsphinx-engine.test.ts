import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fliteWav, resampleLinear, waitUntil } from '@chorus/testkit';
import { SttError, type SttEngine } from '../src/engines/engine.js';
import { createPocketsphinxEngine, hasPocketsphinx, letterToPhones, normaliseVocabulary } from '../src/engines/pocketsphinx.js';

const available = hasPocketsphinx();

async function speech16k(text: string): Promise<Int16Array> {
  const { pcm, sampleRate } = await fliteWav(text, 'rms');
  return sampleRate === 16_000 ? pcm : resampleLinear(pcm, sampleRate, 16_000);
}

/** Whether any non-zombie process is left in the process group. */
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp ...
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}

/** Whether a zombie is left in the process group (orphans nobody reaps). */
function groupZombies(pgid: number): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] === 'Z') n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

describe('pocketsphinx helpers', () => {
  it('normalises vocabulary entries into lowercase words', () => {
    expect(normaliseVocabulary(['Captain Zorblax', "O'Brien", 'alice', 'Alice'])).toEqual(['alice', 'captain', "o'brien", 'zorblax']);
  });
  it('derives a letter-to-phone pronunciation', () => {
    expect(letterToPhones('Zorblax')).toEqual(['Z', 'AO', 'R', 'B', 'L', 'AE', 'K', 'S']);
    expect(letterToPhones('Quinnith')).toEqual(['K', 'W', 'IH', 'N', 'IH', 'TH']);
  });
  it('reports an unavailable binary as engine_unavailable', () => {
    try {
      createPocketsphinxEngine({ binary: 'no-such-pocketsphinx-binary' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SttError);
      expect((e as SttError).code).toBe('engine_unavailable');
      expect((e as SttError).message).toContain('apt-get install pocketsphinx pocketsphinx-en-us');
    }
  });
});

describe.skipIf(!available)('pocketsphinx engine', () => {
  let engine: SttEngine;
  const spawned: number[] = [];

  beforeAll(() => {
    engine = createPocketsphinxEngine({ vocabulary: ['Alice', 'Zorblax'], onSpawn: (pid) => spawned.push(pid) });
  });
  afterAll(async () => {
    await engine?.close();
    // Nothing outlives close(): every group ends and is reaped (a replaced spare's shell may still be reaping).
    await waitUntil(() => spawned.every((pid) => !groupAlive(pid) && groupZombies(pid) === 0), { timeoutMs: 10_000, message: 'decoder groups gone' });
  });

  it('has the expected shape', () => {
    expect(engine.name).toBe('pocketsphinx');
    expect(engine.sampleRate).toBe(16_000);
  });

  it('transcribes flite speech', async () => {
    const pcm = await speech16k('hello alice what is the weather like on mars');
    const t0 = performance.now();
    const text = await engine.transcribe(pcm);
    const ms = performance.now() - t0;
    console.log(`[pocketsphinx] ${(pcm.length / 16_000).toFixed(2)} s clip -> ${ms.toFixed(0)} ms: "${text}"`);
    const words = text.split(/\s+/);
    const hits = ['alice', 'weather', 'mars', 'hello'].filter((w) => words.includes(w));
    expect(hits.length).toBeGreaterThanOrEqual(3);
    expect(text).toBe(text.toLowerCase());
  });

  it('uses the pre-warmed process, and accepts per-call vocabulary (timings logged, not asserted)', async () => {
    const pcm = await speech16k('alice and bob went to the market');
    const t0 = performance.now();
    const text = await engine.transcribe(pcm);
    const warmMs = performance.now() - t0;
    const t1 = performance.now();
    const text2 = await engine.transcribe(pcm, { vocabulary: ['Quinnith'] }); // new dict -> cold spawn
    const coldMs = performance.now() - t1;
    console.log(`[pocketsphinx] warm ${warmMs.toFixed(0)} ms "${text}"; cold(new vocab) ${coldMs.toFixed(0)} ms "${text2}"`);
    expect(text).toContain('alice');
    expect(text2).toContain('alice');
  });

  it('returns an empty string for silence', async () => {
    expect(await engine.transcribe(new Int16Array(16_000 * 2))).toBe('');
  });

  it('returns at most a couple of words for white noise', async () => {
    let seed = 12345;
    const noise = new Int16Array(16_000);
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      noise[i] = ((seed / 0x7fffffff) * 2 - 1) * 3000;
    }
    const text = await engine.transcribe(noise);
    console.log(`[pocketsphinx] noise -> "${text}"`);
    expect(text === '' ? 0 : text.split(/\s+/).length).toBeLessThanOrEqual(2);
  });

  it('stream: recognises while the audio arrives — a phrase before a pause is a stable partial before the end', async () => {
    const first = await speech16k('tell me about mars');
    const second = await speech16k('what is the weather like there today');
    const partials: Array<[string, boolean]> = [];
    const s = engine.stream!({ onPartial: (text, stable) => partials.push([text, stable]) });
    for (let i = 0; i < first.length; i += 320) s.write(first.subarray(i, i + 320));
    s.write(new Int16Array(16000 * 0.3)); // a pause inside the utterance (flite adds ~350 ms around it)
    for (let i = 0; i < second.length; i += 320) s.write(second.subarray(i, i + 320));
    await waitUntil(() => partials.length > 0, { timeoutMs: 20_000, message: 'a partial before finish()' });
    expect(partials[0]![1]).toBe(true);
    expect(partials[0]![0]).toMatch(/tell me about/);
    const text = await s.finish();
    expect(text.startsWith(partials[0]![0])).toBe(true);
    expect(text).toMatch(/weather/);
  });

  it('stream: cancel stops the decoder and finish then rejects', async () => {
    const before = spawned.length;
    const s = engine.stream!({ vocabulary: ['Cancella'] });
    s.write(await speech16k('hello there'));
    await waitUntil(() => spawned.length > before, { message: 'decoder spawned' });
    s.cancel();
    await expect(s.finish()).rejects.toBeInstanceOf(SttError);
    await waitUntil(() => !groupAlive(spawned[before]!), { message: 'decoder gone' });
  });

  it("stream: utterances cancelled after an early end leave no listener on the session's signal", async () => {
    // One signal for the whole listening session, as listen.ts passes it; VAD_EARLY_END_MS cancels each stream.
    const session = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const pcm = await speech16k('hello there');
      for (let i = 0; i < 12; i++) {
        const before = spawned.length;
        const s = engine.stream!({ signal: session.signal });
        s.write(pcm);
        // Taking the spare starts the next one: the decoder is attached to this stream.
        await waitUntil(() => spawned.length > before, { message: 'decoder taken' });
        s.cancel();
      }
      expect(getEventListeners(session.signal, 'abort')).toHaveLength(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('abort rejects and kills the process group', async () => {
    const pcm = await speech16k('hello alice what is the weather like on mars');
    const long = new Int16Array(pcm.length * 20);
    for (let i = 0; i < 20; i++) long.set(pcm, i * pcm.length);
    const before = spawned.length;
    const ac = new AbortController();
    const p = engine.transcribe(long, { signal: ac.signal, vocabulary: ['Abortia'] }); // fresh process
    await waitUntil(() => spawned.length > before, { message: 'decoder spawned' });
    // The first process spawned for the new dictionary decodes; the next one is its pre-warmed spare.
    const pid = spawned[before]!;
    expect(spawned.length).toBeGreaterThan(before);
    expect(groupAlive(pid)).toBe(true);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    // The group is signalled at once; its shell reaps the pipeline and exits (no wall-clock bound asserted).
    await waitUntil(() => !groupAlive(pid) && groupZombies(pid) === 0, { timeoutMs: 10_000, message: 'aborted decoder group gone' });
  });

  it('rejects at once with an already-aborted signal', async () => {
    await expect(engine.transcribe(new Int16Array(160), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('writes missing vocabulary words into a custom dictionary', async () => {
    // The dict file is internal; check it via the process command line of a fresh decoder.
    const pids: number[] = [];
    const e = createPocketsphinxEngine({ vocabulary: ['Zorblax'], prewarm: false, onSpawn: (pid) => pids.push(pid) });
    try {
      const p = e.transcribe(new Int16Array(16_000));
      await waitUntil(() => pids.length > 0, { message: 'decoder spawned' });
      const cmd = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
      const dict = cmd[cmd.indexOf('-dict') + 1]!;
      expect(dict).not.toBe('/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict');
      expect(readFileSync(dict, 'utf8')).toMatch(/\nzorblax Z AO R B L AE K S\n/);
      expect(await p).toBe('');
    } finally {
      await e.close();
    }
  });
});

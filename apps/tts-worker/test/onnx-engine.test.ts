import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildTinyKokoroModel, type TinyKokoroModel, collectPcm, concatPcm } from '@chorus/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TtsError, type VoiceSpec } from '../src/engines/engine.js';
import {
  KOKORO_MAX_TOKENS,
  KOKORO_VOCAB,
  phonemizeForKokoro,
  splitPhonemes,
  tokenize,
} from '../src/engines/kokoro-vocab.js';
import { createOnnxEngine, type OnnxEngine, type OnnxEngineOptions } from '../src/engines/onnx.js';

let dir: string;
let model: TinyKokoroModel; // batchable: symbolic batch, per-item lengths output
let kokoroShaped: TinyKokoroModel; // like the real export: batch 1, `tokens` input, waveform [N], no lengths
let engines: OnnxEngine[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onnx-engine-'));
  model = await buildTinyKokoroModel(join(dir, 'batchable'));
  kokoroShaped = await buildTinyKokoroModel(join(dir, 'kokoro-shaped'), { batchable: false, tokenInputName: 'tokens' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
});

function engine(o: Partial<OnnxEngineOptions> = {}, m: TinyKokoroModel = model): OnnxEngine {
  const e = createOnnxEngine({
    threads: 1,
    onnxProviders: ['cpu'],
    onnxModelPath: m.modelPath,
    onnxVoicesDir: m.voicesDir,
    openaiModel: 'tts-1',
    ...o,
  });
  engines.push(e);
  return e;
}

function voice(params: Record<string, unknown> = { voice: 'af_test' }): VoiceSpec {
  return { id: 'v1', name: 'Ada', engine: 'onnx', params };
}

const collect = collectPcm;
const concat = concatPcm;

async function synth(e: OnnxEngine, text: string, v: VoiceSpec = voice(), signal?: AbortSignal): Promise<Int16Array> {
  return concat(await collect(e.synthesize({ text, voice: v, signal })));
}

function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

async function tokenCount(text: string, lang: 'en-us' | 'en' = 'en-us'): Promise<number> {
  return tokenize(await phonemizeForKokoro(text, lang)).length;
}

async function failure(p: Promise<unknown>): Promise<TtsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TtsError);
  return err as TtsError;
}

// The npm build of onnxruntime-node ships no CUDA provider; a cuda12 install would make 'cuda' succeed.
const ortBin = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '../bin/napi-v6', process.platform, process.arch);
const cudaInstalled = existsSync(join(ortBin, 'libonnxruntime_providers_cuda.so'));

describe('kokoro phonemes', () => {
  it('the phonemizer produces IPA for "Hello world" and the vocab maps it to known ids', async () => {
    const us = await phonemizeForKokoro('Hello world', 'en-us');
    expect(us).toBe('həlˈoʊ wˈɜːld');
    expect(tokenize(us)).toEqual([50, 83, 54, 156, 57, 135, 16, 65, 156, 87, 158, 54, 46]);
    expect([...us].every((s) => KOKORO_VOCAB.has(s))).toBe(true);
    // British voices use espeak's 'en'.
    expect(await phonemizeForKokoro('Hello world', 'en')).toBe('həlˈəʊ wˈɜːld');
  });

  it('keeps punctuation, which espeak drops, and drops symbols outside the vocabulary', async () => {
    const ps = await phonemizeForKokoro('Hello, world! Are you there?', 'en-us');
    expect(ps).toMatch(/^həlˈoʊ, wˈɜːld! .+\?$/);
    expect(tokenize('a§b')).toEqual([43, 44]);
  });

  it('splits long phoneme strings at sentence ends into pieces the model accepts', () => {
    const sentence = 'ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˈoʊvɚ ðə lˈeɪzi dˈɑːɡ.';
    const text = Array.from({ length: 30 }, () => sentence).join(' ');
    const pieces = splitPhonemes(text);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) {
      expect([...p].length).toBeLessThanOrEqual(KOKORO_MAX_TOKENS);
      expect(p.endsWith('.')).toBe(true);
    }
    expect(pieces.join(' ')).toBe(text);
  });
});

describe('onnx engine', () => {
  it('the generated model loads and synthesizes non-silent 24 kHz PCM whose length grows with the text', async () => {
    const e = engine();
    expect(e.name).toBe('onnx');
    expect(e.sampleRate(voice())).toBe(24_000);
    const shortText = 'Hello.';
    const longText = 'Hello there, it is good to hear your voice again today.';
    const short = await collect(e.synthesize({ text: shortText, voice: voice() }));
    const long = await collect(e.synthesize({ text: longText, voice: voice() }));
    for (const c of [...short, ...long]) expect(c.length).toBeLessThanOrEqual(4800);
    const a = concat(short);
    const b = concat(long);
    // The tiny model speaks samplesPerToken samples per phoneme token at speed 1.
    expect(a.length).toBe((await tokenCount(shortText)) * model.samplesPerToken);
    expect(b.length).toBe((await tokenCount(longText)) * model.samplesPerToken);
    expect(b.length).toBeGreaterThan(a.length);
    expect(rms(a)).toBeGreaterThan(3000);
    expect(rms(b)).toBeGreaterThan(3000);
    // Each voice's style file changes the sound.
    const british = await synth(e, shortText, voice({ voice: 'bf_test', lang: 'en-us' }));
    expect(british.length).toBe(a.length);
    expect(british).not.toEqual(a);
  });

  it('speed 2 gives shorter audio', async () => {
    const e = engine();
    const text = 'A quick test of the speaking rate.';
    const normal = await synth(e, text);
    const fast = await synth(e, text, voice({ voice: 'af_test', speed: 2 }));
    expect(fast.length).toBe(Math.floor(normal.length / 2));
    expect(rms(fast)).toBeGreaterThan(3000);
  });

  it.skipIf(cudaInstalled)('runs on CPU when CUDA is requested but absent, and still synthesizes', async () => {
    const logs: Array<[string, Record<string, unknown> | undefined]> = [];
    const e = engine({ onnxProviders: ['cuda', 'cpu'], log: (msg, fields) => logs.push([msg, fields]) });
    expect(await e.provider()).toBe('cpu');
    expect(logs).toContainEqual(['onnx execution provider', { provider: 'cpu' }]);
    expect(logs.some(([msg, f]) => msg === 'onnx execution provider unavailable' && String(f?.error).length > 0)).toBe(true);
    expect((await synth(e, 'Still talking.')).length).toBeGreaterThan(0);
  });

  it('reports engine_unavailable naming ONNX_TTS_MODEL when no model is configured or the file is missing', async () => {
    const unset = await failure(collect(engine({ onnxModelPath: undefined }).synthesize({ text: 'Hi.', voice: voice() })));
    expect(unset.code).toBe('engine_unavailable');
    expect(unset.message).toContain('ONNX_TTS_MODEL');
    expect(unset.message).toContain('ONNX_TTS_VOICES_DIR');

    const missing = engine({ onnxModelPath: join(dir, 'nope.onnx') });
    const err = await failure(collect(missing.synthesize({ text: 'Hi.', voice: voice() })));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toContain('ONNX_TTS_MODEL');
    expect((await failure(missing.provider())).code).toBe('engine_unavailable');
  });

  it('reports engine_unavailable naming ONNX_TTS_VOICES_DIR when no voices directory is configured', async () => {
    const err = await failure(collect(engine({ onnxVoicesDir: undefined }).synthesize({ text: 'Hi.', voice: voice() })));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toContain('ONNX_TTS_VOICES_DIR');
  });

  it('rejects an unknown or unsafe voice with voice_invalid naming it', async () => {
    const e = engine();
    expect(() => e.validate(voice())).not.toThrow();
    const unknown = voice({ voice: 'af_nobody' });
    expect(() => e.validate(unknown)).toThrow(TtsError);
    try {
      e.validate(unknown);
    } catch (err) {
      expect((err as TtsError).code).toBe('voice_invalid');
      expect((err as TtsError).message).toContain('af_nobody');
      expect((err as TtsError).message).toContain('Ada');
    }
    const viaSynth = await failure(collect(e.synthesize({ text: 'Hi.', voice: unknown })));
    expect(viaSynth.code).toBe('voice_invalid');
    expect(viaSynth.message).toContain('af_nobody');

    for (const params of [{ voice: '../voices/af_test' }, {}, { voice: 'af_test', speed: 3 }, { voice: 'af_test', lang: 'fr' }]) {
      expect(() => e.validate(voice(params)), JSON.stringify(params)).toThrow(/Ada/);
    }
  });

  it('batches concurrent same-voice requests into fewer inferences, each getting its own audio', async () => {
    const texts = ['Good morning.', 'How are you doing today?', 'Fine, thanks.', 'See you later, alligator!'];
    const solo = engine();
    const expected: Int16Array[] = [];
    for (const t of texts) expected.push(await synth(solo, t));
    expect(solo.stats().inferences).toBe(4);

    // A wide window: espeak phonemizes the four texts one after another in its worker first.
    const e = engine({ onnxBatchWindowMs: 1000 });
    expect(await e.canBatch()).toBe(true);
    await synth(e, 'Warm up.'); // espeak's first call is slow; keep it out of the window
    const before = e.stats().inferences;
    const results = await Promise.all(texts.map((t) => synth(e, t)));
    const used = e.stats().inferences - before;
    expect(used).toBeLessThan(4);
    expect(e.stats().largestBatch).toBeGreaterThan(1);
    // Cut by the model's per-item lengths, batched audio equals the one-by-one audio.
    results.forEach((pcm, i) => expect(pcm).toEqual(expected[i]));
  });

  it('runs requests one by one on a Kokoro-shaped graph (batch 1, `tokens` input, no lengths)', async () => {
    const e = engine({ onnxBatchWindowMs: 50 }, kokoroShaped);
    expect(await e.canBatch()).toBe(false);
    const texts = ['One.', 'Two, please.', 'Three of them.', 'Four in a row.'];
    const results = await Promise.all(texts.map((t) => synth(e, t)));
    for (const [i, pcm] of results.entries()) {
      expect(pcm.length).toBe((await tokenCount(texts[i])) * kokoroShaped.samplesPerToken);
      expect(rms(pcm)).toBeGreaterThan(3000);
    }
    expect(e.stats().inferences).toBe(4);
    expect(e.stats().largestBatch).toBe(1);
  });

  it('synthesizes text longer than one inference in pieces', async () => {
    const e = engine();
    const sentence = 'This sentence is repeated many times to make a very long paragraph.';
    const text = Array.from({ length: 12 }, () => sentence).join(' ');
    const ps = await phonemizeForKokoro(text, 'en-us');
    expect(tokenize(ps).length).toBeGreaterThan(KOKORO_MAX_TOKENS);
    const pcm = await synth(e, text);
    const tokens = splitPhonemes(ps).reduce((n, p) => n + tokenize(p).length, 0);
    expect(pcm.length).toBe(tokens * model.samplesPerToken);
  });

  it('stops when the signal aborts, before or during synthesis', async () => {
    const e = engine();
    const ac = new AbortController();
    ac.abort();
    expect(await collect(e.synthesize({ text: 'Never said.', voice: voice(), signal: ac.signal }))).toEqual([]);

    const text = 'This is a long answer that keeps going so that it yields several chunks of audio before it ends.';
    const full = await collect(e.synthesize({ text, voice: voice() }));
    expect(full.length).toBeGreaterThan(3);
    const stop = new AbortController();
    const got: Int16Array[] = [];
    for await (const chunk of e.synthesize({ text, voice: voice(), signal: stop.signal })) {
      got.push(chunk);
      stop.abort();
    }
    expect(got.length).toBe(1);
  });

  it('keeps the event loop free while the model runs', async () => {
    // Seconds of audio per token: an inference long enough that running it on this thread would show as lag.
    const heavy = await buildTinyKokoroModel(join(dir, 'heavy'), { samplesPerToken: 24_000 * 3 });
    const e = engine({}, heavy);
    await synth(e, 'Warm.');
    const before = e.stats().inferenceMs;
    // Timers keep firing while the inference is in flight (counted, not timed).
    let ticks = 0;
    const iter = e.synthesize({ text: 'A fairly long sentence for the heavy model to chew on.', voice: voice() });
    const pending = iter[Symbol.asyncIterator]().next();
    const timer = setInterval(() => ticks++, 1);
    const first = await pending;
    clearInterval(timer);
    expect(first.done).toBe(false);
    expect(e.stats().inferenceMs).toBeGreaterThan(before);
    expect(ticks).toBeGreaterThan(0);
  });

  it('refuses work after close', async () => {
    const e = engine();
    await synth(e, 'Bye.');
    await e.close();
    expect((await failure(collect(e.synthesize({ text: 'Hi.', voice: voice() })))).code).toBe('engine_unavailable');
  });
});

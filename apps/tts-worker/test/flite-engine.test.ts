import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPocketsphinx, pocketsphinxTranscribe, resampleLinear, rms } from '@chorus/testkit';
import { TtsError, type TtsEngine, type VoiceSpec } from '../src/engines/engine.js';
import { createFliteEngine, splitForSynthesis } from '../src/engines/flite.js';

const SENTENCE = 'hello alice how is the weather on mars';
const WORDS = SENTENCE.split(' ').length;
const LONG = 'The quick brown fox jumps over the lazy dog, and then it runs away. '.repeat(30);

const voice = (params: Record<string, unknown>, name = 'Tester'): VoiceSpec => ({
  id: 'voice-1',
  name,
  engine: 'flite',
  params,
});

async function collect(chunks: AsyncIterable<Int16Array>): Promise<{ pcm: Int16Array; sizes: number[] }> {
  const parts: Int16Array[] = [];
  for await (const c of chunks) parts.push(c.slice());
  const pcm = new Int16Array(parts.reduce((n, c) => n + c.length, 0));
  parts.reduce((at, c) => (pcm.set(c, at), at + c.length), 0);
  return { pcm, sizes: parts.map((c) => c.length) };
}

describe('flite engine', () => {
  let engine: TtsEngine;
  beforeAll(() => {
    engine = createFliteEngine({ threads: 2, onnxProviders: [], openaiModel: 'unused' });
  });
  afterAll(() => engine.close());

  it.each([
    ['kal16', 16_000],
    ['awb', 16_000],
    ['rms', 16_000],
    ['slt', 16_000],
    ['kal', 8000],
  ])('voice %s speaks audible PCM at its announced %i Hz, of a plausible length', async (name, rate) => {
    const v = voice({ voice: name });
    expect(engine.sampleRate(v)).toBe(rate);
    const { pcm, sizes } = await collect(engine.synthesize({ text: SENTENCE, voice: v }));
    const seconds = pcm.length / rate;
    expect(seconds).toBeGreaterThan(0.15 * WORDS);
    expect(seconds).toBeLessThan(1.0 * WORDS);
    expect(rms(pcm)).toBeGreaterThan(200);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(rate / 5); // 200 ms chunks
    expect(Math.min(...sizes)).toBeGreaterThan(0);
  });

  it.skipIf(!hasPocketsphinx())('the announced rate is the real one: pocketsphinx understands kal and rms', async () => {
    for (const name of ['kal', 'rms']) {
      const v = voice({ voice: name });
      const { pcm } = await collect(engine.synthesize({ text: SENTENCE, voice: v }));
      const heard = (await pocketsphinxTranscribe(resampleLinear(pcm, engine.sampleRate(v), 16_000))).toLowerCase();
      const words = ['hello', 'alice', 'weather', 'mars'].filter((w) => heard.includes(w));
      expect(words.length, `${name} heard as "${heard}"`).toBeGreaterThanOrEqual(3);
    }
  });

  it('duration_stretch 2 makes the speech about twice as long', async () => {
    for (const name of ['rms', 'kal16']) {
      const plain = await collect(engine.synthesize({ text: SENTENCE, voice: voice({ voice: name }) }));
      const slow = await collect(engine.synthesize({ text: SENTENCE, voice: voice({ voice: name, duration_stretch: 2 }) }));
      expect(slow.pcm.length / plain.pcm.length).toBeGreaterThan(1.6);
    }
  });

  it('pitch changes kal16 and is ignored by rms', async () => {
    const speak = async (params: Record<string, unknown>) =>
      (await collect(engine.synthesize({ text: SENTENCE, voice: voice(params) }))).pcm;
    expect(await speak({ voice: 'kal16', pitch: 180 })).not.toEqual(await speak({ voice: 'kal16' }));
    expect(await speak({ voice: 'rms', pitch: 180 })).toEqual(await speak({ voice: 'rms' }));
  });

  it('an unknown or missing voice name is voice_invalid, naming the voice', async () => {
    const bad = voice({ voice: 'xyz' }, 'Robo');
    const expected = "voice Robo (voice-1): flite has no voice 'xyz'; use one of kal16, awb, rms, slt, kal";
    expect(() => engine.validate(bad)).toThrow(expected);
    const err = await collect(engine.synthesize({ text: SENTENCE, voice: bad })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TtsError);
    expect(err).toMatchObject({ code: 'voice_invalid', message: expected });
    expect(() => engine.validate(voice({}, 'Robo'))).toThrow(/Robo \(voice-1\): flite needs params.voice/);
    expect(() => engine.sampleRate(voice({ voice: 42 }))).toThrow(TtsError);
  });

  it('out-of-range or mistyped params are voice_invalid', () => {
    for (const params of [
      { voice: 'rms', duration_stretch: 0.1 },
      { voice: 'rms', duration_stretch: 5 },
      { voice: 'rms', duration_stretch: '2' },
      { voice: 'kal', pitch: 'high' },
    ]) {
      expect(() => engine.validate(voice(params)), JSON.stringify(params)).toThrow(
        expect.objectContaining({ code: 'voice_invalid' }),
      );
    }
    expect(() => engine.validate(voice({ voice: 'slt', duration_stretch: 0.25, pitch: 120 }))).not.toThrow();
  });

  it('long text is cut at sentence ends and spoken completely', async () => {
    const pieces = splitForSynthesis(LONG);
    expect(pieces.length).toBeGreaterThan(4);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(400);
    expect(pieces.every((p) => p.endsWith('.'))).toBe(true);
    expect(pieces.join(' ')).toBe(LONG.trim());
    expect(splitForSynthesis('x'.repeat(900)).map((p) => p.length)).toEqual([400, 400, 100]);
    const { pcm } = await collect(engine.synthesize({ text: LONG, voice: voice({ voice: 'kal16' }) }));
    expect(pcm.length / 16_000).toBeGreaterThan(30 * 2); // ~14 words a sentence
  });

  it('aborting stops the audio early and ends the stream quietly', async () => {
    const controller = new AbortController();
    let samples = 0;
    for await (const chunk of engine.synthesize({ text: LONG, voice: voice({ voice: 'rms' }), signal: controller.signal })) {
      samples += chunk.length;
      controller.abort();
    }
    expect(samples).toBe(3200);

    const already = AbortSignal.abort();
    expect((await collect(engine.synthesize({ text: LONG, voice: voice({ voice: 'rms' }), signal: already }))).pcm.length).toBe(0);
  });

  it('aborting while queued behind other work ends without audio', async () => {
    const single = createFliteEngine({ threads: 1, onnxProviders: [], openaiModel: 'unused' });
    try {
      const busy = collect(single.synthesize({ text: SENTENCE, voice: voice({ voice: 'awb' }) }));
      const controller = new AbortController();
      const queued = collect(single.synthesize({ text: SENTENCE, voice: voice({ voice: 'rms' }), signal: controller.signal }));
      controller.abort();
      expect((await queued).pcm.length).toBe(0);
      expect((await busy).pcm.length).toBeGreaterThan(0);
    } finally {
      await single.close();
    }
  });

  it('the caller’s event loop keeps running while flite synthesizes', async () => {
    let ticks = 0;
    let ticksBeforeAudio = -1;
    const timer = setInterval(() => ticks++, 1);
    try {
      const v = voice({ voice: 'awb' });
      for await (const _ of engine.synthesize({ text: LONG.slice(0, 400), voice: v })) {
        if (ticksBeforeAudio < 0) ticksBeforeAudio = ticks;
      }
    } finally {
      clearInterval(timer);
    }
    // A timer fired while the first piece was being synthesized, i.e. synthesis ran off this thread.
    expect(ticksBeforeAudio).toBeGreaterThan(0);
  });

  it('concurrent requests both complete with the same audio as alone', async () => {
    const a = voice({ voice: 'rms' });
    const b = voice({ voice: 'kal' });
    const text = 'two voices at once\0, one after the other.';
    const [soloA, soloB] = [await collect(engine.synthesize({ text, voice: a })), await collect(engine.synthesize({ text, voice: b }))];
    const [bothA, bothB] = await Promise.all([
      collect(engine.synthesize({ text, voice: a })),
      collect(engine.synthesize({ text, voice: b })),
    ]);
    expect(bothA.pcm.length).toBeGreaterThan(0);
    expect(bothA.pcm).toEqual(soloA.pcm);
    expect(bothB.pcm).toEqual(soloB.pcm);
  });

  it('after close, synthesis fails with engine_failed', async () => {
    const closed = createFliteEngine({ threads: 1, onnxProviders: [], openaiModel: 'unused' });
    await closed.close();
    await expect(collect(closed.synthesize({ text: SENTENCE, voice: voice({ voice: 'rms' }) }))).rejects.toMatchObject({
      code: 'engine_failed',
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  decodeWav,
  encodeWav,
  fliteWav,
  hasPocketsphinx,
  pocketsphinxTranscribe,
  resampleLinear,
  rms,
} from '../src/audio.js';

const tone = (n: number, rate: number, hz = 440, amp = 8000) =>
  Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));

describe('audio helpers', () => {
  it('a WAV encoded then decoded gives back the same samples and rate', () => {
    const pcm = tone(1234, 16_000);
    const wav = encodeWav(pcm, 16_000);
    expect(wav.length).toBe(44 + 2 * 1234);
    const back = decodeWav(wav);
    expect(back.sampleRate).toBe(16_000);
    expect(back.channels).toBe(1);
    expect(Array.from(back.pcm)).toEqual(Array.from(pcm));
  });

  it('decodeWav skips unknown chunks and copes with odd offsets', () => {
    const wav = encodeWav(Int16Array.of(1, -2, 3), 8000);
    const list = Buffer.from('LIST\x01\x00\x00\x00x\x00', 'latin1'); // odd size, padded
    const withList = Buffer.concat([wav.subarray(0, 36), list, wav.subarray(36)]);
    const shifted = Buffer.concat([Buffer.alloc(1), withList]).subarray(1);
    expect(Array.from(decodeWav(shifted).pcm)).toEqual([1, -2, 3]);
    expect(() => decodeWav(Buffer.from('nope'))).toThrow(/RIFF/);
  });

  it('rms measures loudness and resampleLinear keeps duration and level', () => {
    expect(rms(new Int16Array(100))).toBe(0);
    expect(rms(new Int16Array(0))).toBe(0);
    const pcm = tone(8000, 8000, 200);
    expect(rms(pcm)).toBeCloseTo(8000 / Math.SQRT2, -2);
    const up = resampleLinear(pcm, 8000, 16_000);
    expect(up.length).toBe(16_000);
    expect(rms(up)).toBeCloseTo(rms(pcm), -2);
    expect(resampleLinear(pcm, 8000, 8000)).toEqual(pcm);
  });

  it('fliteWav speaks a sentence as 16 kHz PCM', async () => {
    const { pcm, sampleRate } = await fliteWav('hello alice how is the weather on mars');
    expect(sampleRate).toBe(16_000);
    expect(pcm.length / sampleRate).toBeGreaterThan(1);
    expect(pcm.length / sampleRate).toBeLessThan(5);
    expect(rms(pcm)).toBeGreaterThan(300);
  });

  it.skipIf(!hasPocketsphinx())('pocketsphinx recognises flite speech', async () => {
    const { pcm } = await fliteWav('hello alice how is the weather on mars');
    const text = (await pocketsphinxTranscribe(pcm)).toLowerCase();
    const heard = ['hello', 'alice', 'weather', 'mars'].filter((w) => text.includes(w));
    expect(heard.length, `heard "${text}"`).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!hasPocketsphinx())('pocketsphinx hears nothing in silence', async () => {
    expect(await pocketsphinxTranscribe(new Int16Array(16_000))).toBe('');
  });
});

import { describe, expect, it } from 'vitest';
import { concatPcm } from '@chorus/testkit';
import {
  base64ToPcm16, bytesToPcm16, durationMs, Pcm16ByteDecoder, pcm16ToBase64, pcm16ToBytes, PcmChunker,
  resamplePcm16, rmsLevel, StreamingResampler,
} from '../src/index.js';

function sine(freq: number, rate: number, samples: number, amplitude = 10_000): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

/** Deterministic noise, so failures reproduce. */
function noise(samples: number, seed = 1): Int16Array {
  let state = seed;
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    out[i] = Math.floor((state / 2147483648) * 40_000) - 20_000;
  }
  return out;
}

function zeroCrossings(pcm: Int16Array): number {
  let n = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1]! < 0 !== pcm[i]! < 0) n++;
  return n;
}

const concat = concatPcm;

/** Splits `pcm` into chunks of pseudo-random sizes between 1 and `max`. */
function randomChunks(pcm: Int16Array, max: number, seed: number): Int16Array[] {
  let state = seed;
  const chunks: Int16Array[] = [];
  for (let offset = 0; offset < pcm.length; ) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const size = Math.min(pcm.length - offset, 1 + (state % max));
    chunks.push(pcm.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

const RATE_PAIRS: Array<[number, number]> = [
  [16_000, 24_000],
  [24_000, 16_000],
  [22_050, 24_000],
  [44_100, 16_000],
  [8_000, 48_000],
  [24_000, 24_000],
];

describe('resamplePcm16', () => {
  it.each(RATE_PAIRS)('gives round(n * to / from) samples (±1), %i Hz → %i Hz', (from, to) => {
    for (const n of [0, 1, 2, 7, 160, 1_001, 12_345]) {
      const out = resamplePcm16(noise(n), from, to);
      expect(Math.abs(out.length - Math.round((n * to) / from))).toBeLessThanOrEqual(1);
    }
  });

  it('returns a copy of the input when the rates are equal', () => {
    const input = noise(500);
    const out = resamplePcm16(input, 24_000, 24_000);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });

  it('keeps the frequency and level of a 440 Hz sine through 16 kHz → 24 kHz → 16 kHz', () => {
    const original = sine(440, 16_000, 16_000);
    const up = resamplePcm16(original, 16_000, 24_000);
    const back = resamplePcm16(up, 24_000, 16_000);
    expect(zeroCrossings(up)).toBe(zeroCrossings(original));
    expect(zeroCrossings(back)).toBe(zeroCrossings(original));
    expect(rmsLevel(up)).toBeCloseTo(rmsLevel(original), 3);
    expect(rmsLevel(back)).toBeCloseTo(rmsLevel(original), 3);
    // Away from the edges (where the input is taken as silence beyond its ends) the round trip is near-exact.
    let worst = 0;
    for (let i = 100; i < original.length - 100; i++) worst = Math.max(worst, Math.abs(back[i]! - original[i]!));
    expect(worst).toBeLessThanOrEqual(4);
  });

  it('filters out tones above the new Nyquist frequency when downsampling (no aliasing)', () => {
    const tone = sine(10_000, 24_000, 24_000); // above 8 kHz, the Nyquist frequency of 16 kHz
    const down = resamplePcm16(tone, 24_000, 16_000);
    expect(rmsLevel(down.subarray(200, -200))).toBeLessThan(rmsLevel(tone) * 0.01);
  });

  it('keeps a constant signal constant', () => {
    const dc = new Int16Array(4_000).fill(-1234);
    const out = resamplePcm16(dc, 16_000, 24_000);
    for (let i = 100; i < out.length - 100; i++) expect(out[i]).toBe(-1234);
  });

  it('clamps to the 16-bit range instead of wrapping around', () => {
    const square = new Int16Array(2_000);
    for (let i = 0; i < square.length; i++) square[i] = Math.floor(i / 20) % 2 ? 32767 : -32768;
    const out = resamplePcm16(square, 16_000, 24_000); // the overshoot (Gibbs) exceeds full scale
    expect(Math.max(...out)).toBe(32767);
    expect(Math.min(...out)).toBe(-32768);
  });

  it('rejects rates that are not positive integers', () => {
    expect(() => resamplePcm16(new Int16Array(4), 0, 16_000)).toThrow(RangeError);
    expect(() => resamplePcm16(new Int16Array(4), 16_000, 22_050.5)).toThrow(RangeError);
  });
});

describe('StreamingResampler', () => {
  it.each(RATE_PAIRS)('equals the one-shot resample whatever the chunking, %i Hz → %i Hz', (from, to) => {
    const input = noise(9_999, from);
    const oneShot = resamplePcm16(input, from, to);
    for (const [maxChunk, seed] of [[1, 1], [37, 2], [700, 3], [5_000, 4]] as const) {
      const r = new StreamingResampler(from, to);
      const parts = randomChunks(input, maxChunk, seed).map((c) => r.push(c));
      parts.push(r.flush());
      expect(concat(parts)).toEqual(oneShot);
    }
  });

  it('emits audio before the stream ends, lagging only by the filter length', () => {
    const r = new StreamingResampler(16_000, 24_000);
    const out = r.push(noise(1_600)); // 100 ms in
    expect(out.length).toBeGreaterThan(2_400 - 60); // at most a few ms held back
  });

  it('starts a fresh stream after flush', () => {
    const input = noise(3_000);
    const r = new StreamingResampler(24_000, 16_000);
    const first = concat([r.push(input), r.flush()]);
    const second = concat([r.push(input), r.flush()]);
    expect(second).toEqual(first);
    expect(first).toEqual(resamplePcm16(input, 24_000, 16_000));
  });
});

describe('PcmChunker', () => {
  it('never emits more than maxSamples and keeps every sample in order', () => {
    const input = noise(10_007);
    const chunker = new PcmChunker(960);
    const out: Int16Array[] = [];
    for (const c of randomChunks(input, 3_000, 9)) out.push(...chunker.push(c));
    for (const c of out) expect(c.length).toBe(960); // full chunks while streaming
    const rest = chunker.flush();
    expect(rest?.length).toBe(10_007 % 960);
    expect(concat([...out, rest!])).toEqual(input);
  });

  it('emits a full chunk as soon as it is full, and the remainder only on flush', () => {
    const chunker = new PcmChunker(4);
    expect(chunker.push(Int16Array.from([1, 2, 3]))).toEqual([]);
    expect(chunker.push(Int16Array.from([4, 5]))).toEqual([Int16Array.from([1, 2, 3, 4])]);
    expect(chunker.flush()).toEqual(Int16Array.from([5]));
    expect(chunker.flush()).toBeNull();
  });

  it('makes the first chunk of each stream smaller when asked', () => {
    const chunker = new PcmChunker(960, { firstChunkSamples: 640 });
    const sizes = chunker.push(noise(3_000)).map((c) => c.length);
    expect(sizes).toEqual([640, 960, 960]);
    expect(chunker.flush()?.length).toBe(3_000 - 640 - 960 - 960);
    expect(chunker.push(noise(700)).map((c) => c.length)).toEqual([640]); // a new stream starts small again
  });

  it('emits copies, not views of the caller’s buffer', () => {
    const input = Int16Array.from([1, 2, 3, 4]);
    const [chunk] = new PcmChunker(4).push(input);
    input[0] = 99;
    expect(chunk![0]).toBe(1);
  });

  it('rejects impossible sizes', () => {
    expect(() => new PcmChunker(0)).toThrow(RangeError);
    expect(() => new PcmChunker(10, { firstChunkSamples: 11 })).toThrow(RangeError);
  });
});

describe('PCM16 bytes and base64', () => {
  it('encodes little-endian', () => {
    expect(pcm16ToBase64(Int16Array.from([1, -2]))).toBe(Buffer.from([0x01, 0x00, 0xfe, 0xff]).toString('base64'));
    expect([...pcm16ToBytes(Int16Array.from([0x1234]))]).toEqual([0x34, 0x12]);
  });

  it('round-trips through base64', () => {
    const pcm = noise(4_801);
    expect(base64ToPcm16(pcm16ToBase64(pcm))).toEqual(pcm);
    expect(base64ToPcm16('')).toEqual(new Int16Array(0));
  });

  it('encodes a view that starts inside a larger buffer', () => {
    const whole = noise(100);
    const view = whole.subarray(13, 57); // byteOffset 26
    expect(base64ToPcm16(pcm16ToBase64(view))).toEqual(whole.slice(13, 57));
  });

  it('decodes bytes that sit at an odd offset of their buffer', () => {
    const pcm = noise(257);
    const bytes = pcm16ToBytes(pcm);
    const backing = Buffer.alloc(bytes.length + 3);
    bytes.copy(backing, 1);
    const odd = backing.subarray(1, 1 + bytes.length);
    expect(odd.byteOffset % 2).toBe(1);
    expect(bytesToPcm16(odd)).toEqual(pcm);
    expect(base64ToPcm16(odd.toString('base64'))).toEqual(pcm);
  });

  it('refuses an odd number of bytes', () => {
    expect(() => bytesToPcm16(new Uint8Array(3))).toThrow(RangeError);
  });

  it('decodes a byte stream whose chunks split samples', () => {
    const pcm = noise(1_000);
    const bytes = pcm16ToBytes(pcm);
    const decoder = new Pcm16ByteDecoder();
    const parts: Int16Array[] = [];
    for (let offset = 0, size = 1; offset < bytes.length; offset += size, size = (size % 7) + 1) {
      parts.push(decoder.push(bytes.subarray(offset, offset + size)));
    }
    expect(decoder.flush()).toBe(0);
    expect(concat(parts)).toEqual(pcm);
    decoder.push(Uint8Array.from([1, 2, 3]));
    expect(decoder.flush()).toBe(1); // a stream that ends mid-sample
  });
});

describe('measures', () => {
  it('computes durations in milliseconds', () => {
    expect(durationMs(24_000, 24_000)).toBe(1_000);
    expect(durationMs(640, 16_000)).toBe(40);
    expect(durationMs(0, 16_000)).toBe(0);
  });

  it('computes the RMS level relative to full scale', () => {
    expect(rmsLevel(new Int16Array(0))).toBe(0);
    expect(rmsLevel(new Int16Array(100))).toBe(0);
    expect(rmsLevel(new Int16Array(100).fill(-32768))).toBe(1);
    expect(rmsLevel(sine(440, 16_000, 16_000, 16_384))).toBeCloseTo(0.5 / Math.SQRT2, 3);
  });
});

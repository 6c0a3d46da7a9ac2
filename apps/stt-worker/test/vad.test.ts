import { describe, expect, it } from 'vitest';
import { fliteWav, resampleLinear } from '@chorus/testkit';
import { SileroVad, VadSegmenter, VAD_FRAME_SAMPLES, type VadEvent } from '../src/vad.js';

const FRAME_MS = 32;

/** Frame i filled with value i+1 (so audio can be traced back to frames). */
function frame(i: number): Int16Array {
  return new Int16Array(VAD_FRAME_SAMPLES).fill((i % 30000) + 1);
}

function runProbs(seg: VadSegmenter, probs: number[]): Array<VadEvent & { frame: number }> {
  const out: Array<VadEvent & { frame: number }> = [];
  probs.forEach((p, i) => {
    for (const e of seg.push(p, frame(i))) out.push({ ...e, frame: i });
  });
  return out;
}

const seq = (...parts: Array<[number, number]>): number[] => parts.flatMap(([p, n]) => Array<number>(n).fill(p));

describe('VadSegmenter', () => {
  it('starts after minSpeechMs of speech, ends after endSilenceMs, with pre-pad', () => {
    const seg = new VadSegmenter();
    // 20 silent frames, 40 speech frames (1280 ms), 30 silent frames.
    const ev = runProbs(seg, seq([0.05, 20], [0.9, 40], [0.05, 30]));
    const types = ev.map((e) => e.type);
    expect(types.filter((t) => t === 'speech_start')).toHaveLength(1);
    expect(types.filter((t) => t === 'speech_end')).toHaveLength(1);
    expect(types).not.toContain('misfire');

    const start = ev.find((e) => e.type === 'speech_start')!;
    // 250 ms → 8 frames of 32 ms: confirmed on the 8th speech frame (index 27).
    expect(start.frame).toBe(27);
    if (start.type !== 'speech_start') throw new Error();
    expect(start.startMs).toBe(20 * FRAME_MS);
    // 300 ms pre-pad = 4800 samples, then 8 speech frames.
    expect(start.audio.length).toBe(4800 + 8 * VAD_FRAME_SAMPLES);
    expect(start.audio[0]).toBe(20 - 9); // pad starts inside frame 10 (value 11)
    expect(start.audio[4800]).toBe(21); // first speech frame

    const end = ev.find((e) => e.type === 'speech_end')!;
    if (end.type !== 'speech_end') throw new Error();
    // 550 ms → 18 silent frames (17.2 rounded up): ends at frame 60 + 17 = 77.
    expect(end.frame).toBe(77);
    expect(end.reason).toBe('silence');
    expect(end.startMs).toBe(20 * FRAME_MS);
    expect(end.endMs).toBe(60 * FRAME_MS);
    expect(end.speechMs).toBe(40 * FRAME_MS);

    // speech_start.audio + speech_audio frames == speech_end.audio (pre-pad included).
    const audio = ev.filter((e) => e.type === 'speech_audio');
    expect(audio).toHaveLength(77 - 27);
    expect(end.audio.length).toBe(start.audio.length + audio.length * VAD_FRAME_SAMPLES);
    expect(Array.from(end.audio.subarray(0, start.audio.length))).toEqual(Array.from(start.audio));
    expect(end.audio[end.audio.length - 1]).toBe(78);
    expect(seg.current).toBe('idle');
  });

  it('endEarly ends the utterance only after enough silence and only if no speech came since the caller looked', () => {
    const seg = new VadSegmenter();
    runProbs(seg, seq([0.05, 5], [0.9, 20], [0.05, 5])); // speech from frame 5 to 24, then 5 silent frames (160 ms)
    expect(seg.silenceMs).toBe(5 * FRAME_MS);
    const speechEnd = seg.lastSpeechEndMs;
    expect(speechEnd).toBe(25 * FRAME_MS);
    expect(seg.endEarly(400, speechEnd)).toEqual([]); // not enough silence yet
    for (let i = 0; i < 8; i++) seg.push(0.05, frame(100 + i)); // 13 silent frames: 416 ms
    expect(seg.endEarly(400, speechEnd - FRAME_MS)).toEqual([]); // the caller saw another utterance state
    const [end] = seg.endEarly(400, speechEnd);
    if (end?.type !== 'speech_end') throw new Error('no speech_end');
    expect(end.reason).toBe('early');
    expect(end.endMs).toBe(speechEnd);
    expect(end.speechMs).toBe(20 * FRAME_MS);
    expect(seg.current).toBe('idle');
    expect(seg.silenceMs).toBe(0);
    expect(seg.endEarly(0, speechEnd)).toEqual([]); // nothing open any more

    // Speech after the silence the caller saw: its end moved, so there is no early end.
    const again = new VadSegmenter();
    runProbs(again, seq([0.9, 20], [0.05, 14]));
    const seen = again.lastSpeechEndMs;
    runProbs(again, seq([0.9, 2], [0.05, 14]));
    expect(again.silenceMs).toBeGreaterThanOrEqual(400);
    expect(again.endEarly(400, seen)).toEqual([]);
    expect(again.current).toBe('speech');
  });

  it('reports a short burst as a misfire, not speech', () => {
    const seg = new VadSegmenter();
    const ev = runProbs(seg, seq([0.0, 10], [0.95, 4], [0.0, 30])); // 128 ms click
    expect(ev.map((e) => e.type)).toEqual(['misfire']);
    const m = ev[0];
    if (m.type !== 'misfire') throw new Error();
    expect(m.speechMs).toBe(4 * FRAME_MS);
    expect(m.startMs).toBe(10 * FRAME_MS);
    expect(m.endMs).toBe(14 * FRAME_MS);
  });

  it('hysteresis: values between thresholds neither start silence nor count as speech', () => {
    const seg = new VadSegmenter();
    // Speech, then 40 frames at 0.4 (between 0.35 and 0.5): still in speech; then silence ends it.
    const ev = runProbs(seg, seq([0.9, 10], [0.4, 40], [0.1, 20]));
    const end = ev.find((e) => e.type === 'speech_end');
    if (end?.type !== 'speech_end') throw new Error('no end');
    expect(end.frame).toBe(50 + 17);
    expect(end.endMs).toBe(10 * FRAME_MS);
    // A brief dip below the negative threshold inside speech does not end it.
    const seg2 = new VadSegmenter();
    const ev2 = runProbs(seg2, seq([0.9, 10], [0.1, 10], [0.9, 10], [0.1, 20]));
    expect(ev2.filter((e) => e.type === 'speech_end')).toHaveLength(1);
    expect(ev2.filter((e) => e.type === 'speech_start')).toHaveLength(1);
  });

  it('cuts at maxSpeechMs and starts a new utterance if speech continues', () => {
    const seg = new VadSegmenter({ maxSpeechMs: 1000 });
    const ev = runProbs(seg, seq([0.9, 80], [0.0, 20]));
    const ends = ev.filter((e) => e.type === 'speech_end');
    expect(ends.length).toBeGreaterThanOrEqual(2);
    const first = ends[0];
    if (first.type !== 'speech_end') throw new Error();
    expect(first.reason).toBe('max_speech');
    expect(first.frame).toBe(31); // 32 frames = 1024 ms ≥ 1000
    expect(first.speechMs).toBe(32 * FRAME_MS);
    expect(ends[ends.length - 1].type === 'speech_end' && ends[ends.length - 1]).toMatchObject({ reason: 'silence' });
    expect(ev.filter((e) => e.type === 'speech_start')).toHaveLength(ends.length);
  });

  it('flush closes an utterance in progress', () => {
    const seg = new VadSegmenter();
    runProbs(seg, seq([0.9, 20]));
    const ev = seg.flush();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'speech_end', reason: 'flush', startMs: 0, endMs: 20 * FRAME_MS });
  });
});

async function feed(vad: SileroVad, pcm: Int16Array): Promise<VadEvent[]> {
  const events: VadEvent[] = [];
  // Arbitrary, uneven chunk sizes.
  const sizes = [100, 320, 1000, 7, 4096, 640];
  let i = 0;
  for (let k = 0; i < pcm.length; k++) {
    const n = sizes[k % sizes.length];
    events.push(...(await vad.process(pcm.subarray(i, i + n))));
    i += n;
  }
  events.push(...(await vad.flush()));
  return events;
}

describe('SileroVad (real model)', () => {
  it('digital silence: no speech', async () => {
    const vad = await SileroVad.create();
    const ev = await feed(vad, new Int16Array(32000));
    expect(ev.filter((e) => e.type === 'speech_start')).toHaveLength(0);
    expect(vad.stats.frames).toBe(Math.floor(32000 / 512));
  });

  it('white noise at moderate level: no speech', async () => {
    const vad = await SileroVad.create();
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const noise = Int16Array.from({ length: 16000 * 3 }, () => Math.round(rnd() * 3000)); // uniform ±3000: RMS ≈ 1730, about -25 dBFS
    const ev = await feed(vad, noise);
    expect(ev.filter((e) => e.type === 'speech_start')).toHaveLength(0);
  });

  it('flite speech padded with 1 s of silence: exactly one utterance of about the right length', async () => {
    const clip = await fliteWav('The quick brown fox jumps over the lazy dog, and then it runs away.', 'rms');
    const speech = clip.sampleRate === 16000 ? clip.pcm : resampleLinear(clip.pcm, clip.sampleRate, 16000);
    // Speech extent of the clip itself: first/last sample above a small amplitude.
    let a = 0;
    let b = speech.length - 1;
    while (a < b && Math.abs(speech[a]) < 300) a++;
    while (b > a && Math.abs(speech[b]) < 300) b--;
    const clipSpeechMs = ((b - a) * 1000) / 16000;

    const pcm = new Int16Array(speech.length + 32000);
    pcm.set(speech, 16000);
    const vad = await SileroVad.create();
    const ev = await feed(vad, pcm);
    const starts = ev.filter((e) => e.type === 'speech_start');
    const ends = ev.filter((e) => e.type === 'speech_end');
    expect(starts).toHaveLength(1);
    expect(ends).toHaveLength(1);
    const end = ends[0];
    if (end.type !== 'speech_end') throw new Error();
    expect(end.reason).toBe('silence');
    expect(end.speechMs).toBeGreaterThan(clipSpeechMs * 0.6);
    expect(end.speechMs).toBeLessThan(clipSpeechMs * 1.4);
    expect(end.startMs).toBeGreaterThan(1000 - 300);
    // Utterance audio includes the 300 ms pre-pad.
    expect(end.audio.length).toBeGreaterThanOrEqual(((end.speechMs + 300) * 16000) / 1000);

    const perFrame = vad.stats.inferenceMs / vad.stats.frames;
    console.log(
      `silero v5: ${vad.stats.frames} frames, ${perFrame.toFixed(3)} ms/frame; clip speech ${clipSpeechMs.toFixed(0)} ms, ` +
        `detected ${end.startMs}-${end.endMs} ms (${end.speechMs} ms)`,
    );
  });
});

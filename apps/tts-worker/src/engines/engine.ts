import type { TtsEngineInfo, Voice } from '@chorus/contracts';

/** What an engine needs of a voice: the row of the voices table. */
export type VoiceSpec = Pick<Voice, 'id' | 'name' | 'engine' | 'params'>;

export interface SynthesisRequest {
  /** Text already cleaned for speech (speech-text.ts), non-empty. */
  text: string;
  voice: VoiceSpec;
  /** Aborted when the turn is interrupted or the worker stops: stop work, end the iterator. */
  signal?: AbortSignal;
}

/**
 * One interface for every TTS engine: text in, PCM16 mono out at `sampleRate(voice)`.
 * Chunks may have any length; the worker re-chunks them for the wire. CPU-bound engines must not
 * block the caller's event loop (worker threads or child processes).
 */
export interface TtsEngine {
  readonly name: string;
  /** Output rate for this voice, known before synthesis so `audio_stream_start` can announce it. */
  sampleRate(voice: VoiceSpec): number;
  /** Throws TtsError('voice_invalid') when the voice's params cannot work with this engine. */
  validate(voice: VoiceSpec): void;
  synthesize(request: SynthesisRequest): AsyncIterable<Int16Array>;
  close(): Promise<void>;
}

/** An entry of the engine table: how to create the engine, and how to describe it without creating it. */
export interface TtsEngineKind {
  create(options: TtsEngineOptions): TtsEngine;
  /**
   * What the engine offers — its built-in voices and the params a voice may set — and whether it can speak
   * here (else why not), for clients that build voice forms (`get_tts_engines`). Creates nothing (no
   * threads, no WebAssembly, no model), so a worker describes every engine yet starts only those it uses.
   */
  describe(options: TtsEngineOptions): Promise<EngineInfo>;
}

/** An engine's self-description; `name` is filled in by the engine set. */
export type EngineInfo = Omit<TtsEngineInfo, 'name'>;

export type TtsErrorCode = 'voice_invalid' | 'engine_failed' | 'engine_unavailable';

/** A classified TTS failure; `message` names the voice and is written for the person reading the error. */
export class TtsError extends Error {
  override name = 'TtsError';
  constructor(
    readonly code: TtsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Settings shared by all engine factories (from the tts-worker's env; see config.ts). */
export interface TtsEngineOptions {
  /** Worker threads for CPU-bound engines. Default 1. */
  threads: number;
  /** onnx: path of the Kokoro-style model (.onnx). Unset → the onnx engine reports engine_unavailable. */
  onnxModelPath?: string;
  /** onnx: directory of voice style files (`<name>.bin`, float32 [N, 1, 256]). */
  onnxVoicesDir?: string;
  /** onnx: execution providers wanted, in order. Default ['cuda', 'cpu']; falls back to CPU. */
  onnxProviders: string[];
  /** openai: base URL of an OpenAI-compatible /v1/audio/speech endpoint. */
  openaiBaseUrl?: string;
  openaiApiKey?: string;
  /** openai: default model when the voice's params name none. */
  openaiModel: string;
  /** Log sink for engine start-up facts (e.g. the chosen execution provider). */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

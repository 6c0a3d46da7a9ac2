/**
 * Speech-to-text engine interface. An engine transcribes one utterance at a time: the VAD upstream cuts
 * utterances before the engine sees them.
 */
export interface SttTranscribeOptions {
  /** Aborting rejects the call with `signal.reason` and stops any work (processes, requests) it started. */
  signal?: AbortSignal;
  /** Extra words (e.g. character names) the engine should be able to recognise for this call. */
  vocabulary?: string[];
}

/** Options of an incremental recognition. */
export interface SttStreamOptions extends SttTranscribeOptions {
  /** Text recognised so far (`stable`: it will not change any more), as the engine finds it. */
  onPartial?: (text: string, stable: boolean) => void;
}

/** One utterance recognised while it is spoken: audio is written as it arrives. */
export interface SttStream {
  write(pcm: Int16Array): void;
  /** No more audio: resolves with the final text ('' when nothing was recognised). */
  finish(): Promise<string>;
  /** Drops the utterance and whatever the engine was doing for it. */
  cancel(): void;
}

export interface SttEngine {
  readonly name: string;
  /** Input sample rate the engine wants (mono s16le PCM). */
  readonly sampleRate: number;
  /** Transcribes one utterance; resolves with '' when nothing was recognised. */
  transcribe(pcm: Int16Array, opts?: SttTranscribeOptions): Promise<string>;
  /** Optional incremental recognition, so the final text is ready soon after the speech ends. */
  stream?(opts?: SttStreamOptions): SttStream;
  /** Releases processes and temporary files. Idempotent. */
  close(): Promise<void>;
}

export type SttErrorCode = 'engine_unavailable' | 'engine_failed';

export class SttError extends Error {
  readonly code: SttErrorCode;
  constructor(code: SttErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SttError';
    this.code = code;
  }
}

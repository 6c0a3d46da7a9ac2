import { PcmChunker, StreamingResampler } from '@chorus/audio';
import { nowMs, type ErrorCode } from '@chorus/contracts';
import type { Logger, MetricsBus } from '@chorus/runtime';
import type { AudioOut } from './audio-out.js';
import { TtsError, type EngineSet, type TtsEngine, type VoiceSpec } from './engines/index.js';

export interface SynthesizeDeps {
  metrics: MetricsBus;
  o: {
    /** Longest chunk, and the first chunk of each sentence (ms). */
    chunkMs: number;
    firstChunkMs: number;
  };
}

export interface SentenceJob {
  out: AudioOut;
  engine: TtsEngine;
  voice: VoiceSpec;
  rate: number;
  /** Cleaned for speech. */
  text: string;
  /** As the character wrote it (travels with the first chunk, for "what was heard"). */
  written: string;
  seq: number;
  signal: AbortSignal;
  /** `ts` of the entry that asked for it (for the first-audio metric). */
  queuedAt: number;
  log: Logger;
}

/** The error code of a voice its engine refuses (`validate`): bad params, or an engine that cannot run here. */
export function voiceErrorCode(err: unknown): ErrorCode {
  return err instanceof TtsError && err.code !== 'voice_invalid' ? 'tts_unavailable' : 'tts_voice_invalid';
}

/** The voice's engine when it exists here and accepts the voice; otherwise undefined, having said why on `out`. */
export function usableEngine(engines: EngineSet, voice: VoiceSpec, out: AudioOut): TtsEngine | undefined {
  try {
    return engines.forVoice(voice);
  } catch (err) {
    out.error(voiceErrorCode(err), String((err as Error)?.message ?? err));
    return undefined;
  }
}

/** Synthesizes one sentence as chunks of its audio stream (resampled, re-chunked); false when it produced no audio. */
export async function speakSentence(deps: SynthesizeDeps, s: SentenceJob): Promise<boolean> {
  const native = s.engine.sampleRate(s.voice);
  const resampler = native === s.rate ? null : new StreamingResampler(native, s.rate);
  const chunker = new PcmChunker(Math.round((s.rate * deps.o.chunkMs) / 1000), {
    firstChunkSamples: Math.round((s.rate * Math.min(deps.o.firstChunkMs, deps.o.chunkMs)) / 1000),
  });
  let chunk = 0;
  let samples = 0;
  const started = nowMs();
  const emit = (pieces: Iterable<Int16Array>) => {
    for (const piece of pieces) {
      if (chunk === 0) deps.metrics.emit({ kind: 'tts_first_audio', engine: s.engine.name, latencyMs: nowMs() - s.queuedAt });
      s.out.chunk(s.seq, chunk, s.rate, piece, chunk === 0 ? s.written : undefined);
      chunk++;
      samples += piece.length;
    }
  };
  try {
    for await (const pcm of s.engine.synthesize({ text: s.text, voice: s.voice, signal: s.signal })) {
      if (s.signal.aborted) break;
      emit(chunker.push(resampler ? resampler.push(pcm) : pcm));
    }
    if (s.signal.aborted) return chunk > 0;
    if (resampler) emit(chunker.push(resampler.flush()));
    const rest = chunker.flush();
    if (rest) emit([rest]);
  } catch (err) {
    if (s.signal.aborted) return chunk > 0;
    const message = err instanceof TtsError ? err.message : `Voice "${s.voice.name}" failed to speak a sentence: ${String((err as Error)?.message ?? err)}`;
    s.log.warn({ err, voice: s.voice.id }, 'synthesis failed');
    s.out.error(err instanceof TtsError && err.code === 'engine_unavailable' ? 'tts_unavailable' : 'tts_failed', message);
  }
  await s.out.flush();
  if (chunk > 0) {
    deps.metrics.emit({ kind: 'tts_sentence', engine: s.engine.name, audioMs: (samples / s.rate) * 1000, synthMs: nowMs() - started });
  }
  return chunk > 0;
}

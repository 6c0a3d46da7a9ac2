import { STREAMS, type PreviewEntry } from '@chorus/contracts';
import { CancelWatch, lastId, linkedSignal, type EntryMeta, type Logger } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { AudioOut } from './audio-out.js';
import type { EngineSet } from './engines/index.js';
import { toSpeechText } from './speech-text.js';
import { speakSentence, usableEngine, type SynthesizeDeps } from './synthesize.js';

/** A preview is played once, right away: its audio need not outlive a couple of minutes. */
const PREVIEW_AUDIO_TTL_SEC = 120;
/** Above the longest preview (300 characters at the slowest flite stretch ≈ 100 s) in 200 ms chunks. */
const PREVIEW_AUDIO_MAXLEN = 1000;
/** A preview still synthesizing after this (a hung endpoint) is ended with an error. */
const PREVIEW_MAX_MS = 60_000;

export interface PreviewDeps extends SynthesizeDeps {
  redis: Redis;
  engines: EngineSet;
  /** Also follows the cancels of the asking socket's previews (`previewctl:{session}`). */
  cancels: CancelWatch;
  logger: Logger;
  o: SynthesizeDeps['o'] & {
    /** Output rate; 0 = the engine's own rate. */
    sampleRate: number;
  };
}

/**
 * Speaks one voice preview into `previewaudio:{session}:<preview>`, which the edge holding the asking
 * socket relays to it alone: the voice as given (stored or unsaved), the text cleaned for speech, then
 * the end marker — carrying the failure when there is one (a voice the engine refuses, an engine that
 * cannot run here). A newer preview of the same socket cancels it.
 */
export async function speakPreview(deps: PreviewDeps, job: PreviewEntry, meta: EntryMeta): Promise<void> {
  const out = new AudioOut(deps.redis, STREAMS.previewAudio(job.session_id, job.preview_id), { preview_id: job.preview_id }, {
    audioTtlSec: PREVIEW_AUDIO_TTL_SEC,
    audioMaxLen: PREVIEW_AUDIO_MAXLEN,
  });
  const log = deps.logger.child({ preview_id: job.preview_id });
  const watch = deps.cancels.watch(job.session_id, meta.id, STREAMS.previewControl);
  const timeout = AbortSignal.timeout(PREVIEW_MAX_MS);
  const linked = linkedSignal(watch.signal, meta.signal, timeout);
  const signal = linked.signal;
  try {
    // A cancel the tail delivered before this watch began is not delivered again: ask Redis. Nobody
    // reads a cancelled preview, so it ends without writing anything.
    if (CancelWatch.cancels(await lastId(deps.redis, STREAMS.previewControl(job.session_id)), meta.id)) return;
    const { voice } = job;
    const engine = usableEngine(deps.engines, voice, out);
    const rate = deps.o.sampleRate || (engine ? engine.sampleRate(voice) : 16000);
    const text = toSpeechText(job.text);
    let spoken = false;
    if (engine && !text) {
      out.error('invalid_message', 'The preview text has nothing to say once cleaned for speech (emoji, markup and symbols are not read): write a few words.');
    } else if (engine) {
      spoken = await speakSentence(deps, { out, engine, voice, rate, text, written: job.text, seq: 0, signal, queuedAt: job.ts, log });
      if (timeout.aborted) out.error('tts_failed', `Voice "${voice.name}" took over ${PREVIEW_MAX_MS / 1000} s to speak the preview; try a shorter text, or check its engine.`);
    }
    // Stopping: no end marker; the entry stays pending and another worker speaks the preview again.
    if (meta.signal.aborted) throw new Error('worker stopping');
    out.end(spoken ? 1 : 0, rate);
    await out.flush();
  } finally {
    linked.dispose();
    watch.dispose();
  }
}


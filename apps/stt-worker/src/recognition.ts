import { linkedSignal } from '@chorus/runtime';
import type { SttEngine, SttStream } from './engines/engine.js';

export interface RecognitionOptions {
  vocabulary: string[];
  /** Engines without `stream`: re-transcribe the audio so far this often for partials (ms; 0 = off). */
  partialMs: number;
  signal: AbortSignal;
  /** Text so far; `stable` when it will not change any more. */
  onPartial: (text: string, stable: boolean) => void;
}

/**
 * Recognition of one utterance while it is spoken: incremental when the engine can (the final text is
 * ready soon after the speech ends), else the audio is collected and, for live partials, re-transcribed
 * every `partialMs` — one partial at a time, so a slow engine only gets fewer partials.
 */
export function startRecognition(engine: SttEngine, o: RecognitionOptions): SttStream {
  if (engine.stream) return engine.stream({ vocabulary: o.vocabulary, signal: o.signal, onPartial: o.onPartial });
  const chunks: Int16Array[] = [];
  let samples = 0;
  let partialAt = 0;
  let partial: AbortController | undefined;
  let done = false;
  const every = (o.partialMs * engine.sampleRate) / 1000;
  const all = () => {
    const out = new Int16Array(samples);
    let at = 0;
    for (const c of chunks) (out.set(c, at), (at += c.length));
    return out;
  };
  return {
    write(pcm) {
      if (done) return;
      chunks.push(pcm);
      samples += pcm.length;
      if (!every || partial || samples - partialAt < every) return;
      partialAt = samples;
      const ac = (partial = new AbortController());
      // Not AbortSignal.any: Node 20 keeps an entry per composite on the session's (long-lived) signal.
      const linked = linkedSignal(ac.signal, o.signal);
      engine
        .transcribe(all(), { vocabulary: o.vocabulary, signal: linked.signal })
        .then((text) => !done && text && o.onPartial(text, false))
        .catch(() => undefined) // a failed partial only means one update fewer
        .finally(() => {
          linked.dispose();
          if (partial === ac) partial = undefined;
        });
    },
    async finish() {
      done = true;
      partial?.abort();
      return engine.transcribe(all(), { vocabulary: o.vocabulary, signal: o.signal });
    },
    cancel() {
      done = true;
      partial?.abort();
    },
  };
}

/**
 * Pure voice-activity state machine: consumes one speech probability per frame (plus that frame's PCM) and
 * turns them into utterance events. No model, no I/O — testable with synthetic probability sequences.
 *
 * States: `idle` → (p ≥ positiveThreshold) → `pending` → (minSpeechMs of positive frames) → `speech`
 *         → (endSilenceMs of silence, or maxSpeechMs) → `idle`.
 * A `pending` burst that falls silent for endSilenceMs before reaching minSpeechMs is a `misfire`.
 *
 * Hysteresis (as in Silero's reference `get_speech_timestamps`): a frame with p ≥ positiveThreshold is speech
 * and resets the silence timer; p < negativeThreshold starts (or continues) the silence timer; a frame in
 * between continues a silence timer that is already running, and otherwise changes nothing.
 */

export interface VadSegmenterOptions {
  /** Probability at or above which a frame counts as speech. Default 0.5. */
  positiveThreshold: number;
  /** Probability below which a frame counts as silence. Default 0.35. */
  negativeThreshold: number;
  /** Positive-frame time needed before `speech_start`; shorter bursts (clicks, coughs) are `misfire`s. Default 250. */
  minSpeechMs: number;
  /** Silence after speech that ends the utterance (end of turn). Default 550. */
  endSilenceMs: number;
  /** Audio kept from before the first speech frame and prepended to the utterance. Default 300. */
  preSpeechPadMs: number;
  /**
   * Utterances are cut (`speech_end` with reason `max_speech`) when the span from the first to the latest speech
   * frame reaches this (pre-pad and a trailing silence tail not counted). Default 30000.
   */
  maxSpeechMs: number;
  /** Sample rate of the frames, used to convert sample counts to ms. Default 16000. */
  sampleRate: number;
}

export const DEFAULT_VAD_SEGMENTER_OPTIONS: Readonly<VadSegmenterOptions> = Object.freeze({
  positiveThreshold: 0.5,
  negativeThreshold: 0.35,
  minSpeechMs: 250,
  endSilenceMs: 550,
  preSpeechPadMs: 300,
  maxSpeechMs: 30_000,
  sampleRate: 16_000,
});

/** Times are stream positions in ms (samples fed to the segmenter since creation/reset). */
export type VadEvent =
  | {
      type: 'speech_start';
      /** Start of the first speech frame. */
      startMs: number;
      /** Pre-speech pad plus every frame since the first speech frame, up to and including this one. */
      audio: Int16Array;
    }
  | {
      /** One frame while in speech (after `speech_start`), trailing silence frames included. */
      type: 'speech_audio';
      audio: Int16Array;
    }
  | {
      type: 'speech_end';
      /** `early`: ended by `endEarly()` (the recognizer had fixed the text and the user had been quiet a while). */
      reason: EndReason;
      startMs: number;
      /** End of the last speech frame (trailing silence excluded). */
      endMs: number;
      /** endMs - startMs. */
      speechMs: number;
      /**
       * The whole utterance: pre-pad + speech + the trailing silence frames that were emitted as speech_audio.
       * Equals `speech_start.audio` followed by every `speech_audio` frame.
       */
      audio: Int16Array;
    }
  | {
      type: 'misfire';
      startMs: number;
      endMs: number;
      /** Positive-frame time of the burst (below minSpeechMs). */
      speechMs: number;
    };

type State = 'idle' | 'pending' | 'speech';
type EndReason = 'silence' | 'max_speech' | 'flush' | 'early';

function concat(chunks: readonly Int16Array[]): Int16Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Int16Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

export class VadSegmenter {
  readonly options: Readonly<VadSegmenterOptions>;
  private state: State = 'idle';
  private samples = 0; // stream position (samples) at the start of the next frame
  private pad: Int16Array[] = []; // recent idle frames, trimmed to ≥ preSpeechPad samples
  private padSamples = 0;
  private utterance: Int16Array[] = []; // pre-pad + frames since the first speech frame
  private startSample = 0;
  private lastSpeechEndSample = 0;
  private positiveSamples = 0;
  private silenceSamples = 0;

  constructor(options: Partial<VadSegmenterOptions> = {}) {
    this.options = Object.freeze({ ...DEFAULT_VAD_SEGMENTER_OPTIONS, ...options });
    if (this.options.negativeThreshold > this.options.positiveThreshold)
      throw new Error('VadSegmenter: negativeThreshold must be <= positiveThreshold');
  }

  /** Current state, for diagnostics. */
  get current(): State {
    return this.state;
  }

  /** Silence heard since the last speech frame of the utterance in progress (0 outside speech). */
  get silenceMs(): number {
    return this.state === 'speech' ? this.ms(this.silenceSamples) : 0;
  }

  /** End of the last speech frame of the utterance in progress (stream position, ms). */
  get lastSpeechEndMs(): number {
    return this.ms(this.lastSpeechEndSample);
  }

  /**
   * Ends the utterance before `endSilenceMs` (reason `early`), but only if it is still the same utterance
   * state the caller saw: in speech, no speech frame since `speechEndMs`, and at least `minSilenceMs` of
   * silence heard. Otherwise nothing happens (the user went on talking).
   */
  endEarly(minSilenceMs: number, speechEndMs: number): VadEvent[] {
    if (this.state !== 'speech' || this.silenceMs < minSilenceMs || this.lastSpeechEndMs !== speechEndMs) return [];
    return [this.end('early')];
  }

  private ms(samples: number): number {
    return (samples * 1000) / this.options.sampleRate;
  }

  private samplesFor(ms: number): number {
    return Math.round((ms * this.options.sampleRate) / 1000);
  }

  private pushPad(frame: Int16Array): void {
    const want = this.samplesFor(this.options.preSpeechPadMs);
    if (want <= 0) return;
    this.pad.push(frame);
    this.padSamples += frame.length;
    while (this.pad.length > 0 && this.padSamples - this.pad[0].length >= want) this.padSamples -= this.pad.shift()!.length;
  }

  private takePad(): Int16Array {
    const want = this.samplesFor(this.options.preSpeechPadMs);
    const all = concat(this.pad);
    this.pad = [];
    this.padSamples = 0;
    return all.length > want ? all.slice(all.length - want) : all;
  }

  /** Feed one frame and its speech probability; returns the events it caused (usually none). */
  push(probability: number, frame: Int16Array): VadEvent[] {
    const o = this.options;
    const frameStart = this.samples;
    this.samples += frame.length;
    const events: VadEvent[] = [];
    const positive = probability >= o.positiveThreshold;
    const negative = probability < o.negativeThreshold;

    if (this.state === 'idle') {
      if (!positive) {
        this.pushPad(frame);
        return events;
      }
      this.state = 'pending';
      this.utterance = [this.takePad(), frame];
      this.startSample = frameStart;
      this.lastSpeechEndSample = this.samples;
      this.positiveSamples = frame.length;
      this.silenceSamples = 0;
    } else {
      this.utterance.push(frame);
      if (positive) {
        this.silenceSamples = 0;
        this.positiveSamples += frame.length;
        this.lastSpeechEndSample = this.samples;
      } else if (negative || this.silenceSamples > 0) {
        this.silenceSamples += frame.length;
      }
      if (this.state === 'speech') events.push({ type: 'speech_audio', audio: frame });
    }

    if (this.state === 'pending') {
      if (this.ms(this.positiveSamples) >= o.minSpeechMs) {
        this.state = 'speech';
        const audio = concat(this.utterance);
        this.utterance = [audio];
        events.push({ type: 'speech_start', startMs: this.ms(this.startSample), audio });
      } else if (this.ms(this.silenceSamples) >= o.endSilenceMs) {
        events.push({
          type: 'misfire',
          startMs: this.ms(this.startSample),
          endMs: this.ms(this.lastSpeechEndSample),
          speechMs: this.ms(this.positiveSamples),
        });
        // The burst's audio becomes ordinary pre-speech context again.
        const burst = this.utterance.slice(1);
        this.state = 'idle';
        this.utterance = [];
        for (const f of burst) this.pushPad(f);
        return events;
      }
    }

    if (this.state === 'speech') {
      if (this.ms(this.silenceSamples) >= o.endSilenceMs) events.push(this.end('silence'));
      else if (this.ms(this.lastSpeechEndSample - this.startSample) >= o.maxSpeechMs) events.push(this.end('max_speech'));
    }
    return events;
  }

  /**
   * End of stream: closes an utterance in progress (`speech_end` with reason `flush`) or reports a pending burst
   * as a misfire. The segmenter is then idle with an empty pre-pad.
   */
  flush(): VadEvent[] {
    const events: VadEvent[] = [];
    if (this.state === 'speech') events.push(this.end('flush'));
    else if (this.state === 'pending')
      events.push({
        type: 'misfire',
        startMs: this.ms(this.startSample),
        endMs: this.ms(this.lastSpeechEndSample),
        speechMs: this.ms(this.positiveSamples),
      });
    this.state = 'idle';
    this.utterance = [];
    this.pad = [];
    this.padSamples = 0;
    return events;
  }

  /** Forget everything, including the stream position. */
  reset(): void {
    this.flush();
    this.samples = 0;
  }

  private end(reason: EndReason): VadEvent {
    const endSample = this.lastSpeechEndSample;
    const event: VadEvent = {
      type: 'speech_end',
      reason,
      startMs: this.ms(this.startSample),
      endMs: this.ms(endSample),
      speechMs: this.ms(endSample - this.startSample),
      audio: concat(this.utterance),
    };
    this.state = 'idle';
    this.utterance = [];
    this.pad = [];
    this.padSamples = 0;
    return event;
  }
}

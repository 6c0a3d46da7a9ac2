import { encodeEntry, EVENTS_STREAM, nowMs, STREAMS, type AudioChunk, type AudioEntry, type ErrorCode, type EventEntry, type SpeakEntry } from '@chorus/contracts';
import { TickBatch } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { pcm16ToBase64 } from '@chorus/audio';

export interface AudioOutOptions {
  /** Seconds the audio stream stays readable after its last write (default 900). */
  audioTtlSec: number;
  /** Approximate entries kept per audio stream (default 20000, over an hour of 200 ms chunks). */
  audioMaxLen?: number;
}

/** Where the audio's errors go; without one, the first error rides on the end marker. */
export type ErrorSink = (batch: TickBatch, code: ErrorCode, message: string) => void;

/**
 * Writes one audio stream — PCM chunks, then the end marker — one socket write per loop turn. `header` says whose audio
 * it is and is stamped on every entry (a message's ids, or a preview's).
 */
export class AudioOut {
  private readonly writes: TickBatch;
  private readonly reported = new Set<string>();
  private failure: { code: ErrorCode; message: string } | undefined;

  constructor(
    redis: Redis,
    private readonly key: string,
    private readonly header: Record<string, string>,
    private readonly o: AudioOutOptions,
    private readonly sink?: ErrorSink,
  ) {
    this.writes = new TickBatch(redis);
  }

  /** A character message's audio (`audio:{c}:<message>`); its errors become `error` events of the conversation. */
  static forMessage(redis: Redis, job: SpeakEntry, o: AudioOutOptions): AudioOut {
    const { conversation_id, turn_id, message_id, character_id, character_name, turn_seq, session_id, request_id } = job;
    const header = { conversation_id, turn_id, message_id, character_id, character_name, turn_seq } satisfies Omit<AudioEntry, keyof AudioChunk>;
    return new AudioOut(redis, STREAMS.audio(conversation_id, message_id), header, o, (batch, code, message) => {
      const entry: EventEntry = { conversation_id, turn_id, message_id, turn_seq, session_id, request_id, ts: nowMs(), type: 'error', data: { code, message } };
      const key = STREAMS.events(conversation_id);
      batch.send('xadd', [key, 'MAXLEN', '~', EVENTS_STREAM.maxLen, '*', ...encodeEntry(entry)]);
      // XADD creates the stream when the conversation's keys have expired: it must not outlive them.
      batch.send('expire', [key, EVENTS_STREAM.ttlSec]);
    });
  }

  chunk(sentenceIndex: number, chunkIndex: number, sampleRate: number, pcm: Int16Array, text?: string): void {
    this.write({ sentence_index: sentenceIndex, chunk_index: chunkIndex, sample_rate: sampleRate, pcm: pcm16ToBase64(pcm), final: false, ...(text ? { text } : {}) });
  }

  /** The end marker: readers stop here. */
  end(sentenceIndex: number, sampleRate: number): void {
    const error = this.failure ? { error: this.failure } : {};
    this.write({ sentence_index: sentenceIndex, chunk_index: 0, sample_rate: sampleRate, pcm: '', final: true, ...error });
  }

  /** Reports a failure, once per message text. */
  error(code: ErrorCode, message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    if (this.sink) this.sink(this.writes, code, message);
    else this.failure ??= { code, message };
  }

  /** The stream's writes, for the caller's writes that go with them (e.g. progress). */
  get batch(): TickBatch {
    return this.writes;
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  private write(fields: Omit<AudioChunk, 'ts'>): void {
    const entry = { ...this.header, ts: nowMs(), ...fields };
    this.writes.send('xadd', [this.key, 'MAXLEN', '~', this.o.audioMaxLen ?? 20_000, '*', ...encodeEntry(entry)]);
    this.writes.send('expire', [this.key, this.o.audioTtlSec]);
  }
}

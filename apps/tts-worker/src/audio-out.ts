import { encodeEntry, nowMs, STREAMS, type AudioEntry, type ErrorCode, type EventEntry, type SpeakEntry } from '@chorus/contracts';
import { TickBatch } from '@chorus/runtime';
import type { ChainableCommander, Redis } from 'ioredis';
import { pcm16ToBase64 } from '@chorus/audio';

export interface AudioOutOptions {
  /** Seconds the audio stream stays readable after its last write (default 900). */
  audioTtlSec: number;
  /** Approximate entries kept per audio stream (default 20000, over an hour of 200 ms chunks). */
  audioMaxLen?: number;
}

/**
 * Writes one message's audio stream (`audio:{c}:<message>`) and its error events, batched per tick.
 */
export class AudioOut {
  private readonly writes: TickBatch;
  private readonly key: string;
  private readonly reported = new Set<string>();

  constructor(
    redis: Redis,
    private readonly job: SpeakEntry,
    private readonly o: AudioOutOptions,
  ) {
    this.writes = new TickBatch(redis);
    this.key = STREAMS.audio(job.conversation_id, job.message_id);
  }

  chunk(sentenceIndex: number, chunkIndex: number, sampleRate: number, pcm: Int16Array, text?: string): void {
    this.write({ sentence_index: sentenceIndex, chunk_index: chunkIndex, sample_rate: sampleRate, pcm: pcm16ToBase64(pcm), final: false, ...(text ? { text } : {}) });
  }

  /** The end-of-message marker: readers stop here. */
  end(sentenceIndex: number, sampleRate: number): void {
    this.write({ sentence_index: sentenceIndex, chunk_index: 0, sample_rate: sampleRate, pcm: '', final: true });
  }

  /** An `error` event for the conversation's sockets, once per message and message text. */
  error(code: ErrorCode, message: string): void {
    if (this.reported.has(message)) return;
    this.reported.add(message);
    const { conversation_id, turn_id, message_id, turn_seq } = this.job;
    const entry: EventEntry = { conversation_id, turn_id, message_id, turn_seq, ts: nowMs(), type: 'error', data: { code, message } };
    this.commands().xadd(STREAMS.events(conversation_id), 'MAXLEN', '~', 2000, '*', ...encodeEntry(entry));
  }

  /** The pipeline of the current tick (for writes of the caller, e.g. progress). */
  commands(): ChainableCommander {
    return this.writes.commands();
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  private write(fields: Pick<AudioEntry, 'sentence_index' | 'chunk_index' | 'sample_rate' | 'pcm' | 'final' | 'text'>): void {
    const { conversation_id, turn_id, message_id, character_id, character_name, turn_seq } = this.job;
    const entry: AudioEntry = { conversation_id, turn_id, message_id, character_id, character_name, turn_seq, ts: nowMs(), ...fields };
    this.commands()
      .xadd(this.key, 'MAXLEN', '~', this.o.audioMaxLen ?? 20_000, '*', ...encodeEntry(entry))
      .expire(this.key, this.o.audioTtlSec);
  }
}

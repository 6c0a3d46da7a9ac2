import { encodeEntry, nowMs, STREAMS, type EventEntry, type FanoutType, type SentenceEntry } from '@chorus/contracts';
import type { Redis } from 'ioredis';

export interface OutputLimits {
  /** Approximate entries kept per events stream (default 2000). */
  eventsMaxLen: number;
  /** Approximate entries kept per sentence stream (default 2000). */
  sentencesMaxLen: number;
  /** Seconds a conversation's streams live after their last message (default 3600). */
  ttlSec: number;
}

interface TurnBase {
  conversation_id: string;
  turn_id: string;
  turn_seq: string;
}

/**
 * Writes a turn's events (for the edges) and sentences (for the tts-workers). Writes are issued without
 * waiting — one connection keeps them in order — and `flush()` surfaces any failure.
 */
export class TurnOutput {
  private pending: Promise<unknown>[] = [];
  private readonly eventsKey: string;
  private readonly sentenceKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly base: TurnBase,
    private readonly limits: OutputLimits,
  ) {
    this.eventsKey = STREAMS.events(base.conversation_id);
    this.sentenceKey = STREAMS.sentence(base.conversation_id);
  }

  event(type: FanoutType, data: Record<string, unknown>, messageId?: string): void {
    const entry: EventEntry = { ...this.base, message_id: messageId, ts: nowMs(), type, data };
    this.pending.push(this.redis.xadd(this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(entry)));
  }

  sentence(entry: Omit<SentenceEntry, 'ts' | 'conversation_id' | 'turn_id' | 'turn_seq'>): void {
    const full: SentenceEntry = { ...this.base, ...entry, ts: nowMs() };
    this.pending.push(this.redis.xadd(this.sentenceKey, 'MAXLEN', '~', this.limits.sentencesMaxLen, '*', ...encodeEntry(full)));
  }

  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    pending.push(this.redis.expire(this.eventsKey, this.limits.ttlSec), this.redis.expire(this.sentenceKey, this.limits.ttlSec));
    await Promise.all(pending);
  }
}

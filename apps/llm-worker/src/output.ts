import { encodeEntry, nowMs, STREAMS, type ErrorCode, type EventEntry, type FanoutType, type SentenceEntry, type SpeakEntry } from '@chorus/contracts';
import { TickBatch } from '@chorus/runtime';
import type { Redis } from 'ioredis';

export interface OutputLimits {
  /** Approximate entries kept per events stream (default 2000). */
  eventsMaxLen: number;
  /** Approximate entries kept per sentence stream (default 2000). */
  sentencesMaxLen: number;
  /** Seconds a conversation's streams live after their last message (default 3600). */
  ttlSec: number;
  /** Approximate entries kept in the shared `speak` stream (default 10000). */
  speakMaxLen: number;
  /** Longest reply in characters; the LLM stream is closed there (default 32000, LLM_MAX_REPLY_CHARS). */
  replyMaxChars: number;
}

interface TurnBase {
  conversation_id: string;
  turn_id: string;
  turn_seq: string;
}

/** Who sent the turn (TranscribeEntry): its socket gets the turn's events with the request's id. */
export type TurnSender = Pick<EventEntry, 'session_id' | 'request_id'>;

/** Writes a turn's events (for the edges) and sentences (for the tts-workers), one socket write per loop turn. */
export class TurnOutput {
  private readonly writes: TickBatch;
  private readonly eventsKey: string;
  private readonly sentenceKey: string;
  private readonly sender: TurnSender;

  constructor(
    redis: Redis,
    private readonly base: TurnBase,
    private readonly limits: OutputLimits,
    /** The transcribe entry's delivery count: a taken-over turn writes with a higher attempt. */
    private readonly attempt = 1,
    sender: TurnSender = {},
  ) {
    this.sender = { session_id: sender.session_id, request_id: sender.request_id };
    this.writes = new TickBatch(redis);
    this.eventsKey = STREAMS.events(base.conversation_id);
    this.sentenceKey = STREAMS.sentence(base.conversation_id);
  }

  /** `onlySender`: the event goes to the sender's socket alone (the refusal of a turn no other socket saw). */
  event(type: FanoutType, data: Record<string, unknown>, messageId?: string, onlySender = false): void {
    const entry: EventEntry = { ...this.base, ...this.sender, message_id: messageId, ts: nowMs(), type, data };
    if (onlySender && this.sender.session_id) entry.only_session = true;
    this.writes.send('xadd', [this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(entry)]);
  }

  sentence(entry: Omit<SentenceEntry, 'ts' | 'conversation_id' | 'turn_id' | 'turn_seq' | 'attempt'>): void {
    const full: SentenceEntry = { ...this.base, ...entry, attempt: this.attempt, ts: nowMs() };
    this.writes.send('xadd', [this.sentenceKey, 'MAXLEN', '~', this.limits.sentencesMaxLen, '*', ...encodeEntry(full)]);
  }

  /** Asks the tts-workers to speak a message whose sentences are about to follow. */
  speak(entry: Omit<SpeakEntry, 'ts' | 'conversation_id' | 'turn_id' | 'turn_seq' | 'attempt' | keyof TurnSender>): void {
    const full: SpeakEntry = { ...this.base, ...this.sender, ...entry, attempt: this.attempt, ts: nowMs() };
    this.writes.send('xadd', [STREAMS.speak, 'MAXLEN', '~', this.limits.speakMaxLen, '*', ...encodeEntry(full)]);
  }

  /** The turn's writes, for commands that must go out with them (in order); failures surface at `flush()`. */
  get batch(): TickBatch {
    return this.writes;
  }

  /**
   * The turn ends without a reply: an `error` saying why, then `turn_finished` (failed). `refused`: the turn was
   * refused as it arrived, so only its sender (still connected) learns why.
   */
  fail(message: string, code: ErrorCode = 'internal', refused = false): void {
    this.event('error', { code, message, request_type: 'user_message' }, undefined, refused);
    this.event('turn_finished', { turn_id: this.base.turn_id, status: 'failed' }, undefined, refused);
  }

  /** A write made elsewhere whose failure should surface at the next `flush()`. */
  track(write: Promise<unknown>): void {
    this.writes.track(write);
  }

  /** Sends what is queued now rather than with the rest of this loop turn's writes (a reply's first words). */
  sendNow(): void {
    this.writes.sendNow();
  }

  async flush(): Promise<void> {
    this.writes.send('expire', [this.eventsKey, this.limits.ttlSec]);
    this.writes.send('expire', [this.sentenceKey, this.limits.ttlSec]);
    await this.writes.flush();
  }
}

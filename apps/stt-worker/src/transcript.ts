import { encodeEntry, nowMs, STREAMS, type EventEntry, type ListenEntry, type ServerData, type TranscribeEntry } from '@chorus/contracts';
import type { Redis } from 'ioredis';

export interface TranscriptLimits {
  eventsMaxLen: number;
  transcribeMaxLen: number;
  /** Expiry of the conversation's event stream after its last write (s). */
  ttlSec: number;
}

type SttEventType = 'stt_update' | 'stt_stabilized' | 'stt_finished' | 'speech_started' | 'error';

/** Words two partial transcripts agree on from their start. */
export function commonPrefix(a: string, b: string): string {
  const x = a.split(/\s+/).filter(Boolean);
  const y = b.split(/\s+/).filter(Boolean);
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return x.slice(0, n).join(' ');
}

/**
 * What one listening session's transcription tells the conversation: live partials (`stt_update`,
 * `stt_stabilized`), the start of speech (for barge-in, internal), and the final text (`stt_finished`)
 * which becomes a voice turn on `transcribe`, exactly where typed text goes.
 */
export class Transcript {
  private previous = '';
  private stable = '';
  private readonly eventsKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly session: ListenEntry,
    private readonly limits: TranscriptLimits,
  ) {
    this.eventsKey = STREAMS.events(session.conversation_id);
  }

  /** A new utterance: partials start from nothing. */
  reset(): void {
    this.previous = '';
    this.stable = '';
  }

  speechStarted(turnId: string): Promise<void> {
    return this.emit(turnId, 'speech_started', {});
  }

  /** Partial text of the utterance; the stable prefix is what the engine fixed, or what two partials agree on. */
  async partial(turnId: string, text: string, stable: boolean): Promise<void> {
    if (text === this.previous) return;
    const fixed = stable ? text : commonPrefix(this.previous, text);
    this.previous = text;
    const writes = [this.emit(turnId, 'stt_update', { text })];
    if (fixed.length > this.stable.length) {
      this.stable = fixed;
      writes.push(this.emit(turnId, 'stt_stabilized', { text: fixed }));
    }
    await Promise.all(writes);
  }

  /**
   * The final text: `stt_finished`, then the user turn. Nothing recognised only clears the live partial.
   * `spokeAt` (performance.now() time the speech ended) lets the page show latency from the end of speech.
   */
  async finished(turnId: string, messageId: string, text: string, spokeAt?: number): Promise<string | null> {
    const clean = text.trim();
    if (!clean) {
      if (this.previous) await this.emit(turnId, 'stt_update', { text: '' });
      this.reset();
      return null;
    }
    this.reset();
    const turn: TranscribeEntry = {
      conversation_id: this.session.conversation_id,
      turn_id: turnId,
      message_id: messageId,
      source: 'voice',
      text: clean,
      user_name: this.session.user_name,
      session_id: this.session.session_id,
      ts: nowMs(),
    };
    const res = (await this.redis
      .pipeline()
      .xadd(this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(this.event(turnId, 'stt_finished', spokeAt === undefined ? { text: clean } : { text: clean, speech_end_ms: Math.round(performance.now() - spokeAt) })))
      .xadd(STREAMS.transcribe, 'MAXLEN', '~', this.limits.transcribeMaxLen, '*', ...encodeEntry(turn))
      .expire(this.eventsKey, this.limits.ttlSec)
      .exec()) as Array<[Error | null, string]>;
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
    return res[1]![1];
  }

  /**
   * The utterance could not be transcribed: its live partial is cleared and the user is told (`stt_failed`),
   * else their spoken turn would just vanish.
   */
  async failed(turnId: string, message: string): Promise<void> {
    const clear = this.previous !== '';
    this.reset();
    const p = this.redis.pipeline();
    if (clear) p.xadd(this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(this.event(turnId, 'stt_update', { text: '' })));
    const data = { code: 'stt_failed', message, request_type: 'start_listening' } satisfies ServerData<'error'>;
    p.xadd(this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(this.event(turnId, 'error', data)));
    const res = (await p.expire(this.eventsKey, this.limits.ttlSec).exec()) as Array<[Error | null, unknown]>;
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
  }

  private event(turnId: string, type: SttEventType, data: Record<string, unknown>): EventEntry {
    return { conversation_id: this.session.conversation_id, turn_id: turnId, session_id: this.session.session_id, ts: nowMs(), type, data };
  }

  private async emit(turnId: string, type: SttEventType, data: Record<string, unknown>): Promise<void> {
    await this.redis
      .pipeline()
      .xadd(this.eventsKey, 'MAXLEN', '~', this.limits.eventsMaxLen, '*', ...encodeEntry(this.event(turnId, type, data)))
      .expire(this.eventsKey, this.limits.ttlSec)
      .exec();
  }
}

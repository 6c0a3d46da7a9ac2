import { randomUUID } from 'node:crypto';
import {
  encodeEntry,
  nowMs,
  PREVIEW_CHARACTER_ID,
  STREAMS,
  type ErrorCode,
  type PreviewControlEntry,
  type PreviewEntry,
} from '@chorus/contracts';
import type { Logger } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { AudioRelay, type AudioRelayOptions } from './audio-relay.js';
import type { Session } from './session.js';

/** Preview requests kept in the `preview` stream (they are acknowledged within seconds). */
const PREVIEW_MAXLEN = 1000;
/** A socket's preview cancels matter only while its previews are synthesized. */
const CONTROL_MAXLEN = 10;
const CONTROL_TTL_SEC = 300;

type Fail = (code: ErrorCode, message: string) => void;

interface Current {
  messageId: string;
  /** Its `preview` entry id: cancels are cut against it. */
  seq: string;
  /** Answers the request that asked for it (request type and correlation id). */
  fail: Fail;
}

/**
 * Voice previews of this edge's sockets. A preview is an entry on `preview` (whichever tts-worker takes it
 * speaks it) whose audio, `previewaudio:{session}:<preview>`, goes to the asking socket only — through the
 * same relay as character speech, with one channel per socket, so nothing reaches the conversation. One
 * preview per socket: a new one cancels the previous, here and at the tts-worker.
 */
export class Previews {
  private readonly sockets = new Map<string, Session>();
  private readonly current = new Map<string, Current>();
  private readonly relay: AudioRelay;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    o: Omit<AudioRelayOptions, 'streamOf' | 'onFailed' | 'speakers'>,
  ) {
    this.relay = new AudioRelay(
      redis,
      logger,
      (sessionId) => {
        const s = this.sockets.get(sessionId);
        return s ? [s] : [];
      },
      (sessionId) => this.current.get(sessionId)?.seq,
      {
        ...o,
        // The handler has just seen a live tts-worker; a preview none speaks ends by the watchdog, with an error.
        speakers: () => Promise.resolve(true),
        streamOf: STREAMS.previewAudio,
        onFailed: (sessionId, m, error) => {
          const c = this.current.get(sessionId);
          if (c?.messageId === m.message_id) c.fail(error.code, error.message);
        },
      },
    );
  }

  /**
   * Asks the tts-workers for a preview, cancelling the socket's previous one. `accepted` runs once the
   * request is queued and before any of its audio is sent; `fail` answers a failure that comes later.
   */
  async start(session: Session, voice: PreviewEntry['voice'], text: string, accepted: (messageId: string) => void, fail: Fail, requestId?: string): Promise<void> {
    if (this.current.has(session.id)) await this.cancelAtWorkers(session.id);
    const entry: PreviewEntry = { preview_id: randomUUID(), session_id: session.id, voice, text, ts: nowMs() };
    const seq = (await this.redis.xadd(STREAMS.preview, 'MAXLEN', '~', PREVIEW_MAXLEN, '*', ...encodeEntry(entry)))!;
    if (session.closed) return this.cancelAtWorkers(session.id); // closed meanwhile: leave() has run
    this.sockets.set(session.id, session);
    this.current.set(session.id, { messageId: entry.preview_id, seq, fail });
    this.relay.cancel(session.id, seq); // the previous preview stops here (audio_stream_stop if it had started)
    accepted(entry.preview_id);
    this.relay.expect(session.id, [
      {
        message_id: entry.preview_id,
        turn_id: entry.preview_id,
        turn_seq: seq,
        character_id: PREVIEW_CHARACTER_ID,
        character_name: voice.name,
        echo: requestId === undefined ? undefined : { session_id: session.id, request_id: requestId },
      },
    ]);
  }

  /** The socket closed: stop relaying its preview and let the tts-workers stop speaking it. */
  leave(session: Session): void {
    if (!this.current.delete(session.id)) return;
    this.sockets.delete(session.id);
    this.relay.drop(session.id);
    this.cancelAtWorkers(session.id).catch((err) => this.logger.warn({ err, session: session.id }, 'could not cancel a preview'));
  }

  stop(): Promise<void> {
    return this.relay.stop();
  }

  /** Every preview of the socket queued before this entry is cancelled (its id is the cut). */
  private async cancelAtWorkers(sessionId: string): Promise<void> {
    const key = STREAMS.previewControl(sessionId);
    const entry: PreviewControlEntry = { session_id: sessionId, ts: nowMs() };
    await this.redis.multi().xadd(key, 'MAXLEN', '~', CONTROL_MAXLEN, '*', ...encodeEntry(entry)).expire(key, CONTROL_TTL_SEC).exec();
  }
}

import { randomUUID } from 'node:crypto';
import { encodeEntry, nowMs, STREAMS, type ListenEntry, type MicEntry } from '@chorus/contracts';
import type { Logger } from '@chorus/runtime';
import type { Redis } from 'ioredis';

export interface MicOptions {
  /** Frames kept per listening session; a worker further behind than this loses the oldest (default 3000 ≈ 60 s of 20 ms frames). */
  maxFrames: number;
  /** A session's frames expire this long after its last frame (s). */
  ttlSec: number;
}

/**
 * One listening session of a socket: its microphone frames appended, in order, to
 * `mic:{conversation}:<listen_id>`, announced once on `listen` so one stt-worker takes the session.
 */
export class MicInput {
  readonly listenId = randomUUID();
  readonly key: string;
  frames = 0;
  private expiredAt = 0;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    readonly conversationId: string,
    readonly sampleRate: number,
    private readonly o: MicOptions,
  ) {
    this.key = STREAMS.mic(conversationId, this.listenId);
  }

  async open(sessionId: string, userName: string, maxListenLen: number): Promise<void> {
    const entry: ListenEntry = {
      conversation_id: this.conversationId,
      session_id: sessionId,
      listen_id: this.listenId,
      sample_rate: this.sampleRate,
      user_name: userName,
      ts: nowMs(),
    };
    await this.redis.xadd(STREAMS.listen, 'MAXLEN', '~', maxListenLen, '*', ...encodeEntry(entry));
  }

  /** Appends one frame (PCM16 LE bytes). Not awaited: commands on one connection keep their order. */
  push(pcm: Buffer): void {
    if (this.closed) return;
    this.frames++;
    this.append({ pcm: pcm.toString('base64'), ts: nowMs() });
  }

  /** Ends the session: the worker finishes the utterance in progress and lets the session go. */
  close(): void {
    if (this.closed) return;
    this.append({ pcm: '', end: true, ts: nowMs() });
    this.closed = true;
  }

  private append(entry: MicEntry): void {
    const p = this.redis.pipeline().xadd(this.key, 'MAXLEN', '~', this.o.maxFrames, '*', ...encodeEntry(entry));
    // Refreshing the expiry on every frame would double the commands; a few times per TTL is enough.
    if (Date.now() - this.expiredAt > (this.o.ttlSec * 1000) / 4 || entry.end) {
      this.expiredAt = Date.now();
      p.expire(this.key, this.o.ttlSec);
    }
    p.exec().catch((err) => this.logger.warn({ err, key: this.key }, 'could not append a microphone frame'));
  }
}

import { AudioChunk, compareStreamIds, conversationOf, decodeEntry, STREAMS, type ErrorCode } from '@chorus/contracts';
import { StreamTail, type Logger, type RawEntry } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { sendToAll, type Echo } from './echo.js';
import type { Session } from './session.js';

export interface AudioRelayOptions {
  /** A message whose audio does not advance for this long is skipped (no tts-worker, lost job) (ms). */
  waitMs: number;
  /**
   * Reading pauses while a socket of the conversation has more than this unsent (bytes); a socket still above
   * half of it after `waitMs` is cut off, so that one stalled client does not silence the others.
   */
  highWaterBytes: number;
  /** Whether any tts-worker is alive: without one no audio is awaited. */
  speakers: () => Promise<boolean>;
  onPause?: () => void;
  /** A socket was cut off for falling behind (see `highWaterBytes`). */
  onTooSlow?: (session: Session) => void;
  /** The audio stream of a message of a channel (default `audio:{c}:<message>`); its hash tag is the channel. */
  streamOf?: (channel: string, messageId: string) => string;
  /**
   * A message's audio failed: its end marker carries an error, or (`timedOut`) no audio came for `waitMs`.
   * For character speech the tts-worker reports its own failures as conversation events; only a timeout
   * (no worker took the message, or it died on it) is the edge's to report.
   */
  onFailed?: (channel: string, message: Expected, error: { code: ErrorCode; message: string }, timedOut: boolean) => void;
}

/** A message whose audio is awaited; `turn_seq` orders it against cancels. */
export interface Expected {
  message_id: string;
  turn_id: string;
  turn_seq: string;
  character_id: string;
  character_name: string;
  /** The request that caused it: its socket gets the audio messages with the request's `id`. */
  echo?: Echo;
}

/**
 * An awaited message, whether the LLM has begun its text (its tts-worker job exists only from then), and how
 * much of its audio the sockets already have (a resumed message: `skipMs` of it is not sent again).
 */
export type Awaited = Expected & { textStarted?: boolean; skipMs?: number };

/** A message being relayed, and what was sent of it (for "what was heard" after an interrupt). */
type Relayed = Awaited & {
  key: string;
  /** Stream id of the last entry handled. */
  lastId: string;
  ended: boolean;
  /** Last (sentence, chunk) sent: chunks repeated after a tts-worker crash are skipped. */
  sentence: number;
  chunk: number;
  /** Sentences as written, with where their audio starts (ms into the message). */
  timeline: Array<{ text: string; startMs: number }>;
  sentMs: number;
  activeAt: number;
  /** When its first chunk was sent (0: not yet): the browser plays from about then, in real time. */
  startedAt: number;
  sampleRate: number;
};

interface ConversationAudio {
  queue: Awaited[];
  playing: Relayed | null;
  /** Recently relayed messages by id (bounded), for interrupts that name one still playing in the browser. */
  recent: Map<string, Relayed>;
  paused: boolean;
}

/** What the user heard of a message: the reply as far as its audio had started playing. */
export type Heard = Expected & { content: string };

const RECENT = 20;
/**
 * A message whose text never started is skipped after this many `waitMs`, without a notice: its turn ended
 * unseen (the LLM's own failure was reported as the turn's error), and it must not hold up later speech.
 */
const UNSTARTED_WAITS = 10;
/** Messages waiting for their turn to play, per conversation; the oldest go first beyond this. */
const MAX_QUEUE = 100;

/**
 * Sends each conversation's speech to its sockets on this edge: message after message in the order of
 * the turn's plan (`turn_started`), each read from `audio:{c}:<message>` from its beginning — so a message
 * synthesized early simply waits in Redis, and the edge buffers nothing. A socket that does not keep up
 * pauses the reading instead of growing the edge's memory. Below, a "conversation" is any channel of
 * sockets with its own audio streams (`streamOf`): voice previews use one per socket.
 */
export class AudioRelay {
  private readonly conversations = new Map<string, ConversationAudio>();
  /** Since when each socket that is behind has been behind. */
  private readonly behindSince = new WeakMap<Session, number>();
  private readonly tail: StreamTail;
  private readonly timer: NodeJS.Timeout;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
    private readonly sessions: (conversationId: string) => Iterable<Session>,
    /** The conversation's interrupt cut: turns submitted before it are cancelled. */
    private readonly cutOf: (conversationId: string) => string | undefined,
    private readonly o: AudioRelayOptions,
  ) {
    this.tail = new StreamTail({ redis, logger, count: 50, onEntries: (s, e) => this.deliver(s, e) });
    this.tail.start();
    this.timer = setInterval(() => this.watchdog(), Math.min(1000, o.waitMs));
    this.timer.unref();
  }

  /**
   * A turn's messages that will have audio, in speaking order: from `turn_started`, or, for the first socket of
   * a conversation here, the speech already under way (`resumableSpeech`: a reconnect hears the rest of it).
   */
  expect(conversationId: string, messages: Awaited[]): void {
    if (!messages.length) return;
    // Calls resolve in call order, so turns keep their order.
    void this.o.speakers().then((alive) => {
      const cut = this.cutOf(conversationId);
      const live = messages.filter((m) => !cut || compareStreamIds(m.turn_seq, cut) >= 0);
      // Its sockets may have left meanwhile (drop() has run): nothing to keep for it.
      if (!alive || !live.length || isEmpty(this.sessions(conversationId))) return;
      const ca = this.conversation(conversationId);
      // Turns run one at a time: an earlier turn's messages that have not started by now never will.
      const seq = live[0]!.turn_seq;
      this.dropUnstarted(conversationId, ca, (m) => compareStreamIds(m.turn_seq, seq) < 0);
      this.enqueue(conversationId, ca, live);
    });
  }

  /** A socket joined a conversation whose speech is under way here: it gets the playing message from now on. */
  joined(conversationId: string, session: Session): void {
    const m = this.conversations.get(conversationId)?.playing;
    if (!m?.startedAt) return;
    const data = { character_id: m.character_id, character_name: m.character_name, message_id: m.message_id, sample_rate: m.sampleRate };
    session.send('audio_stream_start', data, m.echo?.session_id === session.id ? m.echo.request_id : undefined);
  }

  private enqueue(conversationId: string, ca: ConversationAudio, messages: Awaited[]): void {
    // A message learnt twice (a resume racing its turn_started) is played once.
    const known = (id: string) => ca.playing?.message_id === id || ca.recent.has(id) || ca.queue.some((q) => q.message_id === id);
    ca.queue.push(...messages.filter((m) => !known(m.message_id)));
    if (ca.queue.length > MAX_QUEUE) ca.queue.splice(0, ca.queue.length - MAX_QUEUE);
    if (!ca.playing) this.advance(conversationId, ca);
  }

  /** The `turn_seq` of a message whose speech is relayed here (playing, waiting, or recently played). */
  turnSeqOf(conversationId: string, messageId: string): string | undefined {
    const ca = this.conversations.get(conversationId);
    if (!ca) return undefined;
    if (ca.playing?.message_id === messageId) return ca.playing.turn_seq;
    return (ca.recent.get(messageId) ?? ca.queue.find((m) => m.message_id === messageId))?.turn_seq;
  }

  /**
   * The LLM started or went on with a message's text: its speech is on the way, so the wait for its audio
   * (`waitMs`) starts again now. A slow model's reply is not skipped while its text still streams.
   */
  textProgress(conversationId: string, messageId: string): void {
    const ca = this.conversations.get(conversationId);
    if (!ca) return;
    if (ca.playing?.message_id === messageId) {
      ca.playing.textStarted = true;
      ca.playing.activeAt = Date.now();
      return;
    }
    const queued = ca.queue.find((m) => m.message_id === messageId);
    if (queued) queued.textStarted = true;
  }

  /**
   * The turn is over (`turn_finished`, whatever its status): its messages whose text never started (the LLM
   * failed before them, or they were cut off) will have no audio, and later speech must not wait for them.
   */
  turnEnded(conversationId: string, turnId: string): void {
    const ca = this.conversations.get(conversationId);
    if (ca) this.dropUnstarted(conversationId, ca, (m) => m.turn_id === turnId);
  }

  /** Drops the messages of `ended` turns whose text never started: they will have no audio to wait for. */
  private dropUnstarted(conversationId: string, ca: ConversationAudio, ended: (m: Awaited) => boolean): void {
    ca.queue = ca.queue.filter((m) => m.textStarted || !ended(m));
    if (ca.playing && !ca.playing.textStarted && ended(ca.playing)) this.finish(conversationId, ca);
  }

  /** Turns submitted before `cut` are cancelled: their audio stops now and is not sent any more. */
  cancel(conversationId: string, cut: string): void {
    const ca = this.conversations.get(conversationId);
    if (!ca) return;
    ca.queue = ca.queue.filter((m) => compareStreamIds(m.turn_seq, cut) >= 0);
    if (ca.playing && compareStreamIds(ca.playing.turn_seq, cut) < 0) this.finish(conversationId, ca);
  }

  /**
   * What the user heard of a message after `audioEndMs` of it played: the sentences that had started.
   * Null when the message is unknown here or was heard to its end.
   */
  heard(conversationId: string, messageId: string | undefined, audioEndMs: number): Heard | null {
    const ca = this.conversations.get(conversationId);
    if (!ca) return null;
    const m = messageId ? (ca.playing?.message_id === messageId ? ca.playing : ca.recent.get(messageId)) : (ca.playing ?? [...ca.recent.values()].at(-1));
    if (!m || !m.startedAt) return null;
    if (m.ended && audioEndMs >= m.sentMs) return null;
    const content = m.timeline.filter((s) => s.startMs < audioEndMs).map((s) => s.text).join(' ');
    const { message_id, turn_id, turn_seq, character_id, character_name } = m;
    return { message_id, turn_id, turn_seq, character_id, character_name, content };
  }

  /** Whether speech of the conversation is playing, or due to play (a turn's messages still coming). */
  busy(conversationId: string): boolean {
    const ca = this.conversations.get(conversationId);
    if (!ca) return false;
    return Boolean(ca.playing || ca.queue.length || this.audible(ca));
  }

  /**
   * The message the browser is presumably playing now and how far into it (ms): playback starts when
   * the first chunk is sent and runs in real time, so it is the elapsed time, capped by the audio sent.
   */
  nowPlaying(conversationId: string): { message_id: string; audio_end_ms: number } | null {
    const ca = this.conversations.get(conversationId);
    if (!ca) return null;
    const m = ca.playing?.startedAt ? ca.playing : this.audible(ca);
    if (!m) return null;
    return { message_id: m.message_id, audio_end_ms: Math.round(Math.min(m.sentMs, Date.now() - m.startedAt)) };
  }

  /** The last relayed message whose audio is still playing in the browser, by the clock. */
  private audible(ca: ConversationAudio): Relayed | undefined {
    const last = [...ca.recent.values()].reverse().find((m) => m.startedAt);
    return last && last.startedAt + last.sentMs > Date.now() ? last : undefined;
  }

  /** No socket of the conversation is left on this edge. */
  drop(conversationId: string): void {
    const ca = this.conversations.get(conversationId);
    if (ca?.playing) this.tail.remove(ca.playing.key);
    this.conversations.delete(conversationId);
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.tail.stop();
  }

  private conversation(id: string): ConversationAudio {
    let ca = this.conversations.get(id);
    if (!ca) this.conversations.set(id, (ca = { queue: [], playing: null, recent: new Map(), paused: false }));
    return ca;
  }

  private advance(conversationId: string, ca: ConversationAudio): void {
    const next = ca.queue.shift();
    ca.playing = null;
    // A pause belongs to the message it stopped (its check ends with it); the next one checks anew.
    ca.paused = false;
    if (!next) return;
    const key = (this.o.streamOf ?? STREAMS.audio)(conversationId, next.message_id);
    ca.playing = { ...next, key, lastId: '0-0', ended: false, sentence: -1, chunk: -1, timeline: [], sentMs: 0, activeAt: Date.now(), startedAt: 0, sampleRate: 0 };
    ca.recent.set(next.message_id, ca.playing);
    if (ca.recent.size > RECENT) ca.recent.delete(ca.recent.keys().next().value!);
    void this.tail.add(key, '0-0');
  }

  /** Ends the current message: `audio_stream_stop` if it had started, then the next message. */
  private finish(conversationId: string, ca: ConversationAudio): void {
    const m = ca.playing;
    if (!m) return;
    this.tail.remove(m.key);
    if (m.startedAt) this.send(conversationId, m, 'audio_stream_stop', { character_id: m.character_id, character_name: m.character_name, message_id: m.message_id });
    this.advance(conversationId, ca);
  }

  private deliver(stream: string, entries: RawEntry[]): void {
    const conversationId = conversationOf(stream);
    const ca = this.conversations.get(conversationId);
    const m = ca?.playing;
    if (!ca || !m || m.key !== stream || ca.paused) return;
    for (const [id, fields] of entries) {
      if (this.congested(conversationId)) return this.pause(conversationId, ca, m);
      m.lastId = id;
      m.activeAt = Date.now();
      let e: AudioChunk;
      try {
        e = decodeEntry(AudioChunk, fields);
      } catch (err) {
        this.logger.warn({ err, stream, id }, 'skipping an invalid audio entry');
        continue;
      }
      if (e.final) {
        m.ended = true;
        this.finish(conversationId, ca);
        if (e.error) this.o.onFailed?.(conversationId, m, e.error, false);
        return;
      }
      if (e.sentence_index < m.sentence || (e.sentence_index === m.sentence && e.chunk_index <= m.chunk)) continue;
      const ref = { character_id: m.character_id, character_name: m.character_name, message_id: m.message_id };
      if (e.chunk_index === 0 && e.text) m.timeline.push({ text: e.text, startMs: m.sentMs });
      m.sentence = e.sentence_index;
      m.chunk = e.chunk_index;
      const pcm = Buffer.from(e.pcm, 'base64');
      const startMs = m.sentMs;
      m.sentMs += (pcm.length / 2 / e.sample_rate) * 1000;
      // The sockets have this chunk already (sent before they reconnected); half a millisecond covers rounding.
      if (m.skipMs && m.sentMs <= m.skipMs + 0.5) continue;
      if (!m.startedAt) {
        // A resumed message has been playing in the browser for the part it already had.
        m.startedAt = Date.now() - startMs;
        m.sampleRate = e.sample_rate;
        this.send(conversationId, m, 'audio_stream_start', { ...ref, sample_rate: e.sample_rate });
      }
      sendToAll(this.sessions(conversationId), 'audio_chunk', { ...ref, sentence_index: e.sentence_index, chunk_index: e.chunk_index }, m.echo, (s) => s.sendBinary(pcm));
    }
  }

  /** Whether a socket is behind. One that has caught up loses its clock (see `pause`): a later pause starts it anew. */
  private congested(conversationId: string): boolean {
    let behind = false;
    for (const s of this.sessions(conversationId)) {
      if (s.closed) continue;
      if (s.buffered > this.o.highWaterBytes) behind = true;
      else if (s.buffered <= this.o.highWaterBytes / 2) this.behindSince.delete(s);
    }
    return behind;
  }

  /**
   * Stops reading until every socket has drained below half the high-water mark, then reads on. A socket
   * still behind `waitMs` after it fell behind (across pauses: interrupts do not restart the clock) is cut
   * off (it may reconnect and resume); the others then go on.
   */
  private pause(conversationId: string, ca: ConversationAudio, m: Relayed): void {
    ca.paused = true;
    this.o.onPause?.();
    this.tail.remove(m.key);
    const check = setInterval(() => {
      if (this.conversations.get(conversationId) !== ca || ca.playing !== m) return clearInterval(check);
      let waiting = false;
      for (const s of this.sessions(conversationId)) {
        if (s.closed) continue;
        if (s.buffered <= this.o.highWaterBytes / 2) {
          this.behindSince.delete(s);
          continue;
        }
        let since = this.behindSince.get(s);
        if (since === undefined) this.behindSince.set(s, (since = Date.now()));
        if (Date.now() - since <= this.o.waitMs) {
          waiting = true;
          continue;
        }
        this.logger.warn({ conversation_id: conversationId, session: s.id, buffered: s.buffered }, 'cutting off a socket that stopped reading its audio');
        s.cutOff();
        this.o.onTooSlow?.(s);
      }
      if (waiting) return;
      clearInterval(check);
      ca.paused = false;
      m.activeAt = Date.now();
      void this.tail.add(m.key, m.lastId);
    }, 20);
  }

  private watchdog(): void {
    const now = Date.now();
    for (const [id, ca] of this.conversations) {
      const m = ca.playing;
      if (m && !m.textStarted && now - m.activeAt > this.o.waitMs * UNSTARTED_WAITS) {
        this.logger.warn({ conversation_id: id, message_id: m.message_id }, 'a message never started; skipping it');
        this.finish(id, ca);
      } else if (m && m.textStarted && !ca.paused && now - m.activeAt > this.o.waitMs) {
        this.logger.warn({ conversation_id: id, message_id: m.message_id }, 'no audio arrived for a message; skipping it');
        this.finish(id, ca);
        const message = `No audio arrived within ${Math.round(this.o.waitMs / 1000)} s (no tts-worker took the request, or it stalled); check the tts-workers and try again.`;
        this.o.onFailed?.(id, m, { code: 'tts_unavailable', message }, true);
      }
    }
  }

  private send(conversationId: string, m: Expected, type: string, data: Record<string, unknown>): void {
    sendToAll(this.sessions(conversationId), type, data, m.echo);
  }
}

const isEmpty = (items: Iterable<unknown>) => items[Symbol.iterator]().next().done === true;

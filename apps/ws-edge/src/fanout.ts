import { compareStreamIds, ControlEntry, conversationOf, cutOf, decodeEntry, EventEntry, nextStreamId, nowMs, STREAMS, type AudioResumeQuery, type FanoutType } from '@chorus/contracts';
import { lastId, StreamTail, type Logger, type MetricsBus, type RawEntry } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { AudioRelay, type AudioRelayOptions } from './audio-relay.js';
import { resumableSpeech, spoken } from './audio-resume.js';
import { latestTurn, replySoFar, type LatestTurn } from './catch-up.js';
import { echoOf, sendToAll } from './echo.js';
import type { Session } from './session.js';

/** Event types that stop once their turn is interrupted. */
const CANCELLABLE = new Set<FanoutType>(['text_chunk', 'audio_stream_start', 'audio_chunk']);

/** What the fanout leaves to the rest of the edge; each is called for sockets on this edge. */
export interface FanoutHooks {
  /** A listening session's user started talking (`speech_started`). */
  onSpeech?: (session: Session) => void;
  /** A conversation the socket shows was deleted (by a socket of this edge or another). */
  onDeleted?: (session: Session, conversationId: string) => void;
}

/**
 * Delivers each conversation's events to the sockets of this edge that show it. Every edge tails the
 * `events:{c}` and `control:{c}` streams of its own conversations, so events reach whichever edge holds
 * the socket. Interrupts and deletions (from this edge or another) drop the cancelled turns' remaining chunks.
 */
export class Fanout {
  private readonly subscribers = new Map<string, Set<Session>>();
  private readonly cancelBelow = new Map<string, string>();
  /** Per conversation: the last `events:{c}` entry delivered, and where its tail began (what a joining socket missed ends there). */
  private readonly delivered = new Map<string, string>();
  private readonly tailFrom = new Map<string, Promise<string>>();
  /** Per conversation: the latest turn seen starting, and whether it finished (where an interrupt cuts). */
  private readonly latestStarted = new Map<string, { seq: string; turnId: string; finished: boolean }>();
  /** Per conversation: the latest `transcribe` id a socket here submitted. */
  private readonly lastSubmitted = new Map<string, string>();
  private readonly tail: StreamTail;
  readonly audio: AudioRelay;

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly metrics: MetricsBus,
    audio: AudioRelayOptions,
    private readonly hooks: FanoutHooks = {},
  ) {
    this.tail = new StreamTail({ redis, logger, onEntries: (s, e) => this.deliver(s, e) });
    this.tail.start();
    this.audio = new AudioRelay(redis, logger, (c) => this.subscribers.get(c) ?? [], (c) => this.cancelBelow.get(c), {
      ...audio,
      onFailed: (c, m, error, timedOut) => {
        if (!timedOut) return;
        const data = { code: error.code, message: `${m.character_name}'s reply is shown as text only: ${error.message}` };
        sendToAll(this.subscribers.get(c) ?? [], 'error', data, m.echo);
      },
    });
  }

  /**
   * Starts sending the conversation's events to the socket. Returns the frames of the reply under way that the
   * socket missed (`replySoFar`): the caller sends them after telling the client which conversation it shows, and
   * holds what the socket is sent meanwhile (Session.hold). The first socket of a conversation on this edge also
   * gets the speech already under way (a reconnect, or another edge's socket that started the turn), from where
   * `audio` says the client was.
   */
  async join(session: Session, conversationId: string, audio?: AudioResumeQuery): Promise<string[]> {
    let set = this.subscribers.get(conversationId);
    // In the set before the await: another socket leaving meanwhile must not take the set away from this one.
    if (set) {
      set.add(session);
      // What the socket missed ends where the events it is sent from now on begin.
      const upTo = this.delivered.get(conversationId) ?? (await this.tailFrom.get(conversationId));
      this.audio.joined(conversationId, session);
      return upTo ? replySoFar(await this.latest(conversationId, upTo)) : [];
    }
    this.subscribers.set(conversationId, (set = new Set([session])));
    this.metrics.emit({ kind: 'conversations_followed', count: this.subscribers.size });
    const events = STREAMS.events(conversationId);
    // Events up to `upTo` are looked through for the turn under way, those after it are tailed: none is seen twice.
    const from = lastId(this.redis, events);
    this.tailFrom.set(conversationId, from);
    let upTo: string;
    try {
      const control = STREAMS.control(conversationId);
      const [events_, control_] = await Promise.all([from, lastId(this.redis, control)]);
      upTo = events_;
      // The control stream first: in a read that brings both, an interrupt is handled before the events after it
      // (a queued turn's, which the interrupt does not cut).
      await this.tail.add(control, control_);
      await this.tail.add(events, upTo);
    } catch (err) {
      this.leave(session, conversationId); // the next socket starts over
      throw err;
    }
    const latest = await this.latest(conversationId, upTo);
    try {
      this.audio.expect(conversationId, await resumableSpeech(this.redis, conversationId, latest, audio));
    } catch (err) {
      this.logger.warn({ err, conversation_id: conversationId }, 'could not look up the speech under way; it is not resumed');
    }
    return replySoFar(latest);
  }

  private started(conversationId: string, turnSeq: string, turnId: string, finished = false): void {
    const prev = this.latestStarted.get(conversationId);
    if (!prev || compareStreamIds(prev.seq, turnSeq) < 0) this.latestStarted.set(conversationId, { seq: turnSeq, turnId, finished });
  }

  /** The conversation's latest turn up to `upTo`; none when it cannot be read (the socket then shows what comes next). */
  private async latest(conversationId: string, upTo: string): Promise<LatestTurn | null> {
    try {
      const latest = await latestTurn(this.redis, conversationId, upTo);
      if (latest?.turn.turn_seq && this.subscribers.has(conversationId)) this.started(conversationId, latest.turn.turn_seq, latest.turn.turn_id, latest.finished);
      return latest;
    } catch (err) {
      this.logger.warn({ err, conversation_id: conversationId }, 'could not look up the turn under way');
      return null;
    }
  }

  leave(session: Session, conversationId: string): void {
    const set = this.subscribers.get(conversationId);
    if (!set?.delete(session) || set.size) return;
    this.subscribers.delete(conversationId);
    this.metrics.emit({ kind: 'conversations_followed', count: this.subscribers.size });
    this.cancelBelow.delete(conversationId);
    this.delivered.delete(conversationId);
    this.tailFrom.delete(conversationId);
    this.latestStarted.delete(conversationId);
    this.lastSubmitted.delete(conversationId);
    this.audio.drop(conversationId);
    this.tail.remove(STREAMS.events(conversationId));
    this.tail.remove(STREAMS.control(conversationId));
  }

  /**
   * Where an interrupt of the conversation cuts: just after the turn under way, or the turn of the message the
   * client names (whose speech it is playing), whichever is later; turns sent since still run. With neither (no
   * turn under way that this edge knows of): every turn so far, as a deletion does, so that Stop right after
   * sending stops that message's turn too.
   */
  interruptCut(conversationId: string, messageId?: string): string | undefined {
    const latest = this.latestStarted.get(conversationId);
    const seqs = [latest && !latest.finished ? latest.seq : undefined, messageId ? this.audio.turnSeqOf(conversationId, messageId) : undefined];
    const known = seqs.filter((x): x is string => !!x).sort(compareStreamIds);
    return known.length ? nextStreamId(known.at(-1)!) : undefined;
  }

  /** A socket here submitted a turn of the conversation (its `transcribe` id). */
  submitted(conversationId: string, seq: string): void {
    if (!this.subscribers.has(conversationId)) return;
    const prev = this.lastSubmitted.get(conversationId);
    if (!prev || compareStreamIds(prev, seq) < 0) this.lastSubmitted.set(conversationId, seq);
  }

  /**
   * Just after the latest turn a socket here submitted. A cut of every turn so far is at least this: `transcribe`
   * and `control:{c}` number their entries apart, so a message sent in the same millisecond as the interrupt can
   * have the very id of the interrupt's entry.
   */
  sentBefore(conversationId: string): string | undefined {
    const seq = this.lastSubmitted.get(conversationId);
    return seq ? nextStreamId(seq) : undefined;
  }

  /** Turns submitted before `streamId` are cancelled: their remaining chunks are not sent. */
  markCancelled(conversationId: string, streamId: string): void {
    if (!this.subscribers.has(conversationId)) return; // no socket here shows it (one that closed meanwhile)
    const prev = this.cancelBelow.get(conversationId);
    if (!prev || compareStreamIds(prev, streamId) < 0) this.cancelBelow.set(conversationId, streamId);
    this.audio.cancel(conversationId, streamId);
  }

  private deliver(stream: string, entries: RawEntry[]): void {
    const conversationId = conversationOf(stream);
    if (stream.startsWith('control:')) {
      for (const [id, fields] of entries) {
        const control = this.control(stream, id, fields);
        this.markCancelled(conversationId, control ? cutOf(id, control) : id);
        if (control?.type === 'interrupt') this.interruptedElsewhere(conversationId, control.session_id);
        if (control?.type !== 'deleted') continue;
        for (const s of [...(this.subscribers.get(conversationId) ?? [])]) this.hooks.onDeleted?.(s, conversationId);
      }
      return;
    }
    const sessions = this.subscribers.get(conversationId);
    if (!sessions) return;
    if (entries.length) this.delivered.set(conversationId, entries.at(-1)![0]);
    // Each socket gets the read's events in one write (a copy: the set may change while they are sent).
    const corked = [...sessions];
    for (const s of corked) s.cork();
    try {
      this.send(conversationId, stream, entries, sessions);
    } finally {
      for (const s of corked) s.uncork();
    }
  }

  /**
   * The other sockets of an interrupted conversation stop the speech they already have (the interrupting socket
   * was answered by its request, or by the barge-in).
   */
  private interruptedElsewhere(conversationId: string, by: string | undefined): void {
    const others = [...(this.subscribers.get(conversationId) ?? [])].filter((s) => s.id !== by);
    sendToAll(others, 'interrupt_ack', { conversation_id: conversationId, reason: 'elsewhere' });
  }

  /** An invalid control entry is still a cut (its id is all a cut needs); it just means nothing more. */
  private control(stream: string, id: string, fields: string[]): ControlEntry | undefined {
    try {
      return decodeEntry(ControlEntry, fields);
    } catch (err) {
      this.logger.warn({ err, stream, id }, 'invalid control entry; taken as a plain cut');
      return undefined;
    }
  }

  private send(conversationId: string, stream: string, entries: RawEntry[], sessions: Set<Session>): void {
    for (const [id, fields] of entries) {
      let e: EventEntry;
      try {
        e = decodeEntry(EventEntry, fields);
      } catch (err) {
        this.logger.warn({ err, stream, id }, 'skipping an invalid event entry');
        continue;
      }
      if (e.type === 'speech_started') {
        for (const s of sessions) if (s.id === e.session_id) this.hooks.onSpeech?.(s);
        continue;
      }
      const cut = this.cancelBelow.get(conversationId);
      const cancelled = cut !== undefined && e.turn_seq !== undefined && compareStreamIds(e.turn_seq, cut) < 0;
      if (cancelled && CANCELLABLE.has(e.type)) continue;
      if (e.type === 'turn_started' && e.turn_seq) {
        this.started(conversationId, e.turn_seq, e.turn_id);
        if (!cancelled) this.audio.expect(conversationId, spoken(e, e.turn_seq));
      } else if (e.type === 'text_chunk' && e.data.text && e.message_id) {
        // Its first words, not its start: a reasoning model may think for long before them, and speech waits for them.
        this.audio.textProgress(conversationId, e.message_id);
      } else if (e.type === 'turn_finished') {
        const latest = this.latestStarted.get(conversationId);
        if (latest?.turnId === e.turn_id) latest.finished = true;
        this.audio.turnEnded(conversationId, e.turn_id);
      }
      // A refusal goes to the socket whose turn it refuses only: the others never saw that turn.
      const to = e.only_session && e.session_id ? [...sessions].filter((s) => s.id === e.session_id) : sessions;
      sendToAll(to, e.type, e.data, echoOf(e));
      this.metrics.emit({ kind: 'event_fanned_out', type: e.type, lagMs: nowMs() - e.ts });
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.tail.stop(), this.audio.stop()]);
  }
}

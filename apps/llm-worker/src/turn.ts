import { randomUUID } from 'node:crypto';
import { nowMs, type Character, type ErrorCode, type HistoryItem, type Message, type ModelSettings, type TranscribeEntry } from '@chorus/contracts';
import { CancelWatch, linkedSignal, TickBatch, type EntryMeta, type Logger, type MetricsBus } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { LlmError, type LlmEngine } from './engines/index.js';
import { greet } from './greetings.js';
import { TurnOutput, type OutputLimits } from './output.js';
import type { Persister } from './persist.js';
import { buildMessages } from './prompt.js';
import { pickResponders } from './responders.js';
import { streamWithRetry, type RetryPolicy } from './retry.js';
import { cutAt, ReplyFilter } from './reply-filter.js';
import { SentenceSplitter } from './sentences.js';
import type { Acquired, TurnSequencer } from './sequencer.js';
import type { ConversationState, PlannedMessage, TurnStart } from './state.js';

export interface TurnDeps {
  redis: Redis;
  engine: LlmEngine;
  retry: RetryPolicy;
  sequencer: TurnSequencer;
  cancels: CancelWatch;
  state: ConversationState;
  persist: Persister;
  metrics: MetricsBus;
  logger: Logger;
  limits: OutputLimits;
  /** Turns older than this when they reach a worker are answered with an error instead (ms). */
  maxTurnAgeMs: number;
}

type MessageStatus = 'completed' | 'cancelled' | 'failed';

class Shutdown extends Error {}

/**
 * One user turn: wait for the conversation's earlier turns, record the user message, pick responders,
 * then let each speak in turn (each seeing the earlier replies), streaming text events and sentences.
 */
export async function handleTurn(deps: TurnDeps, entry: TranscribeEntry, meta: EntryMeta): Promise<void> {
  const { conversation_id: c, turn_id } = entry;
  const user: HistoryItem = { id: entry.message_id, role: 'user', name: entry.user_name, character_id: null, content: entry.text };
  const watch = deps.cancels.watch(c, meta.id);
  const saved: Message[] = [];
  let persisted = false;
  // Write-behind after the turn's output, so it never competes with it (upserts: a repeat is harmless).
  // `answered`: the turn's last writes; without them (a turn cut short, handed back) the entry is not acked.
  const persist = (answered?: TickBatch) => {
    if (persisted) return;
    persisted = true;
    if (answered) persistAnswered(deps, entry, meta, saved, answered);
    else deps.persist.messages(saved);
  };
  try {
    // The lock, the user message and everything the turn reads come in one round trip (one write), with the characters.
    const reads = new TickBatch(deps.redis);
    const characters = deps.state.characters(reads);
    characters.catch(() => undefined); // awaited only when the turn did not wait; a failure is the acquire's to report
    const start = deps.state.startRequest(c, turn_id, user);
    const acquired = deps.sequencer.acquire(c, meta.id, { signal: meta.signal, start, via: reads, waiting: meta.waiting });
    reads.sendNow(); // each command's own promise reports its failure
    const run = await acquired;
    if (run.status === 'done') {
      // Redelivered after it was answered (answered once only): its worker may have died before queueing its messages.
      const unsaved = await deps.state.unsaved(c, turn_id);
      if (unsaved.length) persistAnswered(deps, entry, meta, unsaved);
      return;
    }
    if (run.status === 'full') return await refuse(deps, entry, meta.id, QUEUE_FULL, true);
    // A turn that waited may see characters changed meanwhile. Read within the turn: a failure is the
    // turn's (error, turn_finished, lock released), not one that leaves the conversation locked.
    const begin = async () => deps.state.parseStart(start, run.start!, await (run.waited ? deps.state.characters() : characters));
    saved.push(userMessage(entry));
    // A lost lock stops the turn as a shutdown does: the worker that holds it now answers the turn.
    const stop = linkedSignal(meta.signal, run.lost);
    try {
      await runTurn(deps, entry, { ...meta, signal: stop.signal }, begin, watch.signal, saved, run.release, persist);
    } finally {
      stop.dispose();
    }
  } finally {
    watch.dispose();
  }
}

type Refusal = readonly [ErrorCode, string];
const TOO_OLD: Refusal = ['turn_expired', 'This message waited too long for an llm-worker and was not answered; please send it again.'];
const QUEUE_FULL: Refusal = ['turn_queue_full', 'Too many earlier messages of this conversation are still waiting for their replies; send this one again once they are answered.'];
const GAVE_UP: Refusal = ['turn_abandoned', 'This message could not be answered: the llm-workers failed on it several times. Please send it again.'];

/**
 * Queues an answered turn's messages for the database, gathered with other turns' (see Persister). They are
 * shown as unsaved (written with `answered`, the turn's last writes) until the database owner saves them, and
 * the turn's entry stays unacknowledged until they are queued: if this worker dies meanwhile, the entry is
 * redelivered and the redelivery queues them from there.
 */
function persistAnswered(deps: TurnDeps, entry: TranscribeEntry, meta: EntryMeta, messages: Message[], answered?: TickBatch): void {
  // The user's message was shown as the turn started (runTurn): the replies join it.
  if (answered) deps.state.holdUnsaved(entry.conversation_id, messages.filter((m) => m.id !== entry.message_id), answered);
  const handed = meta.handOff();
  deps.persist.messages(messages, {
    // The batch's owner reports a failure (the entry is then delivered again).
    queued: (via) => void handed.ack(via).catch(() => undefined),
    // Left pending: taken over after TURN_CLAIM_IDLE_MS by a worker that queues the kept messages again.
    failed: () => handed.release(),
  });
}

/**
 * Answers a turn that will not run: its error, then `turn_finished` (failed). `atOnce`: refused as it arrived, so
 * the error goes to its sender only; one given up later goes to every socket (the sender's may have reconnected).
 */
async function refuse(deps: TurnDeps, entry: TranscribeEntry, turnSeq: string, [code, message]: Refusal, atOnce = false): Promise<void> {
  const out = new TurnOutput(deps.redis, { conversation_id: entry.conversation_id, turn_id: entry.turn_id, turn_seq: turnSeq }, deps.limits, 1, entry);
  out.fail(message, code, atOnce);
  await out.flush();
}

/**
 * A turn given up after too many deliveries (dead-lettered, so no handler runs it): the user learns it
 * failed, and the conversation's later turns stop waiting for it.
 */
export async function abandonTurn(deps: TurnDeps, entry: TranscribeEntry, id: string): Promise<void> {
  await deps.sequencer.abandon(entry.conversation_id, id);
  await refuse(deps, entry, id, GAVE_UP);
  // Not answered, so not saved (but for what an attempt cut short queued): what its attempts showed as unsaved goes.
  await deps.state.forgetUnsaved(entry.conversation_id, entry.turn_id).catch((err: unknown) => deps.logger.warn({ err }, 'could not drop a given-up turn from the unsaved messages'));
}

async function runTurn(
  deps: TurnDeps,
  entry: TranscribeEntry,
  meta: EntryMeta,
  begin: () => Promise<TurnStart>,
  cancel: AbortSignal,
  saved: Message[],
  release: Extract<Acquired, { status: 'run' }>['release'],
  persist: (answered?: TickBatch) => void,
): Promise<void> {
  const { conversation_id: c, turn_id } = entry;
  const started = nowMs();
  const out = new TurnOutput(deps.redis, { conversation_id: c, turn_id, turn_seq: meta.id }, deps.limits, meta.deliveries, entry);
  // The user's message shows in the conversation while the turn runs (it is saved with the replies, at the end).
  deps.state.holdUnsaved(c, saved, out.batch);
  const log = deps.logger.child({ conversation_id: c, turn_id });
  let completed = false;
  let released = false;
  let finished = false;
  let status: MessageStatus = 'completed';
  try {
    deps.metrics.emit({ kind: 'turn_queued', waitMs: started - entry.ts });
    const begun = await begin();
    const greetings = await greet(deps.state, entry, begun, saved.find((m) => m.id === entry.message_id)!);
    if (greetings.length) {
      saved.unshift(...greetings);
      deps.state.holdUnsaved(c, greetings, out.batch);
    }
    if (started - entry.ts > deps.maxTurnAgeMs) {
      out.event('error', { code: TOO_OLD[0], message: TOO_OLD[1], request_type: 'user_message' });
      status = 'failed';
    } else if (cancel.aborted || CancelWatch.cancels(begun.cancelCut, meta.id)) {
      status = 'cancelled';
    } else {
      status = await respond(deps, entry, meta, begun, cancel, out, log, saved);
    }
    // Before turn_finished and the release: a turn seen finished, or marked done, has its messages shown as unsaved.
    persist(out.batch);
    // The lock release shares turn_finished's write: the conversation's next turn, sent as soon as this one
    // is seen to finish, finds it free. The entry is acked once the turn's messages are queued (persistAnswered).
    out.event('turn_finished', { turn_id, status });
    finished = true;
    void release(true, out.batch);
    await out.flush();
    released = completed = true;
    deps.metrics.emit({ kind: 'turn_finished', status, durationMs: nowMs() - started });
    log.info({ status, ms: Math.round(nowMs() - started) }, 'turn finished');
  } catch (err) {
    if (err instanceof Shutdown || meta.signal.aborted) throw err; // handed back to the group, resumed elsewhere
    if (finished) {
      // A write of the turn failed, but turn_finished went out: the client has its answer; only log it.
      log.error({ err }, 'a write of a finished turn failed');
      completed = true;
      return;
    }
    log.error({ err }, 'turn failed');
    persist(out.batch);
    out.fail(`The turn failed: ${String((err as Error)?.message ?? err)}`);
    void release(true, out.batch);
    released = await out.flush().then(() => true, () => false);
    completed = true;
  } finally {
    persist(); // a turn cut short (shutdown, lost lock) keeps what it had; its entry goes back to the group
    if (!released) await release(completed);
  }
}

/**
 * The turn's user message, dated when its turn starts (not when it was sent): a message sent while an earlier
 * turn was still answering is stored after that turn's replies, in the order the characters saw them.
 */
function userMessage(entry: TranscribeEntry): Message {
  return {
    id: entry.message_id,
    role: 'user',
    name: entry.user_name,
    character_id: null,
    content: entry.text,
    conversation_id: entry.conversation_id,
    turn_id: entry.turn_id,
    interrupted: false,
    audio_end_ms: null,
    created_at: new Date(Math.max(entry.ts, Date.now())).toISOString(),
  };
}

async function respond(
  deps: TurnDeps,
  entry: TranscribeEntry,
  meta: EntryMeta,
  begun: TurnStart,
  cancel: AbortSignal,
  out: TurnOutput,
  log: Logger,
  saved: Message[],
): Promise<MessageStatus> {
  const c = entry.conversation_id;
  const { characters } = begun;
  let plan = begun.plan;
  if (!plan) {
    const responders = pickResponders(entry.text, characters);
    if (responders.length === 0) {
      const message = 'No character is active in this conversation: create or activate a character first.';
      out.event('error', { code: 'no_characters', message, request_type: 'user_message' }, undefined, true);
      return 'failed';
    }
    plan = responders.map((ch) => ({ character_id: ch.id, character_name: ch.name, voice_id: ch.voice_id, message_id: randomUUID() }));
    // This worker holds the turn's lock and no attempt stored a plan, so this one wins: no need to wait.
    out.track(deps.state.plan(c, entry.turn_id, plan, out.batch));
  }
  // With its user message: the conversation's other sockets show it from here (they did not see it typed).
  const user = { message_id: entry.message_id, name: entry.user_name, text: entry.text, source: entry.source };
  out.event('turn_started', { turn_id: entry.turn_id, responders: plan, user });
  const linked = linkedSignal(cancel, meta.signal);
  const signal = linked.signal;
  // The lock keeps the conversation's history to this turn, so it is extended here, not read again.
  const history = begun.history;
  try {
    for (const planned of plan) {
      const character = characters.find((ch) => ch.id === planned.character_id);
      if (begun.done.has(planned.message_id)) {
        // Finished before a crash: persisted again in case the crashed worker's write-behind was lost.
        const item = history.find((h) => h.id === planned.message_id);
        if (item) saved.push(assistantMessage(entry, item, false));
        continue;
      }
      if (!character) continue; // deleted since the turn was planned
      const { status, item } = await speak(deps, { entry, meta, planned, character, characters, settings: begun.settings, history, signal, cancel, out, log });
      if (item) {
        history.push(item);
        saved.push(assistantMessage(entry, item, status === 'cancelled'));
      }
      if (status !== 'completed') return status;
    }
    return 'completed';
  } finally {
    linked.dispose();
  }
}

function assistantMessage(entry: TranscribeEntry, item: HistoryItem, interrupted: boolean): Message {
  return { ...item, conversation_id: entry.conversation_id, turn_id: entry.turn_id, interrupted, audio_end_ms: null, created_at: new Date().toISOString() };
}

interface SpeakArgs {
  entry: TranscribeEntry;
  meta: EntryMeta;
  planned: PlannedMessage;
  character: Character;
  characters: Character[];
  settings: ModelSettings;
  history: HistoryItem[];
  signal: AbortSignal;
  cancel: AbortSignal;
  out: TurnOutput;
  log: Logger;
}

async function speak(deps: TurnDeps, a: SpeakArgs): Promise<{ status: MessageStatus; item?: HistoryItem }> {
  const { entry, planned, character, out } = a;
  const c = entry.conversation_id;
  const ref = { character_id: character.id, character_name: character.name, message_id: planned.message_id };
  const messages = buildMessages({ character, characters: a.characters, history: a.history, userName: entry.user_name });
  out.event('text_stream_start', ref, ref.message_id);
  if (planned.voice_id) out.speak({ ...ref, voice_id: planned.voice_id });
  const splitter = new SentenceSplitter();
  let index = 0;
  const sentence = (text: string, final = false) =>
    out.sentence({ ...ref, voice_id: planned.voice_id, index: index++, text, final });
  let text = '';
  let status: MessageStatus = 'completed';
  let failure: LlmError | undefined;
  const requested = nowMs();
  const filter = new ReplyFilter(character.name);
  /** Shows and speaks a piece of the reply; false once the reply is as long as it may be. */
  const take = (delta: string): boolean => {
    const first = !text;
    if (first) deps.metrics.emit({ kind: 'llm_first_token', latencyMs: nowMs() - requested });
    const room = deps.limits.replyMaxChars - text.length;
    const full = delta.length >= room;
    if (full) delta = cutAt(delta, room);
    text += delta;
    out.event('text_chunk', { ...ref, text: delta, is_final: false }, ref.message_id);
    const sentences = index;
    for (const s of splitter.push(delta)) sentence(s);
    // The reply's first words and first sentence go out at once; the rest of what one read of the LLM
    // stream brought shares a write at the end of the loop turn.
    if (first || (sentences === 0 && index > 0)) out.sendNow();
    return !full;
  };
  try {
    const deltas = streamWithRetry(deps.engine, { messages, settings: a.settings, signal: a.signal }, deps.retry, (err, attempt) =>
      a.log.warn({ code: err.code, attempt }, 'LLM request failed; retrying'),
    );
    for await (const raw of deltas) {
      const delta = filter.push(raw);
      // Leaving the loop closes the LLM stream: a model that never stops (or never stops thinking) must not hold the conversation.
      if ((delta && !take(delta)) || filter.dropped > deps.limits.replyMaxChars) {
        a.log.warn({ chars: text.length, reasoning: filter.dropped }, 'reply cut at LLM_MAX_REPLY_CHARS');
        break;
      }
    }
  } catch (err) {
    if (a.meta.signal.aborted) throw new Shutdown('worker stopping');
    if (a.cancel.aborted) status = 'cancelled';
    else {
      status = 'failed';
      failure = err instanceof LlmError ? err : new LlmError('llm_stream_failed', String((err as Error)?.message ?? err), false);
      deps.metrics.emit({ kind: 'llm_error', code: failure.code });
      a.log.warn({ code: failure.code, err: failure.message }, 'LLM reply failed');
    }
  }
  if (status !== 'cancelled') {
    const rest = filter.flush();
    if (rest && text.length < deps.limits.replyMaxChars) take(rest);
    for (const s of splitter.flush()) sentence(s);
  }
  sentence('', true); // end-of-message sentinel for the tts-workers
  if (status === 'completed') out.event('text_chunk', { ...ref, text: '', is_final: true }, ref.message_id);
  // `text` is what was shown: the filter took a speaker tag off as it streamed.
  out.event('text_stream_stop', { ...ref, text, ...(status === 'cancelled' ? { interrupted: true } : {}) }, ref.message_id);
  if (failure) out.event('error', { code: failure.code, message: failure.message, request_type: 'user_message' }, ref.message_id);
  // Its bubble goes (nothing to show or store): without a word the character would seem to ignore the user.
  else if (status === 'completed' && !text) {
    const message = `${character.name}'s model ended the reply without any text (a filter, a stop sequence or a model that gave up).`;
    out.event('error', { code: 'llm_empty_reply', message, request_type: 'user_message' }, ref.message_id);
  }
  const item: HistoryItem | undefined = text ? { id: ref.message_id, role: 'assistant', name: character.name, character_id: character.id, content: text } : undefined;
  // Recorded in the same write as the message's last events. Not awaited: the next responder or the
  // turn's end follows on the same connection, in order, and the turn's last flush reports any failure.
  if (item) out.track(deps.state.recordOnce(c, entry.turn_id, `done:${ref.message_id}`, item, out.batch));
  return item ? { status, item } : { status };
}

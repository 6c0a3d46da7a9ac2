import { z } from 'zod';
import { Id, Message, numberIn } from './entities.js';
import { PERSIST_JOB_MAX_MESSAGES } from './keys.js';
import { INPUT_SAMPLE_RATE_RANGE, LIMITS } from './limits.js';
import { compareStreamIds } from './time.js';
import { ErrorCode, FANOUT_TYPES, RequestId } from './socket.js';

/** Ids and time carried by every stream entry, so a turn's latency can be rebuilt from the streams. */
const TurnIds = {
  conversation_id: Id,
  turn_id: Id,
  message_id: Id,
  /** Wall-clock milliseconds (fractional) when the entry was written. */
  ts: z.number(),
};

/** `transcribe`: one user turn. `message_id` is the user message's id. */
export const TranscribeEntry = z.object({
  ...TurnIds,
  source: z.enum(['text', 'voice']),
  text: z.string().min(1),
  user_name: z.string().min(1),
  /** Session that submitted it: the socket that typed it, or the listening session it was transcribed from. */
  session_id: Id.optional(),
  /** The `user_message` envelope's `id`: the turn's events echo it to `session_id`'s socket. */
  request_id: RequestId.optional(),
});
export type TranscribeEntry = z.infer<typeof TranscribeEntry>;

/** `sentence:{conversation}`: a sentence to speak, or the per-message sentinel (`final: true`, empty text). */
export const SentenceEntry = z.object({
  ...TurnIds,
  character_id: Id,
  character_name: z.string(),
  voice_id: Id.nullable(),
  index: z.number().int().min(0),
  text: z.string(),
  final: z.boolean(),
  /** Transcribe entry id of the turn (orders turns against interrupts). */
  turn_seq: z.string(),
  /**
   * Which attempt at the turn wrote it (the transcribe entry's delivery count). After an llm-worker
   * crash the message restarts with a higher attempt; sentences of earlier attempts are dropped.
   */
  attempt: z.number().int().min(1).default(1),
});
export type SentenceEntry = z.infer<typeof SentenceEntry>;

/**
 * `speak`: a message whose sentences (in `sentence:{conversation}`) should be spoken. Written when the
 * message starts, so a tts-worker is following the sentence stream before the first sentence exists.
 */
export const SpeakEntry = z.object({
  ...TurnIds,
  character_id: Id,
  character_name: z.string(),
  voice_id: Id.nullable(),
  turn_seq: z.string(),
  attempt: z.number().int().min(1),
  /** Who sent the turn (TranscribeEntry): the message's `error` events echo the request's id to that socket. */
  session_id: Id.optional(),
  request_id: RequestId.optional(),
});
export type SpeakEntry = z.infer<typeof SpeakEntry>;

/**
 * What every audio stream entry holds, and all its readers need: a PCM16 mono little-endian chunk
 * (base64), or the end marker (`final: true`, empty pcm). `sentence_index` counts the spoken sentences
 * from 0; a sentence re-synthesized after a tts-worker crash repeats its chunk indices, which readers skip.
 */
export const AudioChunk = z.object({
  sentence_index: z.number().int().min(0),
  chunk_index: z.number().int().min(0),
  sample_rate: z.number().int().positive(),
  pcm: z.string(),
  final: z.boolean(),
  /** On a sentence's first chunk: the sentence as written (to store what was heard after an interrupt). */
  text: z.string().optional(),
  /** On an end marker: why the audio ended early (previews report their failures here). */
  error: z.object({ code: ErrorCode, message: z.string() }).optional(),
  ts: z.number(),
});
export type AudioChunk = z.infer<typeof AudioChunk>;

/** `audio:{conversation}:<message>`: the audio of one character message. */
export const AudioEntry = AudioChunk.extend({
  ...TurnIds,
  character_id: Id,
  character_name: z.string(),
  turn_seq: z.string(),
});
export type AudioEntry = z.infer<typeof AudioEntry>;

/**
 * `preview`: a voice preview for one socket. Outside every conversation: its audio goes to
 * `previewaudio:{session}:<preview_id>`, which only the edge holding that socket reads.
 */
export const PreviewEntry = z.object({
  preview_id: Id,
  session_id: Id,
  voice: z.object({ id: Id, name: z.string(), engine: z.string(), params: z.record(z.string(), z.unknown()) }),
  text: z.string().min(1).max(LIMITS.previewText),
  ts: z.number(),
});
export type PreviewEntry = z.infer<typeof PreviewEntry>;

/** `previewaudio:{session}:<preview>`: the audio of one preview; a failure is on its end marker. */
export const PreviewAudioEntry = AudioChunk.extend({ preview_id: Id });
export type PreviewAudioEntry = z.infer<typeof PreviewAudioEntry>;

/** `previewctl:{session}`: cancels every preview of the socket submitted before this entry. */
export const PreviewControlEntry = z.object({ session_id: Id, ts: z.number() });
export type PreviewControlEntry = z.infer<typeof PreviewControlEntry>;

/**
 * `listen`: a listening session (one per `start_listening`). The stt-worker that holds it owns the
 * session's microphone stream (`mic:{conversation}:<listen_id>`) until its end marker: session affinity.
 */
export const ListenEntry = z.object({
  conversation_id: Id,
  session_id: Id,
  listen_id: Id,
  /** Rate of the microphone PCM as the client sends it. */
  sample_rate: numberIn(INPUT_SAMPLE_RATE_RANGE),
  /** The user's display name for the turns transcribed from this session. */
  user_name: z.string().min(1),
  ts: z.number(),
});
export type ListenEntry = z.infer<typeof ListenEntry>;

/** `mic:{conversation}:<listen_id>`: one microphone frame (PCM16 mono LE, base64), or the end marker. */
export const MicEntry = z.object({
  pcm: z.string(),
  end: z.boolean().optional(),
  ts: z.number(),
});
export type MicEntry = z.infer<typeof MicEntry>;

/**
 * Event types that travel in `events:{c}` between services but are not sent to clients:
 * `speech_started` — a listening session's user started talking (the edge holding it decides on barge-in).
 */
export const INTERNAL_EVENT_TYPES = ['speech_started'] as const;

/** `events:{conversation}`: a server→client message for every socket of the conversation. */
export const EventEntry = z.object({
  conversation_id: Id,
  turn_id: Id,
  message_id: Id.optional(),
  ts: z.number(),
  /** Transcribe entry id of the turn; absent on events that precede their turn (transcription). */
  turn_seq: z.string().optional(),
  /** The socket session the event is about: the one that sent the turn, or a transcription's listener. */
  session_id: Id.optional(),
  /** The request's correlation id (TranscribeEntry.request_id): `session_id`'s socket gets the event with it as `id`. */
  request_id: RequestId.optional(),
  /** Only `session_id`'s socket gets it: the refusal of that socket's turn, which the others never saw. */
  only_session: z.boolean().optional(),
  type: z.enum([...FANOUT_TYPES, ...INTERNAL_EVENT_TYPES]),
  data: z.record(z.string(), z.unknown()),
});
export type EventEntry = z.infer<typeof EventEntry>;

const STREAM_ID = /^\d+-\d+$/;

/**
 * `control:{conversation}`: an interrupt, or the conversation's deletion. Each has a cut (`cutOf`): every turn
 * whose `turn_seq` (transcribe entry id, same Redis clock) is lower is cancelled. An interrupt's `cut` is just
 * after the turn it stops (the one under way), so turns sent since still run; without `cut` (a deletion, or Stop
 * with no turn under way) the cut is every turn so far: the entry's own stream id, or `floor` if that is later.
 * `deleted` also tells every edge to move the sockets that show the conversation to a new one.
 */
export const ControlEntry = z.object({
  conversation_id: Id,
  message_id: Id.optional(),
  ts: z.number(),
  type: z.enum(['interrupt', 'deleted']),
  audio_end_ms: z.number().optional(),
  session_id: Id.optional(),
  cut: z.string().regex(STREAM_ID).optional(),
  /**
   * Without `cut`: the cut is at least this (just after the latest turn the interrupting edge submitted).
   * `transcribe` and `control:{c}` number their entries apart: a message sent in the same millisecond as the
   * interrupt can have the very id of the interrupt's entry, and must still be cut.
   */
  floor: z.string().regex(STREAM_ID).optional(),
});
export type ControlEntry = z.infer<typeof ControlEntry>;

/** The cut of the control entry `id` (see ControlEntry). */
export function cutOf(id: string, entry: { cut?: unknown; floor?: unknown }): string {
  const valid = (v: unknown): v is string => typeof v === 'string' && STREAM_ID.test(v);
  if (valid(entry.cut)) return entry.cut;
  return valid(entry.floor) && compareStreamIds(entry.floor, id) > 0 ? entry.floor : id;
}

/** The cut of a raw control stream entry, read without validating the rest: an entry that cannot be read is still a cut at its own id. */
export function controlCut(id: string, fields: string[]): string {
  const i = fields.indexOf(ENTRY_FIELD);
  if (i < 0 || i % 2 !== 0) return id;
  try {
    return cutOf(id, JSON.parse(fields[i + 1]!) as object);
  } catch {
    return id;
  }
}

/** Write-behind persistence job (BullMQ). */
export const PersistJob = z.discriminatedUnion('kind', [
  // Messages saved together: those of the turns an llm-worker finished within its gathering time, or one edit.
  z.object({ kind: z.literal('messages'), messages: z.array(Message).min(1).max(PERSIST_JOB_MAX_MESSAGES) }),
  // One message: jobs queued by workers older than `messages`.
  z.object({ kind: z.literal('message'), message: Message }),
]);
export type PersistJob = z.infer<typeof PersistJob>;

/** One element of `history:{conversation}`. */
export const HistoryItem = z.object({
  id: Id,
  role: z.enum(['user', 'assistant']),
  name: z.string(),
  character_id: Id.nullable(),
  content: z.string(),
});
export type HistoryItem = z.infer<typeof HistoryItem>;

/** Stream entries are stored as a single JSON field, validated on the way in and out. */
export const ENTRY_FIELD = 'e';
export function encodeEntry<T>(entry: T): [string, string] {
  return [ENTRY_FIELD, JSON.stringify(entry)];
}
export function decodeEntry<S extends z.ZodType>(schema: S, fields: string[]): z.infer<S> {
  const i = fields.indexOf(ENTRY_FIELD);
  if (i < 0 || i % 2 !== 0) throw new Error('stream entry has no payload field');
  return schema.parse(JSON.parse(fields[i + 1]!));
}

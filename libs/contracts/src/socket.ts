import { z } from 'zod';
import {
  Character,
  CharacterCreate,
  CharacterUpdate,
  Conversation,
  Id,
  Message,
  ModelSettings,
  ModelSettingsPatch,
  numberIn,
  TtsEngineInfo,
  Voice,
  VoiceCreate,
  VoiceDraft,
  VoiceUpdate,
} from './entities.js';
import { INPUT_SAMPLE_RATE_RANGE, LIMITS } from './limits.js';

/** A client's correlation id (the envelope's `id`). */
export const RequestId = z.string().max(200);

/**
 * Every text frame is one JSON envelope. `id` is the client's correlation id, echoed on every reply the message
 * causes: for a `user_message`, its turn's events and speech, on the socket that sent it.
 */
export const Envelope = z.object({
  type: z.string().min(1).max(64),
  data: z.unknown().optional(),
  id: RequestId.optional(),
});
export type Envelope = z.infer<typeof Envelope>;

/**
 * What a client that reconnects has of the conversation's speech, as `/ws` query parameters: the message whose
 * audio it was receiving, or had received to its end, and how much of it arrived (ms). The edge sends the rest.
 */
export const AudioResumeQuery = z
  .object({
    audio_message_id: Id,
    audio_received_ms: z.coerce.number().finite().min(0).max(3_600_000),
  })
  .strict();
export type AudioResumeQuery = z.infer<typeof AudioResumeQuery>;

const Empty = z.object({}).strict().optional();

/**
 * Fields the server sets on a stored object. A client that sends back a character or voice as it received it
 * (edited) is not refused for them; they are ignored. Any other unknown field is still refused (e.g. a typo).
 */
const SERVER_SET = ['created_at', 'updated_at'];
const ignoringServerSet = <S extends z.ZodType>(schema: S) =>
  z.preprocess((v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !SERVER_SET.some((k) => Object.hasOwn(v, k))) return v;
    const copy = { ...(v as Record<string, unknown>) };
    for (const k of SERVER_SET) delete copy[k];
    return copy;
  }, schema);
const ByConversation = z.object({ conversation_id: Id }).strict();
const ById = z.object({ id: Id }).strict();

/** What a voice preview says when the request gives no text. */
export const DEFAULT_PREVIEW_TEXT = 'Hello! This is how I sound.';
/** `character_id` of a preview's audio messages: no character speaks. */
export const PREVIEW_CHARACTER_ID = 'preview';

/** Data schema of every client → server message type (PROTOCOL.md). */
export const clientData = {
  ping: Empty,
  user_message: z
    .object({ text: z.string().trim().min(1, 'text is empty').max(LIMITS.userText).refine((t) => !t.includes('\0'), 'text contains a NUL character (U+0000)') })
    .strict(),
  start_listening: z.object({ sample_rate: numberIn(INPUT_SAMPLE_RATE_RANGE).optional() }).strict().optional(),
  stop_listening: Empty,
  interrupt: z
    .object({ message_id: Id.optional(), audio_end_ms: z.number().min(0).max(86_400_000).optional() })
    .strict()
    .optional(),
  model_settings: ModelSettingsPatch,
  clear_history: Empty,
  new_conversation: z.object({ title: z.string().trim().max(LIMITS.title).optional() }).strict().optional(),
  open_conversation: ByConversation,
  refresh_characters: Empty,
  refresh_active_characters: Empty,
  get_characters: Empty,
  create_character: ignoringServerSet(CharacterCreate),
  update_character: ignoringServerSet(CharacterUpdate),
  delete_character: ById,
  get_voices: Empty,
  create_voice: ignoringServerSet(VoiceCreate),
  update_voice: ignoringServerSet(VoiceUpdate),
  delete_voice: ById,
  get_conversations: Empty,
  get_messages: ByConversation,
  delete_conversation: ByConversation,
  /** Addition: speak a line in a stored (`voice_id`) or unsaved (`voice`) voice, to this socket only. */
  preview_voice: z
    .object({
      voice_id: Id.optional(),
      voice: VoiceDraft.optional(),
      text: z.string().trim().min(1, 'text is empty').max(LIMITS.previewText).default(DEFAULT_PREVIEW_TEXT),
    })
    .strict()
    .refine((d) => (d.voice_id === undefined) !== (d.voice === undefined), {
      message: 'give exactly one of voice_id (a stored voice) or voice ({name?, engine, params?}, unsaved)',
    }),
  /** Addition: what each TTS engine of the running tts-workers offers. */
  get_tts_engines: Empty,
} as const;
export type ClientType = keyof typeof clientData;
export type ClientData<T extends ClientType> = z.infer<(typeof clientData)[T]>;
export const isClientType = (t: string): t is ClientType => Object.hasOwn(clientData, t);

const MessageRef = z.object({ character_id: Id, character_name: z.string(), message_id: Id });

export const ErrorCode = z.enum([
  'invalid_json',
  'invalid_message',
  'unknown_type',
  'too_large',
  'invalid_audio',
  'not_found',
  'unsupported',
  'internal',
  'llm_not_configured',
  'llm_auth',
  'llm_rate_limited',
  'llm_unavailable',
  'llm_timeout',
  'llm_unreachable',
  'llm_bad_request',
  'llm_stream_failed',
  /** Addition: the model ended a reply without any text (nothing is shown or stored for it). */
  'llm_empty_reply',
  'no_characters',
  'stt_unavailable',
  'stt_failed',
  'tts_failed',
  'tts_voice_invalid',
  'tts_unavailable',
  /** Additions: a user turn refused or given up by the llm-workers (send it again). */
  'turn_queue_full',
  'turn_expired',
  'turn_abandoned',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Data schema of every server → client message type (PROTOCOL.md plus additions). */
export const serverData = {
  session_started: z.object({
    session_id: Id,
    conversation_id: Id,
    characters: z.array(Character),
    input_sample_rate: z.number().int(),
  }),
  conversation_started: z.object({ conversation_id: Id, title: z.string().optional() }),
  pong: Empty,
  /**
   * `reason` (addition), when this socket sent no `interrupt`: `barge_in`, the user's speech interrupted the
   * characters; `elsewhere`, another socket of the conversation (a second tab) interrupted them.
   */
  interrupt_ack: z.object({ conversation_id: Id.optional(), reason: z.enum(['barge_in', 'elsewhere']).optional() }).optional(),
  history_cleared: z.object({ conversation_id: Id.optional() }).optional(),
  stt_update: z.object({ text: z.string() }),
  stt_stabilized: z.object({ text: z.string() }),
  /** `speech_end_ms` (addition): how long before this event the user stopped speaking, as the stt-worker estimates it. */
  stt_finished: z.object({ text: z.string(), speech_end_ms: z.number().min(0).optional() }),
  /**
   * Addition: a user turn has been accepted by an llm-worker. `user` is the turn's user message, so every socket
   * of the conversation can show it (other tabs did not see it typed).
   */
  turn_started: z.object({
    turn_id: Id,
    responders: z.array(z.object({ character_id: Id, character_name: z.string(), message_id: Id })),
    user: z.object({ message_id: Id, name: z.string(), text: z.string(), source: z.enum(['text', 'voice']) }).optional(),
  }),
  /** Addition: every responder of the turn is done (or the turn was cancelled/failed). */
  turn_finished: z.object({ turn_id: Id, status: z.enum(['completed', 'cancelled', 'failed']) }),
  text_stream_start: MessageRef,
  text_chunk: MessageRef.extend({ text: z.string(), is_final: z.boolean() }),
  text_stream_stop: MessageRef.extend({ text: z.string(), interrupted: z.boolean().optional() }),
  audio_stream_start: MessageRef.extend({ sample_rate: z.number().int() }),
  audio_chunk: MessageRef.extend({ sentence_index: z.number().int(), chunk_index: z.number().int() }),
  audio_stream_stop: MessageRef,
  error: z.object({ code: ErrorCode, message: z.string(), request_type: z.string().optional() }),
  db_error: z.object({ error: z.string(), request_type: z.string().optional() }),
  characters_data: z.array(Character),
  character_created: Character,
  character_updated: Character,
  character_deleted: ById,
  voices_data: z.array(Voice),
  voice_created: Voice,
  voice_updated: Voice,
  voice_deleted: ById,
  conversations_data: z.array(Conversation),
  messages_data: z.object({ conversation_id: Id, messages: z.array(Message) }),
  conversation_deleted: ByConversation,
  /** Addition: the conversation's model settings after a `model_settings` request. */
  settings_updated: z.object({ conversation_id: Id, model_settings: ModelSettings }),
  /** Addition: a `preview_voice` was accepted; its audio follows as `message_id` with `character_id: 'preview'`. */
  voice_preview: z.object({ message_id: Id }),
  /** Addition: the TTS engines of the live tts-workers (empty when none runs). */
  tts_engines_data: z.array(TtsEngineInfo),
} as const;
export type ServerType = keyof typeof serverData;
export type ServerData<T extends ServerType> = z.infer<(typeof serverData)[T]>;

export interface ServerMessage<T extends ServerType = ServerType> {
  type: T;
  data?: ServerData<T>;
  id?: string;
}

/** Events produced by workers and fanned out by the edge to the sockets of a conversation. */
export const FANOUT_TYPES = [
  'turn_started',
  'turn_finished',
  'text_stream_start',
  'text_chunk',
  'text_stream_stop',
  'audio_stream_start',
  'audio_chunk',
  'audio_stream_stop',
  'stt_update',
  'stt_stabilized',
  'stt_finished',
  'error',
] as const satisfies readonly ServerType[];
export type FanoutType = (typeof FANOUT_TYPES)[number];

/**
 * Redis key builders. Everything that belongs to one conversation carries the hash tag `{conversationId}`
 * so that commands touching several of them (MULTI, Lua, multi-stream XREAD) stay in one Redis Cluster slot.
 */
const tag = (conversationId: string) => `{${conversationId}}`;

/** The conversation id in a key or stream name built below (the part inside its hash tag). */
export const conversationOf = (key: string) => key.slice(key.indexOf('{') + 1, key.lastIndexOf('}'));

/** How every writer of `events:{c}` bounds it: about this many entries, kept this long after the last write. */
export const EVENTS_STREAM = { maxLen: 2000, ttlSec: 3600 } as const;

export const STREAMS = {
  /** User turns (typed text, finished transcriptions) — consumed by the llm-worker group. */
  transcribe: 'transcribe',
  /** Messages to speak (any conversation) — consumed by the tts-worker group; the text is in `sentence:{c}`. */
  speak: 'speak',
  /** Sentences for TTS of one conversation. */
  sentence: (conversationId: string) => `sentence:${tag(conversationId)}`,
  /** PCM audio of one message (kept in the conversation's slot). */
  audio: (conversationId: string, messageId: string) => `audio:${tag(conversationId)}:${messageId}`,
  /** Server→client events of one conversation; every edge holding a socket of it tails this stream. */
  events: (conversationId: string) => `events:${tag(conversationId)}`,
  /** Control entries (interrupts, the deletion) of one conversation, read by edges and workers. */
  control: (conversationId: string) => `control:${tag(conversationId)}`,
  /** Listening sessions (one entry per `start_listening`) — consumed by the stt-worker group. */
  listen: 'listen',
  /** Microphone frames of one listening session, in order, ended by an end marker. */
  mic: (conversationId: string, listenId: string) => `mic:${tag(conversationId)}:${listenId}`,
  /** Voice previews (one entry per `preview_voice`) — consumed by the tts-worker group; not part of any conversation. */
  preview: 'preview',
  /** PCM audio of one preview, read by the edge holding the socket that asked (keyed by its session). */
  previewAudio: (sessionId: string, previewId: string) => `previewaudio:${tag(sessionId)}:${previewId}`,
  /** Cancels of a socket's previews; the entry id is the cut, as in `control:{c}`. */
  previewControl: (sessionId: string) => `previewctl:${tag(sessionId)}`,
  /** Entries that failed too often; kept for inspection. */
  dead: (stream: string) => `dead:${stream}`,
} as const;

export const GROUPS = {
  llm: 'llm',
  tts: 'tts',
  stt: 'stt',
} as const;

export const KEYS = {
  /** Serializes the turns of one conversation across workers (holder token, PX). */
  turnLock: (c: string) => `turnlock:${tag(c)}`,
  /** Turns of a conversation waiting or running, ordered by their transcribe entry id. */
  turnQueue: (c: string) => `turnq:${tag(c)}`,
  /** Transcribe entry ids whose turn has completed (dedupe after crash recovery). */
  turnDone: (c: string) => `turndone:${tag(c)}`,
  /** Plan and progress of one turn (responders, message ids, finished messages). */
  turnState: (c: string, turnId: string) => `turn:${tag(c)}:${turnId}`,
  /** Recent messages of a conversation, JSON per element, oldest first. */
  history: (c: string) => `history:${tag(c)}`,
  /** Generation and append count of the history list (hash gen, n): see HISTORY_LUA. */
  historyMeta: (c: string) => `histmeta:${tag(c)}`,
  /**
   * Set by the database owner while a conversation has no message yet: its first turn begins with the active
   * characters' greetings (taken, once, by the llm-worker that runs it).
   */
  greet: (c: string) => `greet:${tag(c)}`,
  /** JSON ModelSettings of a conversation. */
  settings: (c: string) => `settings:${tag(c)}`,
  /** The furthest cut of the control entries (interrupt or deletion; see ControlEntry): turns whose transcribe id is lower are cancelled. */
  cancel: (c: string) => `cancel:${tag(c)}`,
  /** tts-worker progress on one message (hash): lets another worker continue after a crash. */
  ttsProgress: (c: string, messageId: string) => `ttsprog:${tag(c)}:${messageId}`,
  /** stt-worker progress on one listening session (hash): where another worker resumes after a crash. */
  sttProgress: (c: string, listenId: string) => `sttprog:${tag(c)}:${listenId}`,
  /** What the user heard of interrupted messages (hash message_id → JSON {content, audio_end_ms}). */
  heard: (c: string) => `heard:${tag(c)}`,
  /**
   * Messages of a conversation not yet in the database (hash message_id → JSON Message): the llm-worker writes a
   * turn's user message as the turn starts and all its messages as it ends; the database owner drops them once
   * saved. Reads of messages add these to the database's, so a finished turn shows before write-behind saves it.
   */
  unsaved: (c: string) => `unsaved:${tag(c)}`,
  /** JSON array of all characters, written by the database owner (the edge). */
  characters: 'state:characters',
  /** JSON array of all voices, written by the database owner (the edge). */
  voices: 'state:voices',
  /** JSON TtsEngineInfo[] of one live tts-worker, refreshed with its heartbeat; expires with it. */
  ttsEngines: (workerId: string) => `ttsengines:${workerId}`,
  /** Sorted set of live workers of a stage; score = expiry time in ms. */
  presence: (stage: string) => `presence:${stage}`,
} as const;

export const STAGES = ['stt', 'llm', 'tts'] as const;
export type Stage = (typeof STAGES)[number];

/** BullMQ queue for write-behind persistence; the `{…}` prefix keeps its keys in one slot. */
export const PERSIST_QUEUE = 'persist';
/** Messages in one persistence job at most. */
export const PERSIST_JOB_MAX_MESSAGES = 1000;
export const BULL_PREFIX = '{bull}';

/** What every adapter shares: input validation, row → entity mapping and database error translation. */
import {
  CharacterCreate,
  CharacterUpdate,
  LIMITS,
  Message,
  ModelSettings,
  VoiceCreate,
  VoiceUpdate,
  type Character,
  type Conversation,
  type Voice,
} from '@chorus/contracts';
import { StoreError, type ConversationCreate, type ConversationUpdate } from './store.js';

// Structural type of a zod schema, so this package needs no direct zod dependency.
interface Schema<T> {
  safeParse(value: unknown):
    | { success: true; data: T }
    | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

function parse<T>(schema: Schema<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const why = r.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message));
  throw new StoreError(`invalid ${what}: ${why.join('; ')}`, 'invalid');
}

export const parseCharacterCreate = (v: CharacterCreate) => parse(CharacterCreate, v, 'character');
export const parseCharacterUpdate = (v: CharacterUpdate) => parse(CharacterUpdate, v, 'character update');
export const parseVoiceCreate = (v: VoiceCreate) => parse(VoiceCreate, v, 'voice');
export const parseVoiceUpdate = (v: VoiceUpdate) => parse(VoiceUpdate, v, 'voice update');
/**
 * A message to save, without NUL characters: PostgreSQL text cannot hold them, and messages are saved
 * write-behind (from a model's reply too), where a refusal would lose the message after its retries.
 */
export const parseMessage = (v: Message): Message => {
  const m = parse(Message, v, 'message');
  return m.content.includes('\0') || m.name.includes('\0') ? { ...m, content: m.content.replaceAll('\0', ''), name: m.name.replaceAll('\0', '') } : m;
};

function parseTitle(title: unknown): string | undefined {
  if (title === undefined) return undefined;
  if (typeof title !== 'string') throw new StoreError('invalid conversation: title must be a string');
  const t = title.trim();
  if (t.length > LIMITS.title) throw new StoreError(`invalid conversation: title is longer than ${LIMITS.title}`);
  return t || undefined;
}

function parseId(id: unknown, what: string): string | undefined {
  if (id === undefined) return undefined;
  if (typeof id !== 'string' || id.length < 1 || id.length > 100) throw new StoreError(`invalid ${what}: bad id`);
  return id;
}

/** An empty title means the default one. */
export function parseConversationCreate(input: ConversationCreate = {}): ConversationCreate {
  return {
    id: parseId(input.id, 'conversation'),
    title: parseTitle(input.title),
    model_settings:
      input.model_settings === undefined ? undefined : parse(ModelSettings, input.model_settings, 'model_settings'),
  };
}

export function parseConversationUpdate(patch: ConversationUpdate): ConversationUpdate {
  const id = parseId(patch?.id, 'conversation update');
  if (!id) throw new StoreError('invalid conversation update: id is required');
  const title = parseTitle(patch.title);
  if (patch.title !== undefined && !title) throw new StoreError('invalid conversation update: title is empty');
  return { ...parseConversationCreate({ model_settings: patch.model_settings }), id, title };
}

export const DEFAULT_TITLE = 'New conversation';
/** Longest title taken from a conversation's first user message. */
const AUTO_TITLE_CHARS = 60;

/**
 * A conversation still called DEFAULT_TITLE is named after its first user message (the first in `messages`):
 * its opening words, cut at a word boundary. Conversation id → title; a conversation already named keeps
 * its name (the adapters only replace DEFAULT_TITLE).
 */
export function autoTitles(messages: Message[]): Map<string, string> {
  const titles = new Map<string, string>();
  for (const m of [...messages].sort((a, b) => a.created_at.localeCompare(b.created_at))) {
    if (m.role !== 'user' || titles.has(m.conversation_id)) continue;
    const words = m.content.replace(/\s+/g, ' ').trim();
    if (!words) continue;
    const cut = words.length <= AUTO_TITLE_CHARS ? words : `${words.slice(0, AUTO_TITLE_CHARS).replace(/\s+\S*$/, '') || words.slice(0, AUTO_TITLE_CHARS)}…`;
    titles.set(m.conversation_id, cut);
  }
  return titles;
}

// ----- rows → entities (pg/PGlite give Date objects for timestamptz, PostgREST ISO strings) -----

export type Row = Record<string, any>;

export const iso = (v: unknown): string => (v instanceof Date ? v : new Date(String(v))).toISOString();

export const toVoice = (r: Row): Voice => ({
  id: r.id,
  name: r.name,
  engine: r.engine,
  params: r.params ?? {},
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

export const toCharacter = (r: Row): Character => ({
  id: r.id,
  name: r.name,
  system_prompt: r.system_prompt,
  voice_id: r.voice_id ?? null,
  active: r.active,
  order: Number(r.order),
  image_url: r.image_url ?? null,
  greeting: r.greeting ?? null,
  extensions: r.extensions ?? {},
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

export const toConversation = (r: Row): Conversation => ({
  id: r.id,
  title: r.title,
  model_settings: r.model_settings ?? {},
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  ...(r.message_count === undefined ? {} : { message_count: Number(r.message_count) }),
});

export const toMessage = (r: Row): Message => ({
  id: r.id,
  conversation_id: r.conversation_id,
  role: r.role,
  name: r.name,
  character_id: r.character_id ?? null,
  content: r.content,
  turn_id: r.turn_id ?? null,
  interrupted: r.interrupted,
  audio_end_ms: r.audio_end_ms === null || r.audio_end_ms === undefined ? null : Number(r.audio_end_ms),
  created_at: iso(r.created_at),
});

// ----- database errors → StoreError -----

/**
 * Translates a database error (pg, PGlite or PostgREST: all carry the SQLSTATE in `code`).
 * `refs` maps a foreign key constraint name to the message that explains it to the caller.
 */
export function toStoreError(e: unknown, refs: Record<string, string> = {}): Error {
  if (e instanceof StoreError) return e;
  const err = (e ?? {}) as { code?: unknown; constraint?: unknown; message?: unknown; details?: unknown };
  const code = typeof err.code === 'string' ? err.code : '';
  const message = String(err.message ?? e);
  const constraint =
    typeof err.constraint === 'string' ? err.constraint : (/constraint "([^"]+)"/.exec(message)?.[1] ?? '');
  if (code === '23503') return new StoreError(refs[constraint] ?? `bad reference: ${message}`, 'invalid');
  if (code === '23505') return new StoreError(`already exists: ${err.details ?? message}`, 'conflict');
  // 22xxx data exceptions (bad timestamp, out of range), 23xxx other integrity checks
  if (code.startsWith('22') || code.startsWith('23')) return new StoreError(`invalid: ${message}`, 'invalid');
  // 08 connection exceptions, 57P admin shutdown, 53300 too many connections; Node socket errors; fetch failures
  if (/^(08|57P|53300)/.test(code) || /^E[A-Z]+$/.test(code) || /connect|terminated|fetch failed|closed/i.test(message)) {
    return new StoreError(`database unavailable: ${message}`, 'unavailable');
  }
  return e instanceof Error ? e : new Error(message);
}

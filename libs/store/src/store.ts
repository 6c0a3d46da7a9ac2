import type {
  Character,
  CharacterCreate,
  CharacterUpdate,
  Conversation,
  Message,
  ModelSettings,
  Voice,
  VoiceCreate,
  VoiceUpdate,
} from '@chorus/contracts';

export type StoreKind = 'pglite' | 'postgres' | 'supabase';

/**
 * Persistence of characters, voices, conversations and messages. Every adapter implements exactly
 * this; inputs are validated with the `@chorus/contracts` schemas and refused with a `StoreError`.
 */
export interface Store {
  readonly kind: StoreKind;
  /** Apply pending migrations, then seed defaults if the database is empty. Idempotent. */
  init(): Promise<void>;
  /** Throws (a `StoreError` 'unavailable') when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;

  /** By `order`, then name. */
  listCharacters(): Promise<Character[]>;
  getCharacter(id: string): Promise<Character | null>;
  /** id = input.id ?? randomUUID(); order defaults to max+1; active defaults true; system_prompt ''. */
  createCharacter(input: CharacterCreate): Promise<Character>;
  /** Null if no such id; bumps updated_at. */
  updateCharacter(patch: CharacterUpdate): Promise<Character | null>;
  deleteCharacter(id: string): Promise<boolean>;

  /** By name. */
  listVoices(): Promise<Voice[]>;
  getVoice(id: string): Promise<Voice | null>;
  /** id = input.id ?? randomUUID(); params default `{}`. */
  createVoice(input: VoiceCreate): Promise<Voice>;
  /** Null if no such id; bumps updated_at. */
  updateVoice(patch: VoiceUpdate): Promise<Voice | null>;
  /** Characters using the voice get voice_id null. */
  deleteVoice(id: string): Promise<boolean>;

  /** Most recently updated first, with message_count. */
  listConversations(): Promise<Conversation[]>;
  /** With message_count. */
  getConversation(id: string): Promise<Conversation | null>;
  /** Default title 'New conversation' (also for an empty title); model_settings default `{}`. */
  createConversation(input?: ConversationCreate): Promise<Conversation>;
  /** Null if no such id; bumps updated_at. model_settings is replaced as a whole. */
  updateConversation(patch: ConversationUpdate): Promise<Conversation | null>;
  /** Its messages go too. */
  deleteConversation(id: string): Promise<boolean>;

  /** Chronological (created_at, then id); `limit` = only the latest N. */
  listMessages(conversationId: string, opts?: { limit?: number }): Promise<Message[]>;
  /**
   * Upsert by id (write-behind jobs may be retried): the same id twice never makes two rows; a
   * second save updates the content fields but keeps created_at. Touches the conversation's
   * updated_at. Throws a `StoreError` when the conversation does not exist, or 'conflict' when
   * the id already belongs to a message of another conversation. A message saved with `audio_end_ms`
   * (what the user heard of an interrupted reply) keeps its content, `interrupted` and `audio_end_ms`
   * when saved again without `audio_end_ms` (the full reply may be written after the interrupt).
   * A conversation still titled 'New conversation' is named after its first user message saved (`autoTitles`).
   */
  saveMessage(message: Message): Promise<void>;
  /**
   * `saveMessage` for several messages, all or none (one transaction where the store has them): the
   * write-behind worker saves a batch of turns at once. On failure nothing of the batch is kept.
   */
  saveMessages(messages: Message[]): Promise<void>;
}

export interface ConversationCreate {
  id?: string;
  title?: string;
  model_settings?: ModelSettings;
}
export interface ConversationUpdate {
  id: string;
  title?: string;
  model_settings?: ModelSettings;
}

export type StoreErrorCode = 'not_found' | 'conflict' | 'invalid' | 'unavailable';

/** The one error type adapters throw for refused input, bad references and an unreachable database. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly code: StoreErrorCode = 'invalid',
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** How `createStore` picks and configures an adapter. */
export interface StoreOptions {
  /** `postgres://` or `postgresql://` URL: use PostgreSQL. Anything else (or unset) is ignored. */
  databaseUrl?: string;
  /** Where PGlite keeps its data (in `<dataDir>/pglite`) when neither Supabase nor Postgres is configured. */
  dataDir: string;
  /** Supabase project URL; used (with the key) in preference to everything else. */
  supabaseUrl?: string;
  /** Supabase service role key (bypasses row level security); server side only. */
  supabaseServiceRoleKey?: string;
}

/** One storage engine: `createStore` uses the first adapter of `STORE_ADAPTERS` that accepts the options. */
export interface StoreAdapter {
  readonly kind: StoreKind;
  accepts(options: StoreOptions): boolean;
  create(options: StoreOptions): Store;
}

/**
 * Supabase through its REST API (PostgREST), with the service role key (server side only: it
 * bypasses row level security). PostgREST cannot run DDL, so `init()` only checks that the schema
 * is there: apply `migrationSql()` with the Supabase SQL editor or CLI first. No transactions over
 * REST: multi-step writes (saveMessage, deleteVoice) are ordered so a failure halfway leaves
 * consistent data.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import type { Character, CharacterCreate, CharacterUpdate, Conversation, Message, Voice, VoiceCreate, VoiceUpdate } from '@chorus/contracts';
import { LATEST_VERSION, migrationSql } from './migrations.js';
import {
  autoTitles,
  DEFAULT_TITLE,
  parseCharacterCreate,
  parseCharacterUpdate,
  parseConversationCreate,
  parseConversationUpdate,
  parseMessage,
  parseVoiceCreate,
  parseVoiceUpdate,
  toCharacter,
  toConversation,
  toMessage,
  toStoreError,
  toVoice,
  type Row,
} from './rows.js';
import { DEFAULT_CHARACTERS, DEFAULT_VOICES } from './seed.js';
import { StoreError, type ConversationCreate, type ConversationUpdate, type Store, type StoreAdapter } from './store.js';

export { migrationSql };

interface Result<T> {
  data: T | null;
  error: { code?: string; message: string; details?: string | null } | null;
}

/** The data of a PostgREST reply, or its error as a StoreError (`refs`: foreign key name → message). */
async function must<T>(reply: PromiseLike<Result<T>>, refs?: Record<string, string>): Promise<T> {
  const { data, error } = await reply;
  if (error) throw toStoreError(error, refs);
  return data as T;
}

const now = () => new Date().toISOString();
const voiceRef = (id: string | null | undefined) => ({ characters_voice_id_fkey: `voice "${id}" does not exist` });
// embeds the number of messages: [{ count }]
const CONVERSATION = '*, messages(count)';
const conversation = (r: Row): Conversation => toConversation({ ...r, message_count: r.messages?.[0]?.count ?? 0 });

export class SupabaseStore implements Store {
  readonly kind = 'supabase' as const;
  private readonly client;

  constructor(url: string, serviceRoleKey: string) {
    // A server process: no browser session to persist or refresh.
    this.client = createClient(url, serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false } });
  }

  private from(table: string) {
    return this.client.from(table);
  }

  async init(): Promise<void> {
    const { data, error } = await this.from('schema_migrations').select('version');
    if (error) {
      const e = toStoreError(error);
      if (e instanceof StoreError && e.code === 'unavailable') throw e;
      throw new StoreError(
        `the Supabase database has no chorus schema (${error.message}). PostgREST cannot create tables: ` +
          `apply the SQL of migrationSql() from @chorus/store once with the Supabase SQL editor or CLI ` +
          `(print it with: node -e "import('@chorus/store').then(s => console.log(s.migrationSql()))")`,
        'unavailable',
      );
    }
    const current = Math.max(0, ...(data ?? []).map((r: Row) => Number(r.version)));
    if (current < LATEST_VERSION) {
      throw new StoreError(
        `the Supabase database schema is at version ${current}, this code needs ${LATEST_VERSION}: ` +
          `apply the SQL of migrationSql(${current}) from @chorus/store with the Supabase SQL editor or CLI`,
        'unavailable',
      );
    }
    // Seed an empty database. Stable seed ids + ignoreDuplicates: two processes seeding at once is harmless.
    const voices = await must(this.from('voices').select('id').limit(1));
    const characters = await must(this.from('characters').select('id').limit(1));
    if (voices.length + characters.length > 0) return;
    const stamp = { created_at: now(), updated_at: now() };
    await must(this.from('voices').upsert(DEFAULT_VOICES.map((v) => ({ ...v, ...stamp })), { onConflict: 'id', ignoreDuplicates: true }));
    await must(
      this.from('characters').upsert(
        DEFAULT_CHARACTERS.map((c) => ({ image_url: null, greeting: null, extensions: {}, ...c, ...stamp })),
        { onConflict: 'id', ignoreDuplicates: true },
      ),
    );
  }

  async ping(): Promise<void> {
    const { error } = await this.from('schema_migrations').select('version').limit(1);
    if (error) throw new StoreError(`Supabase unavailable: ${error.message}`, 'unavailable');
  }

  async close(): Promise<void> {
    await this.client.removeAllChannels(); // nothing else is held open: REST calls are plain fetches
  }

  // ----- characters -----

  async listCharacters(): Promise<Character[]> {
    const rows = await must(this.from('characters').select('*').order('order').order('name').order('id'));
    return rows.map(toCharacter);
  }

  async getCharacter(id: string): Promise<Character | null> {
    const row = await must(this.from('characters').select('*').eq('id', id).maybeSingle());
    return row ? toCharacter(row) : null;
  }

  async createCharacter(input: CharacterCreate): Promise<Character> {
    const c = parseCharacterCreate(input);
    let order = c.order;
    if (order === undefined) {
      const [last] = await must(this.from('characters').select('order').order('order', { ascending: false }).limit(1));
      order = last ? Number(last.order) + 1 : 0;
    }
    const row = {
      id: c.id ?? randomUUID(),
      name: c.name,
      system_prompt: c.system_prompt ?? '',
      voice_id: c.voice_id ?? null,
      active: c.active ?? true,
      order,
      image_url: c.image_url ?? null,
      greeting: c.greeting ?? null,
      extensions: c.extensions ?? {},
      created_at: now(),
      updated_at: now(),
    };
    return toCharacter(await must(this.from('characters').insert(row).select('*').single(), voiceRef(c.voice_id)));
  }

  async updateCharacter(patch: CharacterUpdate): Promise<Character | null> {
    const { id, ...fields } = parseCharacterUpdate(patch);
    const row = await must(
      this.from('characters').update({ ...fields, updated_at: now() }).eq('id', id).select('*').maybeSingle(),
      voiceRef(fields.voice_id),
    );
    return row ? toCharacter(row) : null;
  }

  async deleteCharacter(id: string): Promise<boolean> {
    return (await must(this.from('characters').delete().eq('id', id).select('id'))).length > 0;
  }

  // ----- voices -----

  async listVoices(): Promise<Voice[]> {
    return (await must(this.from('voices').select('*').order('name').order('id'))).map(toVoice);
  }

  async getVoice(id: string): Promise<Voice | null> {
    const row = await must(this.from('voices').select('*').eq('id', id).maybeSingle());
    return row ? toVoice(row) : null;
  }

  async createVoice(input: VoiceCreate): Promise<Voice> {
    const v = parseVoiceCreate(input);
    const row = { id: v.id ?? randomUUID(), name: v.name, engine: v.engine, params: v.params ?? {}, created_at: now(), updated_at: now() };
    return toVoice(await must(this.from('voices').insert(row).select('*').single()));
  }

  async updateVoice(patch: VoiceUpdate): Promise<Voice | null> {
    const { id, ...fields } = parseVoiceUpdate(patch);
    const row = await must(this.from('voices').update({ ...fields, updated_at: now() }).eq('id', id).select('*').maybeSingle());
    return row ? toVoice(row) : null;
  }

  async deleteVoice(id: string): Promise<boolean> {
    // The foreign key nulls voice_id by itself; doing it first also bumps the characters' updated_at.
    await must(this.from('characters').update({ voice_id: null, updated_at: now() }).eq('voice_id', id));
    return (await must(this.from('voices').delete().eq('id', id).select('id'))).length > 0;
  }

  // ----- conversations -----

  async listConversations(): Promise<Conversation[]> {
    const rows = await must(this.from('conversations').select(CONVERSATION).order('updated_at', { ascending: false }).order('id'));
    return rows.map(conversation);
  }

  async getConversation(id: string): Promise<Conversation | null> {
    const row = await must(this.from('conversations').select(CONVERSATION).eq('id', id).maybeSingle());
    return row ? conversation(row) : null;
  }

  async createConversation(input?: ConversationCreate): Promise<Conversation> {
    const c = parseConversationCreate(input);
    const row = {
      id: c.id ?? randomUUID(),
      title: c.title ?? DEFAULT_TITLE,
      model_settings: c.model_settings ?? {},
      created_at: now(),
      updated_at: now(),
    };
    return conversation(await must(this.from('conversations').insert(row).select(CONVERSATION).single()));
  }

  async updateConversation(patch: ConversationUpdate): Promise<Conversation | null> {
    const { id, ...fields } = parseConversationUpdate(patch);
    const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    const row = await must(
      this.from('conversations').update({ ...set, updated_at: now() }).eq('id', id).select(CONVERSATION).maybeSingle(),
    );
    return row ? conversation(row) : null;
  }

  async deleteConversation(id: string): Promise<boolean> {
    // messages go by ON DELETE CASCADE
    return (await must(this.from('conversations').delete().eq('id', id).select('id'))).length > 0;
  }

  // ----- messages -----

  /** Note: PostgREST caps a reply at its max-rows setting (1000 on Supabase by default). */
  async listMessages(conversationId: string, opts: { limit?: number } = {}): Promise<Message[]> {
    const base = this.from('messages').select('*').eq('conversation_id', conversationId);
    if (opts.limit === undefined) {
      return (await must(base.order('created_at').order('id'))).map(toMessage);
    }
    const limit = Math.max(0, Math.floor(opts.limit));
    if (limit === 0) return [];
    const latest = await must(base.order('created_at', { ascending: false }).order('id', { ascending: false }).limit(limit));
    return latest.map(toMessage).reverse();
  }

  async saveMessage(message: Message): Promise<void> {
    const m = parseMessage(message);
    const refs = { messages_conversation_id_fkey: `conversation "${m.conversation_id}" does not exist` };
    const { error } = await this.from('messages').insert(m);
    if (error?.code === '23505') {
      // A retry: update what may have changed, never created_at nor the conversation.
      const { id, conversation_id, created_at, ...fields } = m;
      // Once a message holds what was heard (audio_end_ms set), a save without it keeps that text.
      const keepHeard = m.audio_end_ms === null ? { content: undefined, interrupted: undefined, audio_end_ms: undefined } : {};
      const unheard = await must(this.from('messages').select('id').eq('id', id).is('audio_end_ms', null));
      const patch = unheard.length ? fields : { ...fields, ...keepHeard };
      const updated = await must(
        this.from('messages').update(patch).eq('id', id).eq('conversation_id', conversation_id).select('id'),
      );
      if (updated.length === 0) throw new StoreError(`message "${id}" already belongs to another conversation`, 'conflict');
    } else if (error) {
      throw toStoreError(error, refs);
    }
    await must(this.from('conversations').update({ updated_at: now() }).eq('id', m.conversation_id));
    const title = autoTitles([m]).get(m.conversation_id);
    if (title) await must(this.from('conversations').update({ title }).eq('id', m.conversation_id).eq('title', DEFAULT_TITLE));
  }

  /** REST has no transaction: saved one after another; a failure leaves the earlier ones saved (upserts: a retry is harmless). */
  async saveMessages(messages: Message[]): Promise<void> {
    for (const m of messages) await this.saveMessage(m);
  }
}

export const supabaseAdapter: StoreAdapter = {
  kind: 'supabase',
  accepts: (o) => Boolean(o.supabaseUrl && o.supabaseServiceRoleKey),
  create: (o) => new SupabaseStore(o.supabaseUrl!, o.supabaseServiceRoleKey!),
};

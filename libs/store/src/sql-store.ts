/** The Store implemented once in SQL, over any PostgreSQL-speaking executor (pg Pool, PGlite). */
import { randomUUID } from 'node:crypto';
import type { Character, CharacterCreate, CharacterUpdate, Conversation, Message, Voice, VoiceCreate, VoiceUpdate } from '@chorus/contracts';
import { LATEST_VERSION, MIGRATIONS, MIGRATIONS_TABLE_SQL } from './migrations.js';
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
import { StoreError, type ConversationCreate, type ConversationUpdate, type Store, type StoreKind } from './store.js';

/** The little an adapter must provide. Parameters are `$1, $2, …`. */
export interface SqlExecutor {
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Any constant: the key of the advisory lock that serialises `init()` across processes. */
const INIT_LOCK_KEY = 7_263_410_001;

const VOICE = 'id, name, engine, params, created_at, updated_at';
const CHARACTER = 'id, name, system_prompt, voice_id, active, "order", image_url, greeting, extensions, created_at, updated_at';
const CONVERSATION = `id, title, model_settings, created_at, updated_at,
  (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id) AS message_count`;
const MESSAGE =
  'id, conversation_id, role, name, character_id, content, turn_id, interrupted, audio_end_ms, created_at';

// Columns a patch may set, and the SQL cast of their parameter (jsonb goes in as JSON text).
const CHARACTER_FIELDS = {
  name: '',
  system_prompt: '',
  voice_id: '',
  active: '',
  order: '',
  image_url: '',
  greeting: '',
  extensions: '::jsonb',
} as const;
const VOICE_FIELDS = { name: '', engine: '', params: '::jsonb' } as const;

const json = (v: unknown) => JSON.stringify(v ?? {});
const voiceRef = (id: string | null | undefined) => ({ characters_voice_id_fkey: `voice "${id}" does not exist` });

/** `SET a = $2, b = $3::jsonb, updated_at = clock_timestamp()` for the fields present in `patch` ($1 is the id). */
function setClause(patch: object, fields: Record<string, string>): { sql: string; params: unknown[] } {
  const values = patch as Record<string, unknown>;
  const sets: string[] = [];
  const params: unknown[] = [];
  for (const [key, cast] of Object.entries(fields)) {
    if (values[key] === undefined) continue;
    params.push(cast === '::jsonb' ? json(values[key]) : values[key]);
    sets.push(`"${key}" = $${params.length + 1}${cast}`);
  }
  sets.push('updated_at = clock_timestamp()');
  return { sql: sets.join(', '), params };
}

export class SqlStore implements Store {
  constructor(
    readonly kind: StoreKind,
    private readonly db: SqlExecutor,
  ) {}

  /** Runs `fn`, turning database errors into StoreErrors (`refs`: foreign key name → message). */
  private async run<T>(fn: () => Promise<T>, refs?: Record<string, string>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toStoreError(e, refs);
    }
  }

  async init(): Promise<void> {
    await this.run(() =>
      this.db.transaction(async (tx) => {
        // Two processes starting at once: the second waits here until the first has committed.
        await tx.query('SELECT pg_advisory_xact_lock($1)', [INIT_LOCK_KEY]);
        await tx.exec(MIGRATIONS_TABLE_SQL);
        const applied = new Set(
          (await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
        );
        if (Math.max(0, ...applied) > LATEST_VERSION) {
          throw new StoreError(
            `the database schema (version ${Math.max(...applied)}) is newer than this code (${LATEST_VERSION})`,
            'conflict',
          );
        }
        for (const m of MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await tx.exec(m.sql);
          await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        }
        await seedIfEmpty(tx);
      }),
    );
  }

  async ping(): Promise<void> {
    try {
      await this.db.query('SELECT 1');
    } catch (e) {
      const err = toStoreError(e);
      throw err instanceof StoreError ? err : new StoreError(`database unavailable: ${err.message}`, 'unavailable');
    }
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // ----- characters -----

  listCharacters(): Promise<Character[]> {
    return this.run(async () =>
      (await this.db.query(`SELECT ${CHARACTER} FROM characters ORDER BY "order", name, id`)).map(toCharacter),
    );
  }

  getCharacter(id: string): Promise<Character | null> {
    return this.run(async () => {
      const [row] = await this.db.query(`SELECT ${CHARACTER} FROM characters WHERE id = $1`, [id]);
      return row ? toCharacter(row) : null;
    });
  }

  async createCharacter(input: CharacterCreate): Promise<Character> {
    const c = parseCharacterCreate(input);
    return this.run(() => insertCharacter(this.db, c), voiceRef(c.voice_id));
  }

  async updateCharacter(patch: CharacterUpdate): Promise<Character | null> {
    const p = parseCharacterUpdate(patch);
    const set = setClause(p, CHARACTER_FIELDS);
    return this.run(async () => {
      const [row] = await this.db.query(`UPDATE characters SET ${set.sql} WHERE id = $1 RETURNING ${CHARACTER}`, [
        p.id,
        ...set.params,
      ]);
      return row ? toCharacter(row) : null;
    }, voiceRef(p.voice_id));
  }

  deleteCharacter(id: string): Promise<boolean> {
    return this.run(async () => (await this.db.query('DELETE FROM characters WHERE id = $1 RETURNING id', [id])).length > 0);
  }

  // ----- voices -----

  listVoices(): Promise<Voice[]> {
    return this.run(async () => (await this.db.query(`SELECT ${VOICE} FROM voices ORDER BY name, id`)).map(toVoice));
  }

  getVoice(id: string): Promise<Voice | null> {
    return this.run(async () => {
      const [row] = await this.db.query(`SELECT ${VOICE} FROM voices WHERE id = $1`, [id]);
      return row ? toVoice(row) : null;
    });
  }

  async createVoice(input: VoiceCreate): Promise<Voice> {
    const v = parseVoiceCreate(input);
    return this.run(() => insertVoice(this.db, v));
  }

  async updateVoice(patch: VoiceUpdate): Promise<Voice | null> {
    const p = parseVoiceUpdate(patch);
    const set = setClause(p, VOICE_FIELDS);
    return this.run(async () => {
      const [row] = await this.db.query(`UPDATE voices SET ${set.sql} WHERE id = $1 RETURNING ${VOICE}`, [p.id, ...set.params]);
      return row ? toVoice(row) : null;
    });
  }

  deleteVoice(id: string): Promise<boolean> {
    return this.run(() =>
      this.db.transaction(async (tx) => {
        // The foreign key would null voice_id by itself; doing it here also bumps updated_at.
        await tx.query('UPDATE characters SET voice_id = NULL, updated_at = clock_timestamp() WHERE voice_id = $1', [id]);
        return (await tx.query('DELETE FROM voices WHERE id = $1 RETURNING id', [id])).length > 0;
      }),
    );
  }

  // ----- conversations -----

  listConversations(): Promise<Conversation[]> {
    return this.run(async () =>
      (await this.db.query(`SELECT ${CONVERSATION} FROM conversations c ORDER BY updated_at DESC, id`)).map(toConversation),
    );
  }

  getConversation(id: string): Promise<Conversation | null> {
    return this.run(async () => {
      const [row] = await this.db.query(`SELECT ${CONVERSATION} FROM conversations c WHERE id = $1`, [id]);
      return row ? toConversation(row) : null;
    });
  }

  async createConversation(input?: ConversationCreate): Promise<Conversation> {
    const c = parseConversationCreate(input);
    return this.run(async () => {
      const [row] = await this.db.query(
        `INSERT INTO conversations AS c (id, title, model_settings) VALUES ($1, $2, $3::jsonb) RETURNING ${CONVERSATION}`,
        [c.id ?? randomUUID(), c.title ?? DEFAULT_TITLE, json(c.model_settings)],
      );
      return toConversation(row);
    });
  }

  async updateConversation(patch: ConversationUpdate): Promise<Conversation | null> {
    const p = parseConversationUpdate(patch);
    const set = setClause(p, { title: '', model_settings: '::jsonb' });
    return this.run(async () => {
      const [row] = await this.db.query(
        `UPDATE conversations AS c SET ${set.sql} WHERE id = $1 RETURNING ${CONVERSATION}`,
        [p.id, ...set.params],
      );
      return row ? toConversation(row) : null;
    });
  }

  deleteConversation(id: string): Promise<boolean> {
    // messages go by ON DELETE CASCADE
    return this.run(async () => (await this.db.query('DELETE FROM conversations WHERE id = $1 RETURNING id', [id])).length > 0);
  }

  // ----- messages -----

  listMessages(conversationId: string, opts: { limit?: number } = {}): Promise<Message[]> {
    return this.run(async () => {
      if (opts.limit === undefined) {
        const rows = await this.db.query(
          `SELECT ${MESSAGE} FROM messages WHERE conversation_id = $1 ORDER BY created_at, id`,
          [conversationId],
        );
        return rows.map(toMessage);
      }
      // the latest N, returned oldest first
      const rows = await this.db.query(
        `SELECT * FROM (SELECT ${MESSAGE} FROM messages WHERE conversation_id = $1
           ORDER BY created_at DESC, id DESC LIMIT $2) latest ORDER BY created_at, id`,
        [conversationId, Math.max(0, Math.floor(opts.limit))],
      );
      return rows.map(toMessage);
    });
  }

  saveMessage(message: Message): Promise<void> {
    return this.saveMessages([message]);
  }

  async saveMessages(messages: Message[]): Promise<void> {
    const all = messages.map(parseMessage);
    if (!all.length) return;
    const touched = [...new Set(all.map((m) => m.conversation_id))];
    try {
      // One transaction and, ids being distinct, one statement for the batch: with PGlite most of a small
      // write's cost is per statement and per commit.
      await this.db.transaction(async (tx) => {
        const distinct = new Set(all.map((m) => m.id)).size === all.length;
        for (const batch of distinct ? [all] : all.map((m) => [m])) {
          const col = <K extends keyof Message>(k: K) => batch.map((m) => m[k]);
          const saved = await tx.query<{ id: string }>(
            `INSERT INTO messages (${MESSAGE})
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
               $8::boolean[], $9::float8[], $10::timestamptz[])
             ON CONFLICT (id) DO UPDATE SET role = excluded.role, name = excluded.name,
               character_id = excluded.character_id, turn_id = excluded.turn_id,
               content = CASE WHEN ${KEEP_HEARD} THEN messages.content ELSE excluded.content END,
               interrupted = CASE WHEN ${KEEP_HEARD} THEN messages.interrupted ELSE excluded.interrupted END,
               audio_end_ms = CASE WHEN ${KEEP_HEARD} THEN messages.audio_end_ms ELSE excluded.audio_end_ms END
             WHERE messages.conversation_id = excluded.conversation_id
             RETURNING id`,
            [col('id'), col('conversation_id'), col('role'), col('name'), col('character_id'), col('content'), col('turn_id'),
              col('interrupted'), col('audio_end_ms'), col('created_at')],
          );
          // A retried save updates what may have changed (content, interrupted, …), never created_at. An id
          // that stays unsaved already belongs to another conversation.
          const done = new Set(saved.map((r) => r.id));
          const taken = batch.find((m) => !done.has(m.id));
          if (taken) throw new StoreError(`message "${taken.id}" already belongs to another conversation`, 'conflict');
        }
        // One statement: the touched conversations' updated_at, and the title of those still without one.
        const titles = autoTitles(all);
        await tx.query(
          `UPDATE conversations c SET updated_at = clock_timestamp(),
             title = CASE WHEN c.title = $3 AND t.title IS NOT NULL THEN t.title ELSE c.title END
           FROM unnest($1::text[], $2::text[]) AS t(id, title) WHERE c.id = t.id`,
          [touched, touched.map((id) => titles.get(id) ?? null), DEFAULT_TITLE],
        );
      });
    } catch (e) {
      const missing = /\(conversation_id\)=\(([^)]*)\)/.exec(String((e as { detail?: unknown })?.detail ?? ''))?.[1];
      const named = missing ?? touched.join('" or "');
      throw toStoreError(e, { messages_conversation_id_fkey: `conversation "${named}" does not exist` });
    }
  }
}

const KEEP_HEARD = 'messages.audio_end_ms IS NOT NULL AND excluded.audio_end_ms IS NULL';

async function insertVoice(db: SqlExecutor, v: VoiceCreate): Promise<Voice> {
  const [row] = await db.query(
    `INSERT INTO voices (id, name, engine, params) VALUES ($1, $2, $3, $4::jsonb) RETURNING ${VOICE}`,
    [v.id ?? randomUUID(), v.name, v.engine, json(v.params)],
  );
  return toVoice(row);
}

async function insertCharacter(db: SqlExecutor, c: CharacterCreate): Promise<Character> {
  const [row] = await db.query(
    `INSERT INTO characters (id, name, system_prompt, voice_id, active, "order", image_url, greeting, extensions)
     VALUES ($1, $2, $3, $4, $5, COALESCE($6::int, (SELECT COALESCE(MAX("order"), -1) + 1 FROM characters)), $7, $8, $9::jsonb)
     RETURNING ${CHARACTER}`,
    [
      c.id ?? randomUUID(),
      c.name,
      c.system_prompt ?? '',
      c.voice_id ?? null,
      c.active ?? true,
      c.order ?? null,
      c.image_url ?? null,
      c.greeting ?? null,
      json(c.extensions),
    ],
  );
  return toCharacter(row);
}

/** Seeds the defaults when there are no voices and no characters (run under the init lock). */
async function seedIfEmpty(tx: SqlExecutor): Promise<void> {
  const [{ n }] = await tx.query<{ n: number }>(
    'SELECT (SELECT count(*) FROM voices) + (SELECT count(*) FROM characters) AS n',
  );
  if (Number(n) > 0) return;
  for (const v of DEFAULT_VOICES) await insertVoice(tx, v);
  for (const c of DEFAULT_CHARACTERS) await insertCharacter(tx, c);
}

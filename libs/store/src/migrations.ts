/**
 * The schema, as ordered migrations. Never edit one that has shipped: add a new version instead.
 * The SQL adapters apply the pending ones at `init()` (see `migrate` in sql-store.ts); Supabase
 * databases get them from `migrationSql()` through the SQL editor or CLI.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Creates the bookkeeping table; run before reading which versions are applied. */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    // clock_timestamp(), not now(): now() is frozen for a whole transaction.
    sql: `
CREATE TABLE voices (
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 100),
  name text NOT NULL,
  engine text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE characters (
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 100),
  name text NOT NULL,
  system_prompt text NOT NULL DEFAULT '',
  voice_id text REFERENCES voices (id) ON DELETE SET NULL,
  active boolean NOT NULL DEFAULT true,
  "order" integer NOT NULL DEFAULT 0,
  image_url text,
  greeting text,
  extensions jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX characters_voice_id_idx ON characters (voice_id);

CREATE TABLE conversations (
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 100),
  title text NOT NULL DEFAULT 'New conversation',
  model_settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE messages (
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 100),
  conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('user', 'assistant')),
  name text NOT NULL DEFAULT '',
  -- no foreign key: a character may be deleted while its messages stay in the history
  character_id text,
  content text NOT NULL DEFAULT '',
  turn_id text,
  interrupted boolean NOT NULL DEFAULT false,
  audio_end_ms double precision,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_conversation_created_idx ON messages (conversation_id, created_at);
`,
  },
];

/** The newest schema version this code expects. */
export const LATEST_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * The SQL of the migrations after `fromVersion`, each recorded in schema_migrations, as one script
 * for the Supabase SQL editor or `supabase db` (PostgREST cannot run DDL). Print it with
 * `node -e "import('@chorus/store').then(s => console.log(s.migrationSql()))"`.
 * On Supabase it also enables row level security with no policies, so the public anon key reads
 * nothing while the service role key (which bypasses RLS) keeps full access, and asks PostgREST to
 * reload its schema cache. Both are harmless on plain PostgreSQL.
 */
export function migrationSql(fromVersion = 0): string {
  const parts = [MIGRATIONS_TABLE_SQL];
  for (const m of MIGRATIONS.filter((m) => m.version > fromVersion)) {
    parts.push(`-- ${m.version}: ${m.name}${m.sql}`);
    parts.push(`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, '${m.name.replaceAll("'", "''")}');`);
  }
  for (const table of ['schema_migrations', 'voices', 'characters', 'conversations', 'messages']) {
    parts.push(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`);
  }
  parts.push(`NOTIFY pgrst, 'reload schema';`);
  return `BEGIN;\n${parts.join('\n')}\nCOMMIT;\n`;
}

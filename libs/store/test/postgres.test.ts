import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPgDatabase, type PgDatabase } from '../../testkit/src/postgres.js';
import { createPostgresStore, createStore, LATEST_VERSION, migrationSql, type Store } from '../src/index.js';
import { defineStoreSuite } from './store-suite.js';

defineStoreSuite('PostgreSQL', async () => {
  const db = await createPgDatabase();
  const store = createPostgresStore(db.url);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await db.drop();
    },
  };
});

describe('PostgreSQL store', () => {
  const dbs: PgDatabase[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(dbs.splice(0).map((d) => d.drop()));
  });
  async function freshDb() {
    const db = await createPgDatabase();
    dbs.push(db);
    return db;
  }
  async function count(url: string, table: string): Promise<number> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
    } finally {
      await client.end();
    }
  }

  it('two concurrent init() on a fresh database neither fail nor seed twice', async () => {
    const db = await freshDb();
    const a = createStore({ databaseUrl: db.url, dataDir: '/nonexistent' });
    const b = createStore({ databaseUrl: db.url.replace(/^postgres:/, 'postgresql:'), dataDir: '/nonexistent' });
    stores.push(a, b);
    expect([a.kind, b.kind]).toEqual(['postgres', 'postgres']);
    await Promise.all([a.init(), b.init(), a.init()]);
    expect(await count(db.url, 'voices')).toBe(5);
    expect(await count(db.url, 'characters')).toBe(2);
    expect(await count(db.url, 'schema_migrations')).toBe(LATEST_VERSION);
    expect((await b.listCharacters()).map((c) => c.name)).toEqual(['Alice', 'Bob']);
  });

  it('migrationSql() (for Supabase) builds the same schema the adapter expects', async () => {
    const db = await freshDb();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(migrationSql());
    } finally {
      await client.end();
    }
    const store = createPostgresStore(db.url);
    stores.push(store);
    await store.init(); // finds every migration applied, only seeds
    expect(await count(db.url, 'schema_migrations')).toBe(LATEST_VERSION);
    expect((await store.listVoices()).length).toBe(5);
    const conv = await store.createConversation();
    expect(await store.getConversation(conv.id)).toMatchObject({ id: conv.id, message_count: 0 });
  });

  it('reports an unreachable server as a StoreError "unavailable"', async () => {
    const store = createPostgresStore('postgres://postgres@127.0.0.1:1/none', 1);
    stores.push(store);
    await expect(store.ping()).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
    await expect(store.listCharacters()).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
  });
});

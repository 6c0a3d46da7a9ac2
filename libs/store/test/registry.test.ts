import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { STORE_ADAPTERS, createStore } from '../src/index.js';

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('createStore', () => {
  const pick = (o: Parameters<typeof createStore>[0]) => STORE_ADAPTERS.find((a) => a.accepts(o))!.kind;

  it('picks Supabase, then PostgreSQL, then PGlite', () => {
    const supabase = { supabaseUrl: 'http://127.0.0.1:1', supabaseServiceRoleKey: 'key' };
    expect(pick({ dataDir: 'd', databaseUrl: 'postgres://x/y', ...supabase })).toBe('supabase');
    expect(pick({ dataDir: 'd', databaseUrl: 'postgres://x/y', supabaseUrl: 'http://x' })).toBe('postgres');
    expect(pick({ dataDir: 'd', databaseUrl: 'postgresql://x/y' })).toBe('postgres');
    expect(pick({ dataDir: 'd', databaseUrl: 'mysql://x/y' })).toBe('pglite');
    expect(pick({ dataDir: 'd' })).toBe('pglite');
  });

  // Only the refusal path: there is no PostgREST here to test the Supabase adapter against.
  it('Supabase adapter: an unreachable API is a StoreError "unavailable"', async () => {
    const store = createStore({ dataDir: 'unused', supabaseUrl: `http://127.0.0.1:${await closedPort()}`, supabaseServiceRoleKey: 'k' });
    expect(store.kind).toBe('supabase');
    await expect(store.init()).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
    await expect(store.ping()).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
    await store.close();
  });
});

import { pgliteAdapter } from './pglite.js';
import { postgresAdapter } from './postgres.js';
import type { Store, StoreAdapter, StoreOptions } from './store.js';
import { supabaseAdapter } from './supabase.js';

export * from './store.js';
export * from './migrations.js';
export * from './seed.js';
export { SqlStore, type SqlExecutor } from './sql-store.js';
export { DEFAULT_TITLE } from './rows.js';
export { createPgliteStore, pgliteAdapter } from './pglite.js';
export { createPostgresStore, postgresAdapter } from './postgres.js';
export { SupabaseStore, supabaseAdapter } from './supabase.js';

/**
 * The engines, most specific first: `createStore` takes the first that accepts the options.
 * Adding an engine = one new file exporting a `StoreAdapter`, plus one line here.
 */
export const STORE_ADAPTERS: readonly StoreAdapter[] = [
  supabaseAdapter, // supabaseUrl and supabaseServiceRoleKey both set
  postgresAdapter, // databaseUrl starts with postgres:// or postgresql://
  pgliteAdapter, // otherwise: PGlite files under <dataDir>/pglite
];

/**
 * The store the options ask for: Supabase when both supabase fields are set, else PostgreSQL when
 * `databaseUrl` is a `postgres://`/`postgresql://` URL, else PGlite under `dataDir`.
 * Call `init()` before use (PostgreSQL connects on the first query; PGlite opens its directory at once).
 */
export function createStore(options: StoreOptions): Store {
  const adapter = STORE_ADAPTERS.find((a) => a.accepts(options));
  if (!adapter) throw new Error('no store adapter accepts these options'); // unreachable: PGlite accepts all
  return adapter.create(options);
}

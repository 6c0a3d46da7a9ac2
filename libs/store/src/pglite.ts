/**
 * PGlite (Postgres compiled to WASM, in-process) keeping its data in `<dataDir>/pglite`.
 * The default engine: nothing to install or run. PGlite is single-process: only one process may
 * open a data directory at a time (a second one would corrupt it), so scale out with PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { SqlStore, type SqlExecutor } from './sql-store.js';
import type { StoreAdapter } from './store.js';

type Queryable = Pick<Transaction, 'query' | 'exec'>;

function executor(db: Queryable, root: PGlite | null): SqlExecutor {
  return {
    query: async <T>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows,
    exec: async (sql) => {
      await db.exec(sql);
    },
    // Inside a transaction a nested one simply joins it.
    transaction: (fn) => (root ? root.transaction((tx) => fn(executor(tx, null))) : fn(executor(db, null))),
    close: async () => {
      if (root && !root.closed) await root.close();
    },
  };
}

/** A store on PGlite with its files under `dir` (created if missing); `undefined` keeps it in memory. */
export function createPgliteStore(dir?: string): SqlStore {
  if (dir) mkdirSync(dir, { recursive: true });
  const db = new PGlite(dir);
  return new SqlStore('pglite', executor(db, db));
}

export const pgliteAdapter: StoreAdapter = {
  kind: 'pglite',
  accepts: () => true,
  create: (o) => createPgliteStore(path.join(o.dataDir, 'pglite')),
};

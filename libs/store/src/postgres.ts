/** PostgreSQL through a `pg` connection pool; several processes may share one database. */
import pg from 'pg';
import { SqlStore, type SqlExecutor } from './sql-store.js';
import type { StoreAdapter } from './store.js';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

function executor(db: Queryable, pool: pg.Pool | null): SqlExecutor {
  return {
    // Without parameters pg uses the simple protocol, which also runs multi-statement scripts.
    query: async <T>(sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows as T[],
    exec: async (sql) => {
      await db.query(sql);
    },
    transaction: async (fn) => {
      if (!pool) return fn(executor(db, null)); // nested: join the running transaction
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(executor(client, null));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    close: async () => {
      if (pool && !pool.ended) await pool.end();
    },
  };
}

/** A store on the database at `url` (`postgres://user:password@host:port/database`). Pool of at most `max` connections (default 10). */
export function createPostgresStore(url: string, max = 10): SqlStore {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle connection that breaks (server restart) emits 'error' on the pool; without a listener
  // that would crash the process. The next query reconnects or fails with a StoreError instead.
  pool.on('error', () => {});
  return new SqlStore('postgres', executor(pool, pool));
}

export const postgresAdapter: StoreAdapter = {
  kind: 'postgres',
  accepts: (o) => /^postgres(ql)?:\/\//.test(o.databaseUrl ?? ''),
  create: (o) => createPostgresStore(o.databaseUrl!),
};

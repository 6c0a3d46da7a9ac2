import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface PgDatabase {
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, closing whatever connections are still open to it. Safe to call twice. */
  drop(): Promise<void>;
}

async function admin<T>(baseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a uniquely named, empty database on the local PostgreSQL (trust auth at 127.0.0.1:5432
 * unless `TEST_PG_URL` says otherwise), so test files running in parallel never share state.
 */
export async function createPgDatabase(
  baseUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
): Promise<PgDatabase> {
  // lower case letters, digits and _ only, so the name needs no quoting rules beyond "..."
  const name = `chorus_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin(baseUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(baseUrl, async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

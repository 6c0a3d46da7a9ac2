import { Redis, type RedisOptions } from 'ioredis';
import { hostname } from 'node:os';

export type { Redis };

/** A command connection. Blocking reads (XREAD/XREADGROUP BLOCK) must use their own connection. */
export function connectRedis(url: string, name: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    // Streams code retries on its own; queued commands must not fail while Redis restarts.
    maxRetriesPerRequest: null,
    // Auto-pipelining copies every defined script per command (costly with BullMQ's); we pipeline explicitly.
    enableAutoPipelining: false,
    ...options,
  });
}

export const defaultWorkerId = (stage: string) => `${stage}-${hostname()}-${process.pid}`;

/** Appends one entry to a bounded, expiring stream in a single round trip. Returns the entry id. */
export async function appendEntry(
  redis: Redis,
  key: string,
  fields: string[],
  opts: { maxLen: number; ttlSec?: number },
): Promise<string> {
  const pipe = redis.pipeline().xadd(key, 'MAXLEN', '~', opts.maxLen, '*', ...fields);
  if (opts.ttlSec) pipe.expire(key, opts.ttlSec);
  const res = await pipe.exec();
  const [err, id] = res![0]!;
  if (err) throw err;
  return id as string;
}

/** Turns ioredis' `[id, [f, v, …]]` stream replies into objects. */
export type RawEntry = [id: string, fields: string[]];

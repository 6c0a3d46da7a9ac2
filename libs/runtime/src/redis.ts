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

/** Turns ioredis' `[id, [f, v, …]]` stream replies into objects. */
export type RawEntry = [id: string, fields: string[]];

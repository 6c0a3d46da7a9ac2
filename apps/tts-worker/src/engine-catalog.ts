import { KEYS } from '@chorus/contracts';
import type { Redis } from 'ioredis';
import type { EngineSet } from './engines/index.js';

export interface EngineCatalogOptions {
  /** How often the catalog's expiry is renewed (default 2000 ms, as the presence heartbeat). */
  intervalMs?: number;
  /** How long one renewal counts (default 3 × interval). */
  ttlMs?: number;
}

/**
 * Publishes what this worker's engines offer (`ttsengines:<worker>`) for the edge's `get_tts_engines`.
 * Described once at start — an engine's voices and params follow from the worker's settings — and renewed
 * with a TTL, so the catalog disappears with the worker as its presence does.
 */
export async function publishEngineCatalog(redis: Redis, workerId: string, engines: EngineSet, o: EngineCatalogOptions = {}) {
  const intervalMs = o.intervalMs ?? 2000;
  const ttlMs = o.ttlMs ?? intervalMs * 3;
  const key = KEYS.ttsEngines(workerId);
  const json = JSON.stringify(await engines.describe());
  const renew = () => redis.set(key, json, 'PX', ttlMs).catch(() => undefined);
  await renew();
  const timer = setInterval(renew, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await redis.del(key).catch(() => undefined);
    },
  };
}

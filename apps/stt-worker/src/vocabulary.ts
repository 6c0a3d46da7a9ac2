import { Character, KEYS } from '@chorus/contracts';
import type { Redis } from 'ioredis';
import { z } from 'zod';

const Characters = z.array(Character);

/**
 * The characters' names, so the engine can recognise "@Alice": read from the catalog the edge publishes
 * in Redis, at most once per `maxAgeMs`.
 */
export class Vocabulary {
  private cached: string[] = [];
  private readAt = 0;
  private inflight?: Promise<string[]>;

  constructor(
    private readonly redis: Redis,
    private readonly maxAgeMs = 2000,
  ) {}

  names(): Promise<string[]> {
    if (Date.now() - this.readAt < this.maxAgeMs) return Promise.resolve(this.cached);
    this.inflight ??= this.redis
      .get(KEYS.characters)
      .then((raw) => {
        const all = raw ? Characters.parse(JSON.parse(raw)) : [];
        this.cached = [...new Set(all.filter((c) => c.active).map((c) => c.name))].sort();
        this.readAt = Date.now();
        return this.cached;
      })
      .catch(() => this.cached)
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }
}

import { KEYS } from '@chorus/contracts';
import type { Redis } from 'ioredis';

export interface PresenceOptions {
  /** How often the heartbeat is written (default 2000 ms). */
  intervalMs?: number;
  /** How long one heartbeat counts (default 3 × interval). */
  ttlMs?: number;
  /**
   * A value that lives exactly as long as this worker's presence (e.g. what the worker offers): written
   * before each heartbeat with the same expiry, deleted on stop. Default none.
   */
  card?: { key: string; value: string };
}

/** Announces a live worker of a stage in `presence:<stage>` (score = expiry time) until stopped. */
export function startPresence(redis: Redis, stage: string, workerId: string, opts: PresenceOptions = {}) {
  const intervalMs = opts.intervalMs ?? 2000;
  const ttlMs = opts.ttlMs ?? intervalMs * 3;
  const card = opts.card;
  // Each beat also drops expired members, so ids of dead processes never pile up. The card goes first on
  // the connection: whoever sees the worker alive finds its card.
  const beat = () => {
    if (card) redis.set(card.key, card.value, 'PX', ttlMs).catch(() => undefined);
    return redis
      .multi()
      .zremrangebyscore(KEYS.presence(stage), '-inf', Date.now())
      .zadd(KEYS.presence(stage), Date.now() + ttlMs, workerId)
      .exec()
      .catch(() => undefined);
  };
  void beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([
        redis.zrem(KEYS.presence(stage), workerId).catch(() => undefined),
        card && redis.del(card.key).catch(() => undefined),
      ]);
    },
  };
}

/** Ids of the workers of a stage whose heartbeat has not expired; drops expired ones. */
export async function liveWorkers(redis: Redis, stage: string): Promise<string[]> {
  const now = Date.now();
  const key = KEYS.presence(stage);
  const [, live] = await Promise.all([redis.zremrangebyscore(key, '-inf', now), redis.zrangebyscore(key, now, '+inf')]);
  return live;
}

/** Whether a stage has a live worker, asked of Redis at most once per `maxAgeMs` (default 1000). */
export class StageWatch {
  private alive = false;
  private checkedAt = 0;
  private inflight?: Promise<boolean>;

  constructor(
    private readonly redis: Redis,
    private readonly stage: string,
    private readonly maxAgeMs = 1000,
  ) {}

  isAlive(): Promise<boolean> {
    if (Date.now() - this.checkedAt < this.maxAgeMs) return Promise.resolve(this.alive);
    this.inflight ??= liveWorkers(this.redis, this.stage)
      .then((live) => {
        this.alive = live.length > 0;
        this.checkedAt = Date.now();
        return this.alive;
      })
      .catch(() => this.alive)
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }
}

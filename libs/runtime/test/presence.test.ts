import { KEYS } from '@chorus/contracts';
import { connectRedis, liveWorkers, startPresence, type Redis } from '@chorus/runtime';
import { startRedis, waitUntil, type RedisServer } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RedisServer;
let redis: Redis;
let seq = 0;
const stopAfter: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'presence-test');
  await redis.ping();
});

afterAll(async () => {
  await Promise.all(stopAfter.map((p) => p.stop()));
  redis?.disconnect();
  await server?.stop();
});

const freshStage = () => `stage${++seq}`;

describe('presence', () => {
  it('lists the live workers of a stage, and only of that stage', async () => {
    const stage = freshStage();
    const other = freshStage();
    const a = startPresence(redis, stage, 'worker-a', { intervalMs: 100, ttlMs: 10_000 });
    const b = startPresence(redis, stage, 'worker-b', { intervalMs: 100, ttlMs: 10_000 });
    const c = startPresence(redis, other, 'worker-c', { intervalMs: 100, ttlMs: 10_000 });
    stopAfter.push(a, b, c);

    await waitUntil(async () => (await liveWorkers(redis, stage)).length === 2, { timeoutMs: 10_000 });
    expect((await liveWorkers(redis, stage)).sort()).toEqual(['worker-a', 'worker-b']);
    expect(await liveWorkers(redis, other)).toEqual(['worker-c']);
  });

  it('keeps pushing the expiry of a live worker forward', async () => {
    const stage = freshStage();
    const p = startPresence(redis, stage, 'beating', { intervalMs: 50, ttlMs: 10_000 });
    stopAfter.push(p);
    let first: number | undefined;
    await waitUntil(async () => {
      const score = await redis.zscore(KEYS.presence(stage), 'beating');
      if (score === null) return false;
      first ??= Number(score);
      return Number(score) > first;
    }, { timeoutMs: 10_000, message: 'the heartbeat never renewed the expiry' });
    expect(await liveWorkers(redis, stage)).toEqual(['beating']);
  });

  it('is empty for a stage nobody announced', async () => {
    expect(await liveWorkers(redis, freshStage())).toEqual([]);
  });

  it('drops a worker whose heartbeat expired', async () => {
    const stage = freshStage();
    const live = startPresence(redis, stage, 'alive', { intervalMs: 100, ttlMs: 10_000 });
    // One heartbeat that counts for 50 ms, and no further beat for a minute: a worker that stopped beating.
    const silent = startPresence(redis, stage, 'silent', { intervalMs: 60_000, ttlMs: 50 });
    stopAfter.push(live, silent);
    await waitUntil(async () => (await redis.zscore(KEYS.presence(stage), 'silent')) !== null, { timeoutMs: 10_000 });

    await waitUntil(async () => {
      const workers = await liveWorkers(redis, stage);
      return workers.includes('alive') && !workers.includes('silent');
    }, { timeoutMs: 10_000 });
    // liveWorkers removed the expired member from the set.
    expect(await redis.zscore(KEYS.presence(stage), 'silent')).toBeNull();
    expect(await redis.zscore(KEYS.presence(stage), 'alive')).not.toBeNull();
  });

  it('drops an expired entry written by a crashed worker', async () => {
    const stage = freshStage();
    await redis.zadd(KEYS.presence(stage), Date.now() - 1_000, 'crashed');
    await redis.zadd(KEYS.presence(stage), Date.now() + 60_000, 'fresh');
    expect(await liveWorkers(redis, stage)).toEqual(['fresh']);
    expect(await redis.zrange(KEYS.presence(stage), 0, -1)).toEqual(['fresh']);
  });

  it('stop() removes the worker at once and stops its heartbeat', async () => {
    const stage = freshStage();
    const p = startPresence(redis, stage, 'leaving', { intervalMs: 50, ttlMs: 10_000 });
    const stays = startPresence(redis, stage, 'staying', { intervalMs: 50, ttlMs: 10_000 });
    stopAfter.push(stays);
    await waitUntil(async () => (await liveWorkers(redis, stage)).length === 2, { timeoutMs: 10_000 });

    await p.stop();
    expect(await liveWorkers(redis, stage)).toEqual(['staying']);
    // No later heartbeat brings it back.
    await new Promise((r) => setTimeout(r, 300));
    expect(await liveWorkers(redis, stage)).toEqual(['staying']);
    expect(await redis.zscore(KEYS.presence(stage), 'leaving')).toBeNull();
  });

  it("keeps a worker's card exactly as long as its presence: renewed with each beat, gone on stop or when the beats stop", async () => {
    const stage = freshStage();
    const card = { key: `card:${stage}:beating`, value: '{"engines":[]}' };
    const p = startPresence(redis, stage, 'beating', { intervalMs: 50, ttlMs: 10_000, card });
    stopAfter.push(p);
    await waitUntil(async () => (await liveWorkers(redis, stage)).includes('beating'), { timeoutMs: 10_000 });
    // Written before the heartbeat that made the worker visible.
    expect(await redis.get(card.key)).toBe(card.value);
    await redis.pexpire(card.key, 5_000);
    await waitUntil(async () => (await redis.pttl(card.key)) > 5_000, { timeoutMs: 10_000, message: 'the heartbeat never renewed the card' });

    await p.stop();
    expect(await redis.exists(card.key)).toBe(0);

    // A worker that stops beating (a crash) takes its card along when its presence expires.
    const silentCard = { key: `card:${stage}:silent`, value: 'x' };
    const silent = startPresence(redis, stage, 'silent', { intervalMs: 60_000, ttlMs: 50, card: silentCard });
    stopAfter.push(silent);
    await waitUntil(async () => (await redis.zscore(KEYS.presence(stage), 'silent')) !== null, { timeoutMs: 10_000 });
    await waitUntil(async () => (await redis.exists(silentCard.key)) === 0 && !(await liveWorkers(redis, stage)).includes('silent'), { timeoutMs: 10_000 });
  });
});

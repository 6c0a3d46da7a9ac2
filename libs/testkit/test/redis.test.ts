import { Redis } from 'ioredis';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../src/redis.js';

const started: RedisServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

async function client(url: string): Promise<Redis> {
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
  r.on('error', () => {});
  await r.connect();
  return r;
}

describe('startRedis', () => {
  it('starts an isolated redis-server that answers, and stops it (idempotently)', async () => {
    const a = await startRedis();
    started.push(a);
    const b = await startRedis({ args: ['--maxmemory', '12mb'] });
    started.push(b);
    expect(a.url).toBe(`redis://127.0.0.1:${a.port}`);
    expect(a.port).not.toBe(b.port);

    const ra = await client(a.url);
    const rb = await client(b.url);
    try {
      await ra.set('k', 'from-a');
      expect(await ra.get('k')).toBe('from-a');
      expect(await rb.get('k')).toBeNull();
      // Streams work (the project's transport).
      await ra.xadd('s', '*', 'f', 'v');
      expect(await ra.xlen('s')).toBe(1);
      // Extra args are applied; persistence is off; the dir is a private temp dir.
      expect(await rb.config('GET', 'maxmemory')).toEqual(['maxmemory', String(12 * 1024 * 1024)]);
      expect(await ra.config('GET', 'save')).toEqual(['save', '']);
      expect(await ra.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
      const [, dir] = (await ra.config('GET', 'dir')) as string[];
      expect(dir).toMatch(/chorus-redis-/);
      expect(existsSync(dir)).toBe(true);

      ra.disconnect();
      await a.stop();
      expect(existsSync(dir)).toBe(false);
      await a.stop(); // idempotent
      await expect(client(a.url)).rejects.toThrow();

      expect(await rb.ping()).toBe('PONG'); // the other instance is untouched
    } finally {
      ra.disconnect();
      rb.disconnect();
    }
    await Promise.all([b.stop(), b.stop()]);
  });

  it('rejects with redis-server output when the arguments are bad', async () => {
    await expect(startRedis({ args: ['--no-such-option', 'x'] })).rejects.toThrow(/exited|FATAL|Bad directive/i);
  });
});

import { command, connectRedis, holdWrites, TickBatch, type Redis } from '@chorus/runtime';
import { startRedis, type RedisServer } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: RedisServer;
let redis: Redis;
let probe: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'batch-test');
  probe = connectRedis(server.url, 'batch-probe');
  await Promise.all([redis.ping(), probe.ping()]);
});

afterAll(async () => {
  redis?.disconnect();
  probe?.disconnect();
  await server?.stop();
});

/** Socket reads Redis has processed so far (each readable event of a client socket counts one). */
async function readsProcessed(): Promise<number> {
  const info = await probe.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(info)![1]);
}

const nextLoopTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('TickBatch', () => {
  it('sends the commands of one loop turn in one socket write, each with its own reply', async () => {
    const batch = new TickBatch(redis);
    const before = await readsProcessed();
    const replies = Array.from({ length: 20 }, (_, i) => batch.send<number>('rpush', ['batch:list', `item-${i}`]));
    await batch.flush();
    // Our 20 commands arrived in one read; the probe's own INFO adds one.
    expect((await readsProcessed()) - before).toBe(2);
    expect(await Promise.all(replies)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await redis.lrange('batch:list', 0, -1)).toEqual(Array.from({ length: 20 }, (_, i) => `item-${i}`));
  });

  it('holds the writes until the end of the loop turn, or until sendNow()', async () => {
    const batch = new TickBatch(redis);
    void batch.send('set', ['batch:held', '1']);
    expect(redis.stream.writableCorked).toBeGreaterThan(0);
    await nextLoopTurn();
    expect(redis.stream.writableCorked).toBe(0);

    void batch.send('set', ['batch:held', '2']);
    batch.sendNow();
    expect(redis.stream.writableCorked).toBe(0);
    await batch.flush();
    expect(await redis.get('batch:held')).toBe('2');
  });

  it('shares the write with other commands on the connection and keeps their order', async () => {
    const batch = new TickBatch(redis);
    void batch.send('set', ['batch:order', 'first']);
    const direct = redis.append('batch:order', '+second'); // issued while the connection is held
    void batch.send('append', ['batch:order', '+third']);
    await batch.flush();
    await direct;
    expect(await redis.get('batch:order')).toBe('first+second+third');
  });

  it('flush() surfaces a failed command and the other commands still apply', async () => {
    await redis.set('batch:text', 'not a number');
    const batch = new TickBatch(redis);
    void batch.send('set', ['batch:ok', 'yes']);
    const failed = batch.send('incr', ['batch:text']);
    await expect(batch.flush()).rejects.toThrow(/not an integer/);
    await expect(failed).rejects.toThrow(/not an integer/);
    expect(await redis.get('batch:ok')).toBe('yes');
  });

  it('command() on a batch goes out with its writes and reports to its flush()', async () => {
    const batch = new TickBatch(redis);
    const reply = command<string>(batch, 'echo', ['hello']);
    void command(batch, 'incr', ['batch:text']).catch(() => undefined);
    await expect(batch.flush()).rejects.toThrow(/not an integer/);
    expect(await reply).toBe('hello');
  });

  it('holds nothing while the connection is not ready (commands wait in its own queue)', async () => {
    const late = connectRedis(server.url, 'batch-late');
    try {
      holdWrites(late); // before the connection is up: nothing to cork
      const batch = new TickBatch(late);
      const reply = batch.send<string>('echo', ['queued']);
      await batch.flush();
      expect(await reply).toBe('queued');
      expect(late.stream.writableCorked).toBe(0);
    } finally {
      late.disconnect();
    }
  });
});

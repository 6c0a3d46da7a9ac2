import { connectRedis, createLogger, lastId, StreamTail, type RawEntry, type Redis } from '@chorus/runtime';
import { sleep, startRedis, waitUntil, type RedisServer } from '@chorus/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const logger = createLogger('test', 'silent');
/** Longer than any wait below: a delivery seen within a test's waits did not come from a block timing out. */
const BLOCK_MS = 30_000;

let server: RedisServer;
let redis: Redis;
let seq = 0;
const tails: StreamTail[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'tail-test');
  await redis.ping();
});

afterEach(async () => {
  await Promise.all(tails.splice(0).map((t) => t.stop()));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const fresh = (name: string) => `${name}-${++seq}`;

/** A tail recording `[stream, value-of-field-v]` in delivery order. */
function recordingTail(blockMs = BLOCK_MS) {
  const got: Array<[stream: string, v: string]> = [];
  const batches: Array<{ stream: string; ids: string[] }> = [];
  const tail = new StreamTail({
    redis,
    logger,
    blockMs,
    onEntries: (stream, entries: RawEntry[]) => {
      batches.push({ stream, ids: entries.map(([id]) => id) });
      for (const [, fields] of entries) got.push([stream, fields[fields.indexOf('v') + 1]!]);
    },
  });
  tails.push(tail);
  const of = (stream: string) => got.filter(([s]) => s === stream).map(([, v]) => v);
  return { tail, got, batches, of };
}

const put = (stream: string, v: string) => redis.xadd(stream, '*', 'v', v) as Promise<string>;

/** Resolves once the server reports a client named `tail` blocked in XREAD (`flags=b`). */
async function tailBlocked(): Promise<void> {
  await waitUntil(
    async () => {
      const list = (await redis.client('LIST')) as string;
      return list.split('\n').some((line) => / name=tail /.test(line) && / flags=b /.test(line) && / cmd=xread /.test(line));
    },
    { timeoutMs: 15_000, message: 'the tail never blocked in XREAD' },
  );
}

describe('StreamTail', () => {
  it('delivers the entries of several streams, each in stream order', async () => {
    const a = fresh('a');
    const b = fresh('b');
    await put(a, 'before'); // entries older than add() are not replayed by default
    const { tail, of } = recordingTail();
    await tail.add(a);
    await tail.add(b);
    expect(tail.size).toBe(2);
    expect(tail.has(a) && tail.has(b)).toBe(true);
    tail.start();

    const expectedA: string[] = [];
    const expectedB: string[] = [];
    for (let i = 0; i < 30; i++) {
      await put(a, `a${i}`);
      expectedA.push(`a${i}`);
      if (i % 3 === 0) {
        await put(b, `b${i}`);
        expectedB.push(`b${i}`);
      }
    }
    await waitUntil(() => of(a).length >= 30 && of(b).length >= 10, { timeoutMs: 15_000 });
    expect(of(a)).toEqual(expectedA);
    expect(of(b)).toEqual(expectedB);
  });

  it('follows a stream added while a read is blocked without waiting for the block to time out', async () => {
    const first = fresh('first');
    const late = fresh('late');
    const { tail, of } = recordingTail(BLOCK_MS);
    await tail.add(first);
    tail.start();
    // Let the tail go through one read so that it is settled in its steady state.
    await put(first, 'warm-up');
    await waitUntil(() => of(first).length === 1, { timeoutMs: 15_000 });
    await tailBlocked();

    await tail.add(late);
    await put(late, 'hello');
    // Delivered long before the 30 s block would have expired.
    await waitUntil(() => of(late).length === 1, { timeoutMs: 10_000, message: 'the added stream was not followed before the block expired' });
    expect(of(late)).toEqual(['hello']);

    // Both streams keep being followed afterwards.
    await put(first, 'again');
    await put(late, 'again');
    await waitUntil(() => of(first).length === 2 && of(late).length === 2, { timeoutMs: 10_000 });
  });

  it('replays the entries after fromId when a stream is added from an id', async () => {
    const s = fresh('replay');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await put(s, `old${i}`));
    const { tail, of, batches } = recordingTail();
    await tail.add(s, ids[1]);
    tail.start();

    await waitUntil(() => of(s).length === 3, { timeoutMs: 15_000 });
    expect(of(s)).toEqual(['old2', 'old3', 'old4']);
    expect(batches.flatMap((b) => b.ids)).toEqual(ids.slice(2));

    await put(s, 'new');
    await waitUntil(() => of(s).length === 4, { timeoutMs: 15_000 });
    expect(of(s)).toEqual(['old2', 'old3', 'old4', 'new']);
  });

  it('replays a whole stream when added from 0-0', async () => {
    const s = fresh('whole');
    await put(s, 'x');
    await put(s, 'y');
    const { tail, of } = recordingTail();
    await tail.add(s, '0-0');
    tail.start();
    await waitUntil(() => of(s).length === 2, { timeoutMs: 15_000 });
    expect(of(s)).toEqual(['x', 'y']);
  });

  it('no longer delivers a removed stream', async () => {
    const kept = fresh('kept');
    const gone = fresh('gone');
    const { tail, of } = recordingTail();
    await tail.add(kept);
    await tail.add(gone);
    tail.start();
    await put(gone, 'g1');
    await put(kept, 'k1');
    await waitUntil(() => of(gone).length === 1 && of(kept).length === 1, { timeoutMs: 15_000 });

    tail.remove(gone);
    expect(tail.has(gone)).toBe(false);
    expect(tail.size).toBe(1);
    // Written before the marker on the kept stream: had it still been followed it would arrive first.
    await put(gone, 'g2');
    await put(kept, 'k2');
    await waitUntil(() => of(kept).length === 2, { timeoutMs: 15_000 });
    await sleep(300);
    expect(of(gone)).toEqual(['g1']);
    expect(of(kept)).toEqual(['k1', 'k2']);
  });

  it('keeps delivering after its only stream is removed and another is added', async () => {
    const one = fresh('one');
    const two = fresh('two');
    const { tail, of } = recordingTail(1_000);
    await tail.add(one);
    tail.start();
    await put(one, '1');
    await waitUntil(() => of(one).length === 1, { timeoutMs: 15_000 });
    tail.remove(one);
    expect(tail.size).toBe(0);
    await sleep(200); // the loop now waits for a stream
    await tail.add(two);
    await put(two, '2');
    await put(one, 'ignored');
    await waitUntil(() => of(two).length === 1, { timeoutMs: 15_000 });
    expect(of(one)).toEqual(['1']);
  });

  it('stop() ends a blocked read promptly', async () => {
    const s = fresh('stop');
    const { tail, of } = recordingTail(BLOCK_MS);
    await tail.add(s);
    tail.start();
    await put(s, 'one');
    await waitUntil(() => of(s).length === 1, { timeoutMs: 15_000 });
    await tailBlocked();
    // Resolves long before the 30 s block would have expired.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('stop() waited for the blocked read')), 10_000);
    });
    await Promise.race([tail.stop(), hung]).finally(() => clearTimeout(timer));
    await put(s, 'after-stop');
    await sleep(200);
    expect(of(s)).toEqual(['one']);
  });
});

describe('lastId', () => {
  it('is 0-0 for a missing stream', async () => {
    expect(await lastId(redis, fresh('missing'))).toBe('0-0');
  });

  it('is the id of the newest entry of a stream', async () => {
    const s = fresh('ids');
    await put(s, '1');
    const newest = await put(s, '2');
    expect(await lastId(redis, s)).toBe(newest);
  });

  it('is 0-0 for a stream whose entries were all deleted', async () => {
    const s = fresh('emptied');
    const id = await put(s, '1');
    await redis.xdel(s, id);
    expect(await redis.exists(s)).toBe(1);
    expect(await lastId(redis, s)).toBe('0-0');
  });
});

describe('StreamTail right after start', () => {
  it('follows a stream added during its very first blocked read (fresh connection)', async () => {
    const { tail, of } = recordingTail();
    const a = fresh('first-a');
    const b = fresh('first-b');
    await tail.add(a, '0-0');
    tail.start(); // the first XREAD goes out while the blocking connection is still new
    await sleep(300);
    await tail.add(b, '0-0');
    await put(b, 'hello');
    // Delivered long before the 30 s block would have expired on its own.
    await waitUntil(() => of(b).length === 1, { timeoutMs: 10_000, message: 'a stream added during the first read was not followed' });
  });
});

describe('StreamTail, streams added back to back', () => {
  it('follows every stream of adds made one right after the other, while its read is still being set up', async () => {
    const { tail, of } = recordingTail();
    tail.start();
    const a = fresh('pair-a');
    const b = fresh('pair-b');
    // The first add wakes the loop; the second lands while it asks for its connection id, before it reads.
    await tail.add(a, '0-0');
    await tail.add(b, '0-0');
    await put(b, 'hello');
    // Delivered long before the 30 s block would have expired on its own (a read of stream a alone).
    await waitUntil(() => of(b).length === 1, { timeoutMs: 10_000, message: 'the second stream added was not followed' });
  });
});

import { BULL_PREFIX, PERSIST_QUEUE, PersistJob, type Message } from '@chorus/contracts';
import { connectRedis, createLogger, MetricsBus, type MetricEvent, type Redis, type TickBatch } from '@chorus/runtime';
import { startRedis, testMessage, type RedisServer } from '@chorus/testkit';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Persister, type PersisterOptions } from '../src/persist.js';

let server: RedisServer;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'persist-test');
  queue = new Queue(PERSIST_QUEUE, { connection: redis.duplicate(), prefix: BULL_PREFIX });
});
afterEach(async () => {
  await queue.obliterate({ force: true });
  await redis.del('after');
});
afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await server?.stop();
});

let events: MetricEvent[] = [];
const persister = (o: Partial<PersisterOptions>) => {
  events = [];
  const metrics = new MetricsBus();
  metrics.subscribe((e) => events.push(e));
  return new Persister(redis, createLogger('test', 'silent'), metrics, o);
};
const turn = (n: number): Message[] => [testMessage('c1', `user ${n}`), testMessage('c1', `reply ${n}`, { role: 'assistant', name: 'Alice' })];

/** The queued jobs' messages (contents), one array per job, oldest job first. */
async function jobs(): Promise<string[][]> {
  const all = await queue.getJobs(['waiting'], 0, -1, true);
  return all.map((j) => PersistJob.parse(j.data)).map((d) => (d.kind === 'messages' ? d.messages : [d.message]).map((m) => m.content));
}

/** A turn's `then`: notes, in Redis, that its job was queued (with the writes sent once it is). */
const noteAfter = (n: number) => ({ queued: (via: TickBatch) => void via.send('rpush', ['after', String(n)]), failed: () => undefined });

describe('llm-worker write-behind persistence', () => {
  it('the turns that finish within gatherMs share one job; each turn\'s then runs once that job is queued', async () => {
    const p = persister({ gatherMs: 5000 });
    for (let n = 1; n <= 3; n++) p.messages(turn(n), noteAfter(n));
    expect(await jobs()).toEqual([]);
    await p.close();
    expect(await jobs()).toEqual([['user 1', 'reply 1', 'user 2', 'reply 2', 'user 3', 'reply 3']]);
    expect(await redis.lrange('after', 0, -1)).toEqual(['1', '2', '3']);
    expect(events).toEqual([{ kind: 'persist_queued', outcome: 'queued', messages: 6 }]);
  });

  it('queues the gathered job once gatherMs has passed, without a close', async () => {
    const p = persister({ gatherMs: 50 });
    p.messages(turn(1), noteAfter(1));
    p.messages(turn(2), noteAfter(2));
    for (let i = 0; i < 200 && (await redis.llen('after')) < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await jobs()).toEqual([['user 1', 'reply 1', 'user 2', 'reply 2']]);
    await p.close();
  });

  it('gatherMs 0 queues a job per turn', async () => {
    const p = persister({ gatherMs: 0 });
    p.messages(turn(1), noteAfter(1));
    p.messages(turn(2), noteAfter(2));
    await p.close();
    expect(await jobs()).toEqual([['user 1', 'reply 1'], ['user 2', 'reply 2']]);
    expect(await redis.lrange('after', 0, -1)).toEqual(['1', '2']);
  });

  it('a gathering never holds more than maxMessages: a turn that would not fit starts the next job', async () => {
    const p = persister({ gatherMs: 60_000, maxMessages: 5 });
    for (let n = 1; n <= 3; n++) p.messages(turn(n));
    // Two turns fit (4 messages); the third starts a new gathering, queued at close.
    for (let i = 0; i < 200 && (await jobs()).length < 1; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await jobs()).toEqual([['user 1', 'reply 1', 'user 2', 'reply 2']]);
    await p.close();
    expect(await jobs()).toEqual([['user 1', 'reply 1', 'user 2', 'reply 2'], ['user 3', 'reply 3']]);
  });
});

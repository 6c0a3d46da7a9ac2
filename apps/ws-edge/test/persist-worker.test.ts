import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BULL_PREFIX, encodeUnsaved, KEYS, PERSIST_QUEUE, type Message, type PersistJob } from '@chorus/contracts';
import { createLogger, MetricsBus } from '@chorus/runtime';
import { createPgliteStore, StoreError, type Store } from '@chorus/store';
import { sleep, startRedis, testMessage, waitUntil, type RedisServer } from '@chorus/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PersistWorker } from '../src/persist-worker.js';

let dir: string;
let store: Store;
let server: RedisServer;
let redis: Redis;
let queue: Queue;
let queueConnection: Redis;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chorus-persist-'));
  store = createPgliteStore(path.join(dir, 'pglite'));
  await store.init();
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  queueConnection = redis.duplicate();
  queue = new Queue(PERSIST_QUEUE, { connection: queueConnection, prefix: BULL_PREFIX });
});
afterAll(async () => {
  await queue?.close();
  queueConnection?.disconnect(); // BullMQ leaves a connection it was given open
  redis?.disconnect();
  await server?.stop();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const workers: PersistWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

/** A persistence worker on the test queue, closed after the test. */
function startWorker(on: Store, o: ConstructorParameters<typeof PersistWorker>[4]): PersistWorker {
  const w = new PersistWorker(redis, on, createLogger('test', 'silent'), new MetricsBus(), o);
  workers.push(w);
  return w;
}

const message = (conversation_id: string, content: string): Message => testMessage(conversation_id, content);

const job = (messages: Message[]) => ({ name: 'messages', data: { kind: 'messages', messages } satisfies PersistJob, opts: { attempts: 1 } });

/** The real store, counting its batch writes. */
function counting(): { store: Store; writes: number[] } {
  const writes: number[] = [];
  return { writes, store: Object.assign(Object.create(store) as Store, { saveMessages: (m: Message[]) => (writes.push(m.length), store.saveMessages(m)) }) };
}

async function settled(ids: string[]): Promise<string[]> {
  let states: string[] = [];
  await waitUntil(async () => {
    states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    return states.every((s) => s === 'completed' || s === 'failed');
  }, { timeoutMs: 15_000, message: 'persistence jobs settled' });
  return states;
}

describe('write-behind persistence worker', () => {
  it("turns' jobs that arrive together are saved with one write, and completed", async () => {
    const conv = await store.createConversation();
    const { store: counted, writes } = counting();
    startWorker(counted, { windowMs: 300 });
    const added = await queue.addBulk(Array.from({ length: 10 }, (_, i) => job([message(conv.id, `user ${i}`), message(conv.id, `reply ${i}`)])));
    expect(await settled(added.map((j) => j.id!))).toEqual(Array(10).fill('completed'));
    expect(writes).toEqual([20]);
    expect(await store.listMessages(conv.id)).toHaveLength(20);
  });

  it("a job whose conversation is gone fails alone; the batch's other jobs are saved", async () => {
    const conv = await store.createConversation();
    startWorker(store, { windowMs: 300 });
    const added = await queue.addBulk([job([message(conv.id, 'kept 1')]), job([message('deleted-conversation', 'lost')]), job([message(conv.id, 'kept 2')])]);
    expect(await settled(added.map((j) => j.id!))).toEqual(['completed', 'failed', 'completed']);
    expect((await queue.getJob(added[1]!.id!))?.failedReason).toMatch(/deleted-conversation/);
    expect((await store.listMessages(conv.id)).map((m) => m.content).sort()).toEqual(['kept 1', 'kept 2']);
  });

  it("a job of several conversations' turns drops only the messages of one deleted since, and completes; if all are gone it fails", async () => {
    const conv = await store.createConversation();
    startWorker(store, { windowMs: 50 });
    const [mixed] = await queue.addBulk([job([message(conv.id, 'kept'), message('deleted-conversation', 'lost'), message(conv.id, 'kept too')])]);
    expect(await settled([mixed!.id!])).toEqual(['completed']);
    expect((await store.listMessages(conv.id)).map((m) => m.content).sort()).toEqual(['kept', 'kept too']);
    const [gone] = await queue.addBulk([job([message('deleted-1', 'lost'), message('deleted-2', 'lost')])]);
    expect(await settled([gone!.id!])).toEqual(['failed']);
    expect((await queue.getJob(gone!.id!))?.failedReason).toMatch(/deleted-1.*deleted-2/);
  });

  it('flush() saves the batch being gathered at once, so a read right after a turn sees its messages', async () => {
    const conv = await store.createConversation();
    const worker = startWorker(store, { windowMs: 60_000 });
    const added = await queue.add('messages', job([message(conv.id, 'just said')]).data, { attempts: 1 });
    await waitUntil(async () => (await queue.getJobState(added.id!)) === 'active', { message: 'job taken into a batch' });
    expect(await store.listMessages(conv.id)).toEqual([]); // still gathering: its window is a minute
    await worker.flush();
    expect((await store.listMessages(conv.id)).map((m) => m.content)).toEqual(['just said']);
    expect(await settled([added.id!])).toEqual(['completed']);
  });

  it('a batch held longer than the lock (long window, slow save) still completes, saved exactly once', async () => {
    const conv = await store.createConversation();
    const { store: counted, writes } = counting();
    const slow = Object.assign(Object.create(counted) as Store, {
      saveMessages: async (m: Message[]) => (await sleep(2500), counted.saveMessages(m)),
    });
    // Both the window and the save alone outlast the lock.
    startWorker(slow, { windowMs: 3000, lockDurationMs: 2000 });
    const added = await queue.addBulk([job([message(conv.id, 'first')]), job([message(conv.id, 'second')])]);
    expect(await settled(added.map((j) => j.id!))).toEqual(['completed', 'completed']);
    expect(writes).toEqual([2]);
    expect((await store.listMessages(conv.id)).map((m) => m.content).sort()).toEqual(['first', 'second']);
  });

  it("a job that cannot be settled (its lock is gone) does not leave the rest of its batch unsettled", async () => {
    const conv = await store.createConversation();
    const worker = startWorker(store, { windowMs: 60_000 });
    // The bad job comes first, so the batch save fails and each job is then saved and settled on its own.
    const lost = await queue.add('messages', job([message('deleted-conversation', 'lost')]).data, { attempts: 1 });
    await waitUntil(async () => (await queue.getJobState(lost.id!)) === 'active', { message: 'job taken into a batch' });
    await redis.del(`${BULL_PREFIX}:${PERSIST_QUEUE}:${lost.id}:lock`); // as when a lock expires: it can no longer be failed
    const added = await queue.addBulk([job([message(conv.id, 'kept 1')]), job([message(conv.id, 'kept 2')])]);
    await worker.flush();
    expect(await settled(added.map((j) => j.id!))).toEqual(['completed', 'completed']);
    expect((await store.listMessages(conv.id)).map((m) => m.content).sort()).toEqual(['kept 1', 'kept 2']);
  });

  it('a job whose conversation was deleted fails without retries', async () => {
    const conv = await store.createConversation();
    await store.deleteConversation(conv.id);
    startWorker(store, { windowMs: 50 });
    const lost = await queue.add('messages', job([message(conv.id, 'said too late')]).data, { attempts: 5 });
    expect(await settled([lost.id!])).toEqual(['failed']);
    const failed = await queue.getJob(lost.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/was deleted/);
  });

  it('a job refused while its conversation exists is still retried', async () => {
    const conv = await store.createConversation();
    let refusals = 1;
    const refusing = Object.assign(Object.create(store) as Store, {
      saveMessages: (m: Message[]) => (refusals-- > 0 ? Promise.reject(new StoreError('invalid: refused once', 'invalid')) : store.saveMessages(m)),
    });
    startWorker(refusing, { windowMs: 50 });
    const added = await queue.add('messages', job([message(conv.id, 'kept')]).data, { attempts: 5 });
    expect(await settled([added.id!])).toEqual(['completed']);
    expect((await queue.getJob(added.id!))?.attemptsMade).toBe(2);
    expect((await store.listMessages(conv.id)).map((m) => m.content)).toEqual(['kept']);
  });

  it('messages stop showing as unsaved once saved, or once they never will be; a job being retried keeps them', async () => {
    const conv = await store.createConversation();
    const [saved, lost, retried] = [message(conv.id, 'saved'), message('deleted-conversation', 'lost'), message(conv.id, 'refused twice')];
    for (const m of [saved, lost, retried]) await redis.hset(KEYS.unsaved(m.conversation_id), ...encodeUnsaved([m]));
    const shownAtAttempt: number[] = [];
    const refusing = Object.assign(Object.create(store) as Store, {
      saveMessages: async (m: Message[]) => {
        if (!m.some((x) => x.id === retried.id)) return store.saveMessages(m);
        shownAtAttempt.push(await redis.hexists(KEYS.unsaved(conv.id), retried.id));
        throw new StoreError('database unavailable', 'unavailable');
      },
    });
    startWorker(refusing, { windowMs: 50 });
    const [a, b] = await queue.addBulk([job([saved]), job([lost])]);
    const c = await queue.add('messages', job([retried]).data, { attempts: 2 });
    expect(await settled([a!.id!, b!.id!, c.id!])).toEqual(['completed', 'failed', 'failed']);
    // Shown at each try, the last one included (the batch's, then the job's own, then its retry's).
    expect(shownAtAttempt.length).toBeGreaterThanOrEqual(2);
    expect(shownAtAttempt.every((shown) => shown === 1)).toBe(true);
    expect(await redis.hkeys(KEYS.unsaved(conv.id))).toEqual([]);
    expect(await redis.exists(KEYS.unsaved('deleted-conversation'))).toBe(0);
  });

  it('a job with invalid data fails without retries', async () => {
    startWorker(store, { windowMs: 50 });
    const bad = await queue.add('messages', { kind: 'messages', messages: [{ id: 1 }] }, { attempts: 5 });
    expect(await settled([bad.id!])).toEqual(['failed']);
    expect((await queue.getJob(bad.id!))?.attemptsMade).toBe(1);
  });
});

import { encodeEntry, STREAMS } from '@chorus/contracts';
import { connectRedis, createLogger, ensureGroup, StreamConsumer, TickBatch, type EntryMeta, type HandOff, type Redis } from '@chorus/runtime';
import { sleep, startRedis, waitUntil, type RedisServer } from '@chorus/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const Job = z.object({ n: z.number() });
type Job = z.infer<typeof Job>;

const logger = createLogger('test', 'silent');
const GROUP = 'workers';

let server: RedisServer;
let redis: Redis;
let streamSeq = 0;
const consumers: StreamConsumer<Job>[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'consumer-test');
  await redis.ping();
});

afterEach(async () => {
  // Each test stops its own consumers; this is the safety net when an assertion failed half-way.
  await Promise.all(consumers.splice(0).map((c) => c.stop().catch(() => undefined)));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const freshStream = () => `jobs-${++streamSeq}`;

function consumer(
  stream: string,
  name: string,
  handler: (entry: Job, meta: EntryMeta) => Promise<void>,
  opts: { concurrency?: number; maxWaiting?: number; claimIdleMs?: number; maxDeliveries?: number; shutdownGraceMs?: number; onDeadLetter?: (entry: Job, id: string) => Promise<void> } = {},
): StreamConsumer<Job> {
  const c = new StreamConsumer<Job>({
    redis,
    stream,
    group: GROUP,
    consumer: name,
    schema: Job,
    handler,
    logger,
    blockMs: 500,
    ...opts,
  });
  consumers.push(c);
  return c;
}

const add = (stream: string, n: number) => redis.xadd(stream, '*', ...encodeEntry<Job>({ n })) as Promise<string>;

async function pendingCount(stream: string): Promise<number> {
  const [count] = (await redis.xpending(stream, GROUP)) as [number, ...unknown[]];
  return Number(count);
}

/** Entries of `dead:<stream>` as field maps. */
async function deadLetters(stream: string): Promise<Array<Record<string, string>>> {
  const entries = (await redis.xrange(STREAMS.dead(stream), '-', '+')) as Array<[string, string[]]>;
  return entries.map(([, fields]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
    return o;
  });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('StreamConsumer', () => {
  it('handles every entry and acknowledges it, leaving nothing pending', async () => {
    const stream = freshStream();
    const seen: number[] = [];
    const deliveries: number[] = [];
    const c = consumer(stream, 'c1', async (job, meta) => {
      deliveries.push(meta.deliveries);
      seen.push(job.n);
    });
    await c.start();
    for (let n = 0; n < 5; n++) await add(stream, n);

    await waitUntil(() => seen.length === 5, { timeoutMs: 15_000, message: `handled ${seen.length}/5` });
    expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expect(deliveries).toEqual([1, 1, 1, 1, 1]);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await c.stop();
    expect(await deadLetters(stream)).toEqual([]);
  });

  it('a handler that acks with its last batch of writes gets the entry acknowledged in that write, once', async () => {
    const stream = freshStream();
    const pendingAtAck: number[] = [];
    const c = consumer(stream, 'c1', async (job, meta) => {
      const batch = new TickBatch(redis);
      void batch.send('set', [`${stream}:result`, String(job.n)]);
      void meta.ack(batch);
      await batch.flush();
      pendingAtAck.push(await pendingCount(stream)); // acknowledged before the handler returned
    });
    await c.start();
    await add(stream, 7);
    await waitUntil(() => pendingAtAck.length === 1, { timeoutMs: 15_000 });
    expect(pendingAtAck).toEqual([0]);
    expect(await redis.get(`${stream}:result`)).toBe('7');
    await c.stop();
    expect(await deadLetters(stream)).toEqual([]);
  });

  it('an entry handed off holds no slot and stays pending, heartbeated, until acked; one released is taken over', async () => {
    const stream = freshStream();
    const claimIdleMs = 800;
    const seen: Array<{ n: number; deliveries: number }> = [];
    const handed: HandOff[] = [];
    const c = consumer(stream, 'c1', async (job, meta) => {
      seen.push({ n: job.n, deliveries: meta.deliveries });
      handed.push(meta.handOff());
    }, { concurrency: 1, claimIdleMs });
    await c.start();
    await add(stream, 1);
    await add(stream, 2);
    // One slot, yet the second entry runs while the first is still pending.
    await waitUntil(() => seen.length === 2, { timeoutMs: 15_000, message: `handled ${seen.length}/2` });
    expect(await pendingCount(stream)).toBe(2);
    // Heartbeats keep both: well past claimIdleMs, neither is delivered again.
    await sleep(claimIdleMs * 3);
    expect(seen).toHaveLength(2);
    const batch = new TickBatch(redis);
    void handed[0]!.ack(batch);
    await batch.flush();
    expect(await pendingCount(stream)).toBe(1);
    // The second is given up on (its work could not be finished): it is delivered again.
    handed[1]!.release();
    await waitUntil(() => seen.length === 3, { timeoutMs: 15_000, message: 'the released entry was not taken over' });
    expect(seen[2]).toEqual({ n: 2, deliveries: 2 });
    await handed[2]!.ack();
    expect(await pendingCount(stream)).toBe(0);
    await c.stop();
  });

  it('entries that wait through meta.waiting hold no slot, up to maxWaiting of them; past that they keep theirs', async () => {
    const stream = freshStream();
    const gate = deferred();
    const started: number[] = [];
    const c = consumer(
      stream,
      'c1',
      async (job, meta) => {
        started.push(job.n);
        if (job.n < 100) await meta.waiting(gate.promise); // waits for another entry (e.g. an earlier turn)
        else await gate.promise; // works while holding its slot
      },
      { concurrency: 2, maxWaiting: 2 },
    );
    await c.start();
    // Two waiters leave both slots free: one goes to a worker (100); the third waiter finds the waiting places
    // taken and keeps the other slot, so the entry after it is not read until something finishes.
    for (const n of [1, 2, 100, 3, 101]) await add(stream, n);
    await waitUntil(() => started.length === 4, { timeoutMs: 15_000, message: 'four entries started' });
    await sleep(1200); // more than a read's block time: entry 101 would have been read by now if there were a slot
    expect(started).toEqual([1, 2, 100, 3]);
    gate.resolve();
    await waitUntil(() => started.length === 5, { timeoutMs: 15_000, message: 'the last entry started' });
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await c.stop();
  });

  it('runs handlers in parallel but never more than `concurrency` at once', async () => {
    const stream = freshStream();
    const concurrency = 3;
    const total = 10;
    let active = 0;
    let maxActive = 0;
    let started = 0;
    const done = new Set<number>();
    const gate = deferred();
    const c = consumer(
      stream,
      'c1',
      async (job) => {
        started++;
        active++;
        maxActive = Math.max(maxActive, active);
        try {
          await gate.promise;
          await sleep(20);
        } finally {
          active--;
        }
        done.add(job.n);
      },
      { concurrency },
    );
    await c.start();
    for (let n = 0; n < total; n++) await add(stream, n);

    // Every slot fills up while the handlers are held...
    await waitUntil(() => active === concurrency, { timeoutMs: 15_000, message: `active ${active}` });
    // ...and no further entry is started while they are all busy.
    await sleep(500);
    expect(started).toBe(concurrency);
    expect(c.inFlightCount).toBe(concurrency);

    gate.resolve();
    await waitUntil(() => done.size === total, { timeoutMs: 20_000, message: `handled ${done.size}/${total}` });
    expect(maxActive).toBe(concurrency);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await c.stop();
  });

  it('leaves a failed entry pending and retries it later with a higher delivery count', async () => {
    const stream = freshStream();
    const deliveries: number[] = [];
    let succeeded = false;
    const c = consumer(
      stream,
      'c1',
      async (_job, meta) => {
        deliveries.push(meta.deliveries);
        if (deliveries.length < 3) throw new Error(`attempt ${deliveries.length} fails`);
        succeeded = true;
      },
      { claimIdleMs: 300, maxDeliveries: 5 },
    );
    await c.start();
    const id = await add(stream, 1);

    await waitUntil(() => deliveries.length >= 1, { timeoutMs: 15_000 });
    // After the failure the entry is still pending (not acknowledged, not dead-lettered).
    const pending = (await redis.xpending(stream, GROUP, '-', '+', 10)) as Array<[string, string, number, number]>;
    if (!succeeded) expect(pending.map((p) => p[0])).toContain(id);

    await waitUntil(() => succeeded, { timeoutMs: 20_000, message: `deliveries so far ${JSON.stringify(deliveries)}` });
    expect(deliveries).toEqual([1, 2, 3]);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await c.stop();
    expect(await deadLetters(stream)).toEqual([]);
  });

  it('moves an entry that keeps failing to dead:<stream> after maxDeliveries attempts, acknowledges it and tells onDeadLetter', async () => {
    const stream = freshStream();
    const attempts: number[] = [];
    const told: Array<[Job, string]> = [];
    const c = consumer(
      stream,
      'c1',
      async (_job, meta) => {
        attempts.push(meta.deliveries);
        throw new Error('poison');
      },
      { claimIdleMs: 300, maxDeliveries: 3, onDeadLetter: async (job, id) => void told.push([job, id]) },
    );
    await c.start();
    const id = await add(stream, 42);

    await waitUntil(async () => (await deadLetters(stream)).length === 1, { timeoutMs: 30_000, message: `attempts ${attempts.length}` });
    const [dead] = await deadLetters(stream);
    expect(dead!.source_id).toBe(id);
    expect(dead!.reason).toMatch(/too many deliveries/);
    expect(JSON.parse(dead!.e!)).toEqual({ n: 42 });
    expect(attempts).toEqual([1, 2, 3]);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await waitUntil(() => told.length === 1, { timeoutMs: 15_000 });
    expect(told).toEqual([[{ n: 42 }, id]]);

    // Dead-lettered means finished: no further attempt follows.
    await sleep(1_000);
    expect(attempts).toHaveLength(3);
    expect(await deadLetters(stream)).toHaveLength(1);
    await c.stop();
  });

  it('dead-letters entries that do not match the schema without calling the handler', async () => {
    const stream = freshStream();
    const handled: number[] = [];
    const c = consumer(stream, 'c1', async (job) => void handled.push(job.n));
    await c.start();
    const badPayload = (await redis.xadd(stream, '*', 'e', JSON.stringify({ n: 'not a number' }))) as string;
    const noPayload = (await redis.xadd(stream, '*', 'other', 'field')) as string;
    const notJson = (await redis.xadd(stream, '*', 'e', '{broken')) as string;
    await add(stream, 7);

    await waitUntil(async () => (await deadLetters(stream)).length === 3, { timeoutMs: 15_000 });
    const dead = await deadLetters(stream);
    expect(dead.map((d) => d.source_id).sort()).toEqual([badPayload, noPayload, notJson].sort());
    for (const d of dead) expect(d.reason).toMatch(/^invalid entry/);
    expect(dead.find((d) => d.source_id === noPayload)!.other).toBe('field');

    await waitUntil(() => handled.length === 1, { timeoutMs: 15_000 });
    expect(handled).toEqual([7]);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await c.stop();
  });

  it('takes over an entry left pending by a dead consumer and handles it exactly once', async () => {
    const stream = freshStream();
    await ensureGroup(redis, stream, GROUP);
    const id = await add(stream, 5);
    // A consumer that read the entry and died before acknowledging it.
    const read = (await redis.xreadgroup('GROUP', GROUP, 'ghost', 'COUNT', 10, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]>;
    expect(read[0]![1].map(([entryId]) => entryId)).toEqual([id]);

    const calls: Array<{ id: string; deliveries: number }> = [];
    const c = consumer(stream, 'live', async (_job, meta) => void calls.push({ id: meta.id, deliveries: meta.deliveries }), {
      claimIdleMs: 300,
    });
    await c.start();

    await waitUntil(() => calls.length >= 1, { timeoutMs: 15_000 });
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    // Several more claim rounds pass: it is not handled a second time.
    await sleep(1_200);
    expect(calls).toEqual([{ id, deliveries: 2 }]);
    await c.stop();
  });

  it('does not let a second consumer take over a long-running entry while heartbeats keep it alive', async () => {
    const stream = freshStream();
    const claimIdleMs = 800;
    const invocations = new Map<string, string[]>();
    const finished = new Set<string>();
    const handler = (name: string) => async (job: Job, meta: EntryMeta) => {
      invocations.set(meta.id, [...(invocations.get(meta.id) ?? []), name]);
      // Entry 0 runs for five claimIdleMs; the others are quick.
      await sleep(job.n === 0 ? claimIdleMs * 5 : 10);
      finished.add(meta.id);
    };
    const a = consumer(stream, 'a', handler('a'), { claimIdleMs });
    const b = consumer(stream, 'b', handler('b'), { claimIdleMs });
    await a.start();
    await b.start();
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push(await add(stream, n));

    await waitUntil(() => finished.size === ids.length, { timeoutMs: 30_000, message: `finished ${finished.size}/${ids.length}` });
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    for (const id of ids) expect(invocations.get(id), `invocations of ${id}`).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('stop() waits for an in-flight handler to finish and acknowledges its entry', async () => {
    const stream = freshStream();
    let started = false;
    let finished = false;
    let aborted = false;
    const c = consumer(stream, 'c1', async (_job, meta) => {
      started = true;
      await sleep(800);
      aborted = meta.signal.aborted;
      finished = true;
    });
    await c.start();
    await add(stream, 1);
    await waitUntil(() => started, { timeoutMs: 15_000 });

    await c.stop();
    expect(finished).toBe(true);
    expect(aborted).toBe(false);
    expect(await pendingCount(stream)).toBe(0);
  });

  it('stop() past shutdownGraceMs aborts the handler and hands the entry back for another consumer', async () => {
    const stream = freshStream();
    // A claimIdleMs this long means a normal takeover could not happen within the test's waits.
    const claimIdleMs = 60_000;
    let firstAborted = false;
    let firstStarted = false;
    const first = consumer(
      stream,
      'first',
      (_job, meta) =>
        new Promise<void>((_resolve, reject) => {
          firstStarted = true;
          meta.signal.addEventListener('abort', () => {
            firstAborted = true;
            reject(new Error('aborted by shutdown'));
          });
        }),
      { claimIdleMs, shutdownGraceMs: 100 },
    );
    await first.start();
    const id = await add(stream, 9);
    await waitUntil(() => firstStarted, { timeoutMs: 15_000 });

    await first.stop();
    expect(firstAborted).toBe(true);
    expect(await pendingCount(stream)).toBe(1);

    const second: Array<{ id: string; deliveries: number; n: number }> = [];
    const next = consumer(stream, 'second', async (job, meta) => void second.push({ id: meta.id, deliveries: meta.deliveries, n: job.n }), {
      claimIdleMs,
    });
    await next.start();
    // Well below claimIdleMs: only the hand-back makes the entry claimable this soon.
    await waitUntil(() => second.length === 1, { timeoutMs: 20_000, message: 'the handed-back entry was not picked up' });
    expect(second).toEqual([{ id, deliveries: 2, n: 9 }]);
    await waitUntil(async () => (await pendingCount(stream)) === 0, { timeoutMs: 15_000 });
    await next.stop();
  });

  it("stops the handler of an entry another consumer took over while this one stalled, and its heartbeat does not take the entry back", async () => {
    const stream = freshStream();
    const release = deferred();
    let reason: unknown;
    const c = consumer(
      stream,
      'stalled',
      async (_job, meta) => {
        await Promise.race([release.promise, new Promise((r) => meta.signal.addEventListener('abort', r, { once: true }))]);
        reason = meta.signal.reason;
        if (meta.signal.aborted) throw meta.signal.reason;
      },
      { claimIdleMs: 600 },
    );
    await c.start();
    const id = await add(stream, 1);
    await waitUntil(async () => c.inFlightCount === 1, { timeoutMs: 10_000 });
    // What another consumer's XAUTOCLAIM does when this one's heartbeats stop for claimIdleMs; that one is
    // alive and beats for it from then on.
    await redis.xclaim(stream, GROUP, 'other', 0, id, 'JUSTID');
    const otherBeats = setInterval(() => void redis.xclaim(stream, GROUP, 'other', 0, id, 'JUSTID').catch(() => undefined), 100);
    try {
      await waitUntil(() => reason !== undefined, { timeoutMs: 10_000, message: 'the stalled handler was never stopped' });
      expect((reason as Error).name).toBe('EntryLost');
      await waitUntil(async () => c.inFlightCount === 0, { timeoutMs: 10_000 });
      await sleep(1_000); // this consumer's heartbeats and claim scans run meanwhile
      const pending = (await redis.xpending(stream, GROUP, '-', '+', 10)) as Array<[string, string, number, number]>;
      expect(pending.map(([pid, owner]) => [pid, owner])).toEqual([[id, 'other']]);
    } finally {
      clearInterval(otherBeats);
      release.resolve();
      await c.stop();
    }
  });

  it('takes over an abandoned entry queued behind more live pending entries than one claim scan looks at', async () => {
    const stream = freshStream();
    await ensureGroup(redis, stream, GROUP);
    for (let n = 0; n < 40; n++) await add(stream, n);
    const abandoned = await add(stream, 99);
    // 40 entries held by a live consumer whose heartbeat keeps them fresh, then one a dead consumer left behind.
    await redis.xreadgroup('GROUP', GROUP, 'live', 'COUNT', 40, 'STREAMS', stream, '>');
    await redis.xreadgroup('GROUP', GROUP, 'dead', 'COUNT', 1, 'STREAMS', stream, '>');
    const live = (await redis.xpending(stream, GROUP, '-', '+', 100, 'live')) as Array<[string]>;
    const beat = setInterval(() => void redis.xclaim(stream, GROUP, 'live', 0, ...live.map(([pid]) => pid), 'JUSTID').catch(() => undefined), 50);
    try {
      const handled: number[] = [];
      // One slot: each XAUTOCLAIM asks for one entry, and Redis then scans only ten pending entries per call.
      const c = consumer(stream, 'survivor', async (job) => void handled.push(job.n), { concurrency: 1, claimIdleMs: 300 });
      await c.start();
      await waitUntil(() => handled.includes(99), { timeoutMs: 20_000, message: 'the abandoned entry was never taken over' });
      const pending = (await redis.xpending(stream, GROUP, '-', '+', 100)) as Array<[string]>;
      expect(pending.map(([pid]) => pid)).not.toContain(abandoned);
      expect(handled).toEqual([99]);
      await c.stop();
    } finally {
      clearInterval(beat);
    }
  });
});

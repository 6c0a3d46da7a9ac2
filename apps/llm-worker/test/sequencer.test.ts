import { KEYS } from '@chorus/contracts';
import { connectRedis, type Redis } from '@chorus/runtime';
import { sleep, startRedis, waitUntil, type RedisServer } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seqMember, TurnSequencer, type Acquired } from '../src/sequencer.js';

let server: RedisServer;
let redis: Redis;
const extraClients: Redis[] = [];
let conv = 0;
let clock = Date.now();

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'sequencer-test');
  await redis.ping();
});

afterAll(async () => {
  for (const c of extraClients) c.disconnect();
  redis?.disconnect();
  await server?.stop();
});

const freshConversation = () => `conv-${++conv}`;
/** Stream ids on the real clock (the sequencer drops queued turns older than staleMs), strictly increasing. */
function streamIds(n: number): string[] {
  clock = Math.max(clock + 1, Date.now());
  return Array.from({ length: n }, (_, i) => `${clock}-${i}`);
}
const never = () => new AbortController().signal;
const run = (a: Acquired) => {
  if (a.status !== 'run') throw new Error(`expected to run, got ${a.status}`);
  return a;
};

describe('seqMember', () => {
  it('sorts like the stream ids it encodes', () => {
    const ids = ['9-0', '10-0', '10-2', '10-10', '1700000000000-0', '1700000000000-11', '1700000000001-0'];
    const members = ids.map(seqMember);
    expect([...members].sort()).toEqual(members);
    expect(seqMember('123')).toBe(seqMember('123-0'));
  });
});

describe('TurnSequencer', () => {
  it('makes a later turn wait until the earlier turn of the conversation is released', async () => {
    const c = freshConversation();
    const [a, b] = streamIds(2) as [string, string];
    const w1 = new TurnSequencer(redis, 'w1', { lockTtlMs: 10_000 });
    const w2 = new TurnSequencer(redis, 'w2', { lockTtlMs: 10_000 });
    const log: string[] = [];

    const slotA = run(await w1.acquire(c, a, { signal: never() }));
    log.push('A run');
    const bDone = w2.acquire(c, b, { signal: never() }).then((s) => {
      log.push('B run');
      return run(s);
    });
    // B asked while A runs: it is queued behind A.
    await waitUntil(async () => (await redis.zcard(KEYS.turnQueue(c))) === 2, { timeoutMs: 10_000 });
    await sleep(300);
    expect(log).toEqual(['A run']);

    log.push('A release');
    await slotA.release(true);
    const slotB = await bDone;
    expect(log).toEqual(['A run', 'A release', 'B run']);
    await slotB.release(true);
  });

  it('runs turns in stream-id order even when the later turn asks first', async () => {
    const c = freshConversation();
    const [first, a, b] = streamIds(3) as [string, string, string];
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000 });
    const log: string[] = [];

    // An earlier turn is running; then B asks, and only after it A.
    const slotFirst = run(await seq.acquire(c, first, { signal: never() }));
    const bDone = seq.acquire(c, b, { signal: never() }).then((s) => (log.push('B run'), run(s)));
    await waitUntil(async () => (await redis.zscore(KEYS.turnQueue(c), seqMember(b))) !== null, { timeoutMs: 10_000 });
    const aDone = seq.acquire(c, a, { signal: never() }).then((s) => (log.push('A run'), run(s)));
    await waitUntil(async () => (await redis.zscore(KEYS.turnQueue(c), seqMember(a))) !== null, { timeoutMs: 10_000 });

    await slotFirst.release(true);
    const slotA = await aDone;
    await sleep(300);
    expect(log).toEqual(['A run']);
    log.push('A release');
    await slotA.release(true);
    const slotB = await bDone;
    expect(log).toEqual(['A run', 'A release', 'B run']);
    await slotB.release(true);
  });

  it('runs turns of different conversations at the same time', async () => {
    const [s1, s2] = streamIds(2) as [string, string];
    const c1 = freshConversation();
    const c2 = freshConversation();
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000 });
    const one = run(await seq.acquire(c1, s1, { signal: never() }));
    // Would hang (test timeout) if c2 waited for c1's turn.
    const two = run(await seq.acquire(c2, s2, { signal: never() }));
    expect(await redis.get(KEYS.turnLock(c1))).toBe(`w/${s1}`);
    expect(await redis.get(KEYS.turnLock(c2))).toBe(`w/${s2}`);
    await Promise.all([one.release(true), two.release(true)]);
  });

  it('answers done for a turn that was already completed (a redelivery)', async () => {
    const c = freshConversation();
    const [s] = streamIds(1) as [string];
    const w1 = new TurnSequencer(redis, 'w1', { lockTtlMs: 10_000 });
    const w2 = new TurnSequencer(redis, 'w2', { lockTtlMs: 10_000 });
    await run(await w1.acquire(c, s, { signal: never() })).release(true);

    expect(await w2.acquire(c, s, { signal: never() })).toEqual({ status: 'done' });
    expect(await w1.acquire(c, s, { signal: never() })).toEqual({ status: 'done' });
    // Completing frees the conversation: no lock, nothing queued.
    expect(await redis.exists(KEYS.turnLock(c))).toBe(0);
    expect(await redis.zcard(KEYS.turnQueue(c))).toBe(0);
  });

  it('makes a redelivered turn wait while its first attempt still runs, then answers done', async () => {
    const c = freshConversation();
    const [s] = streamIds(1) as [string];
    const first = new TurnSequencer(redis, 'first', { lockTtlMs: 10_000 });
    const second = new TurnSequencer(redis, 'second', { lockTtlMs: 10_000 });
    const slot = run(await first.acquire(c, s, { signal: never() }));

    let secondResult: Acquired | undefined;
    const secondDone = second.acquire(c, s, { signal: never() }).then((a) => (secondResult = a));
    await sleep(500); // many polls
    expect(secondResult).toBeUndefined();
    expect(await redis.get(KEYS.turnLock(c))).toBe(`first/${s}`);

    await slot.release(true);
    await secondDone;
    expect(secondResult).toEqual({ status: 'done' });
  });

  it('lets another worker run the turn of a crashed holder once its lock expires', async () => {
    const c = freshConversation();
    const [s, later] = streamIds(2) as [string, string];
    // The crashed worker has its own connection, which dies with it: its lock renewals fail from then on.
    const crashedConn = connectRedis(server.url, 'crashed-worker');
    extraClients.push(crashedConn);
    const crashed = new TurnSequencer(crashedConn, 'crashed', { lockTtlMs: 300 });
    const crashedSlot = run(await crashed.acquire(c, s, { signal: never() }));
    expect(await redis.get(KEYS.turnLock(c))).toBe(`crashed/${s}`);
    crashedConn.disconnect();

    const survivor = new TurnSequencer(redis, 'survivor', { lockTtlMs: 10_000 });
    // The same turn is redelivered to the survivor; it gets it once the lock has expired.
    const slot = run(await survivor.acquire(c, s, { signal: never() }));
    expect(await redis.get(KEYS.turnLock(c))).toBe(`survivor/${s}`);

    // The later turn still waits for the recovered one, then runs.
    let laterRan = false;
    const laterDone = survivor.acquire(c, later, { signal: never() }).then((a) => ((laterRan = true), run(a)));
    await sleep(300);
    expect(laterRan).toBe(false);
    await slot.release(true);
    await (await laterDone).release(true);
    expect(await survivor.acquire(c, s, { signal: never() })).toEqual({ status: 'done' });
    await crashedSlot.release(true).catch(() => undefined); // stops its renew timer; its connection is gone
  });

  it('keeps renewing the lock of a running turn beyond lockTtlMs', async () => {
    const c = freshConversation();
    const [s, later] = streamIds(2) as [string, string];
    const holder = new TurnSequencer(redis, 'holder', { lockTtlMs: 1_000 });
    const other = new TurnSequencer(redis, 'other', { lockTtlMs: 1_000 });
    const slot = run(await holder.acquire(c, s, { signal: never() }));

    let laterRan = false;
    const laterDone = other.acquire(c, later, { signal: never() }).then((a) => {
      laterRan = true;
      return a;
    });
    await sleep(3_500); // several lock lifetimes
    expect(laterRan).toBe(false);
    expect(await redis.get(KEYS.turnLock(c))).toBe(`holder/${s}`);
    await slot.release(true);
    await run(await laterDone).release(true);
  });

  it('release(false) keeps the turn queued so later turns still wait for it', async () => {
    const c = freshConversation();
    const [a, b] = streamIds(2) as [string, string];
    const w1 = new TurnSequencer(redis, 'w1', { lockTtlMs: 10_000 });
    const w2 = new TurnSequencer(redis, 'w2', { lockTtlMs: 10_000 });

    await run(await w1.acquire(c, a, { signal: never() })).release(false);
    expect(await redis.exists(KEYS.turnLock(c))).toBe(0);
    expect(await redis.zscore(KEYS.turnQueue(c), seqMember(a))).not.toBeNull();

    let bRan = false;
    const bDone = w2.acquire(c, b, { signal: never() }).then((s) => {
      bRan = true;
      return run(s);
    });
    await sleep(500);
    expect(bRan).toBe(false);

    // The handed-back turn is picked up again (it is not done), completes, and B follows.
    const again = await w2.acquire(c, a, { signal: never() });
    expect(again.status).toBe('run');
    expect(bRan).toBe(false);
    await run(again).release(true);
    await (await bDone).release(true);
    expect(bRan).toBe(true);
  });

  it('stops waiting when the signal is aborted', async () => {
    const c = freshConversation();
    const [a, b] = streamIds(2) as [string, string];
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000 });
    const slotA = run(await seq.acquire(c, a, { signal: never() }));
    const ctl = new AbortController();
    const waiting = seq.acquire(c, b, { signal: ctl.signal });
    await waitUntil(async () => (await redis.zscore(KEYS.turnQueue(c), seqMember(b))) !== null, { timeoutMs: 10_000 });
    ctl.abort();
    await expect(waiting).rejects.toThrow(/stopped while waiting/);
    await slotA.release(true);
  });

  it('does not let a turn stuck at the head for longer than staleMs block the conversation', async () => {
    const c = freshConversation();
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000, staleMs: 60_000 });
    // A turn queued two minutes ago whose entry no worker will ever run.
    const lost = `${Date.now() - 120_000}-0`;
    await redis.zadd(KEYS.turnQueue(c), 0, seqMember(lost));
    const [s] = streamIds(1) as [string];
    const slot = run(await seq.acquire(c, s, { signal: never() }));
    expect(await redis.zscore(KEYS.turnQueue(c), seqMember(lost))).toBeNull();
    await slot.release(true);
  });

  it('refuses a turn of a conversation that already has maxQueued turns queued, but not a queued turn asking again', async () => {
    const c = freshConversation();
    const [a, b, full] = streamIds(3) as [string, string, string];
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000, maxQueued: 2 });
    const slotA = run(await seq.acquire(c, a, { signal: never() }));
    const bDone = seq.acquire(c, b, { signal: never() });
    await waitUntil(async () => (await redis.zcard(KEYS.turnQueue(c))) === 2, { timeoutMs: 10_000 });
    expect(await seq.acquire(c, full, { signal: never() })).toEqual({ status: 'full' });
    expect(await redis.zscore(KEYS.turnQueue(c), seqMember(full))).toBeNull();
    await slotA.release(true);
    await run(await bDone).release(true);
  });

  it("tells a running turn when its lock is someone else's (it expired while the worker stalled and another worker took the turn)", async () => {
    const c = freshConversation();
    const [s] = streamIds(1) as [string];
    const stalled = new TurnSequencer(redis, 'stalled', { lockTtlMs: 300 });
    const slot = run(await stalled.acquire(c, s, { signal: never() }));
    expect(slot.lost.aborted).toBe(false);
    // What a stall past the lock's lifetime leaves behind: the lock expired and the other worker's acquire took it.
    await redis.set(KEYS.turnLock(c), `other/${s}`, 'PX', 10_000);
    await waitUntil(async () => slot.lost.aborted, { timeoutMs: 10_000, message: 'the lost lock was never noticed' });
    await slot.release(false);
    expect(await redis.get(KEYS.turnLock(c))).toBe(`other/${s}`); // the release leaves the other worker's lock alone
  });

  it('abandon() marks a turn that will never run done, so the later turns of its conversation stop waiting for it', async () => {
    const c = freshConversation();
    const [dead, b] = streamIds(2) as [string, string];
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000 });
    // A turn queued (it once asked) whose entry was then given up: nobody will run or release it.
    await redis.zadd(KEYS.turnQueue(c), 0, seqMember(dead));
    let bRan = false;
    const bDone = seq.acquire(c, b, { signal: never() }).then((a) => ((bRan = true), run(a)));
    await sleep(300);
    expect(bRan).toBe(false);
    await seq.abandon(c, dead);
    await (await bDone).release(true);
    expect(await seq.acquire(c, dead, { signal: never() })).toEqual({ status: 'done' });
  });

  it('a stopping worker that wins the lock hands it back instead of starting the turn', async () => {
    const c = freshConversation();
    const [s] = streamIds(1) as [string];
    const seq = new TurnSequencer(redis, 'w', { lockTtlMs: 10_000 });
    const ctl = new AbortController();
    ctl.abort();
    await expect(seq.acquire(c, s, { signal: ctl.signal })).rejects.toThrow(/stopped while waiting/);
    expect(await redis.exists(KEYS.turnLock(c))).toBe(0);
    // Still queued: the worker that takes the entry over runs it.
    expect(await redis.zscore(KEYS.turnQueue(c), seqMember(s))).not.toBeNull();
  });
});

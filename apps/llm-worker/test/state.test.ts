import { HISTORY_LUA, KEYS, type HistoryItem } from '@chorus/contracts';
import { connectRedis, type Redis } from '@chorus/runtime';
import { startRedis, type RedisServer } from '@chorus/testkit';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TurnSequencer } from '../src/sequencer.js';
import { ConversationState } from '../src/state.js';

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = connectRedis(server.url, 'state-test');
  await redis.ping();
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const item = (id: string, content: string, role: HistoryItem['role'] = 'user'): HistoryItem => ({
  id,
  role,
  name: role === 'user' ? 'User' : 'Alice',
  character_id: role === 'user' ? null : 'alice',
  content,
});

/** One llm-worker's view: its sequencer and conversation state, as the turn handler uses them. */
function worker(o: { historyMax?: number; cachedConversations?: number } = {}) {
  const state = new ConversationState(redis, { historyMax: o.historyMax ?? 100, ttlSec: 60, cachedConversations: o.cachedConversations });
  const sequencer = new TurnSequencer(redis, randomUUID(), { lockTtlMs: 5000 });
  let seq = 0;
  return {
    state,
    /** A turn: the user message goes in, the history comes back, a reply is recorded. */
    async turn(c: string, text: string, reply?: string) {
      const turnId = randomUUID();
      const request = state.startRequest(c, turnId, item(randomUUID(), text));
      const run = await sequencer.acquire(c, `${Date.now()}-${seq++}`, { signal: new AbortController().signal, start: request });
      if (run.status !== 'run') throw new Error(`not acquired: ${run.status}`);
      try {
        const read = run.start![2] as [string, number, number, number, string[]];
        const begun = state.parseStart(request, run.start!, []);
        if (reply !== undefined) await state.recordOnce(c, turnId, 'done:r', item(randomUUID(), reply, 'assistant'));
        return { history: begun.history, itemsRead: read[4].length, wholeList: read[2] === -1 };
      } finally {
        await run.release(true);
      }
    },
  };
}

/** The history as stored in Redis, parsed. */
const stored = async (c: string) => (await redis.lrange(KEYS.history(c), 0, -1)).map((raw) => JSON.parse(raw) as HistoryItem);
const contents = (items: HistoryItem[]) => items.map((i) => i.content);

describe('the llm-worker keeps a copy of each conversation history and reads only what is new', () => {
  it('a turn gets the whole stored history, ending with its user message, while reading only the items appended since its last turn', async () => {
    const c = randomUUID();
    const w = worker();
    const first = await w.turn(c, 'one', 'reply one');
    expect(contents(first.history)).toEqual(['one']);
    expect(first.wholeList).toBe(true);
    const second = await w.turn(c, 'two', 'reply two');
    expect(second.history).toEqual((await stored(c)).slice(0, -1)); // the stored list also holds this turn's reply
    expect(contents(second.history)).toEqual(['one', 'reply one', 'two']);
    expect(second.wholeList).toBe(false);
    expect(second.itemsRead).toBe(2); // reply one and the new user message
    // A turn extends its own array, never the copy the next turn starts from.
    second.history.push(item('x', 'local only'));
    const third = await w.turn(c, 'three');
    expect(contents(third.history)).toEqual(['one', 'reply one', 'two', 'reply two', 'three']);
    expect(Object.isFrozen(third.history[0])).toBe(true);
  });

  it('two workers taking turns of one conversation each see every message, including those the other recorded', async () => {
    const c = randomUUID();
    const [a, b] = [worker(), worker()];
    for (let i = 0; i < 6; i++) {
      const w = i % 2 ? b : a;
      const { history } = await w.turn(c, `user ${i}`, `reply ${i}`);
      expect(history).toEqual((await stored(c)).slice(0, -1));
      expect(history).toHaveLength(2 * i + 1);
    }
  });

  it('keeps the last historyMax items, as the stored list does', async () => {
    const c = randomUUID();
    const w = worker({ historyMax: 5 });
    let last: HistoryItem[] = [];
    for (let i = 0; i < 6; i++) last = (await w.turn(c, `user ${i}`, `reply ${i}`)).history;
    expect(contents(last)).toEqual(['user 3', 'reply 3', 'user 4', 'reply 4', 'user 5']);
  });

  it('an item edited in place (what the user heard of an interrupted reply) reaches a worker whose copy holds it', async () => {
    const c = randomUUID();
    const w = worker();
    await w.turn(c, 'tell me a story', 'Once upon a time there was a long story.');
    await w.turn(c, 'go on'); // the copy now holds the reply
    // What the edge does when the heard note comes after the reply was recorded (RECORD_HEARD).
    const edit = `${HISTORY_LUA}
      redis.call('LSET', KEYS[1], ARGV[1], ARGV[2])
      history_changed(KEYS[1], KEYS[2])`;
    const list = await stored(c);
    const index = list.findIndex((i) => i.role === 'assistant');
    await redis.eval(edit, 2, KEYS.history(c), KEYS.historyMeta(c), index, JSON.stringify({ ...list[index]!, content: 'Once upon' }));
    const next = await w.turn(c, 'and then?');
    expect(next.wholeList).toBe(true);
    expect(contents(next.history)).toEqual(['tell me a story', 'Once upon', 'go on', 'and then?']);
  });

  it('a history deleted and loaded again (or expired) is read whole, not taken for the copy', async () => {
    const c = randomUUID();
    const w = worker();
    await w.turn(c, 'one', 'reply one');
    await w.turn(c, 'two', 'reply two');
    // Expired (both keys): the next message starts a new list.
    await redis.del(KEYS.history(c), KEYS.historyMeta(c));
    expect(contents((await w.turn(c, 'fresh start')).history)).toEqual(['fresh start']);
    // Only the list expired, its meta not yet: still a new list.
    await redis.del(KEYS.history(c));
    expect(contents((await w.turn(c, 'again')).history)).toEqual(['again']);
    // A list written without meta (an older version's): read whole once, then by deltas again.
    await redis.del(KEYS.historyMeta(c));
    await redis.rpush(KEYS.history(c), JSON.stringify(item('old', 'from before')));
    const adopted = await w.turn(c, 'now', 'reply now');
    expect(adopted.wholeList).toBe(true);
    expect(contents(adopted.history)).toEqual(['again', 'from before', 'now']);
    const after = await w.turn(c, 'later');
    expect(after.wholeList).toBe(false);
    expect(contents(after.history)).toEqual(['again', 'from before', 'now', 'reply now', 'later']);
  });

  it('keeps copies of at most cachedConversations conversations, least recently used dropped first', async () => {
    const [c1, c2] = [randomUUID(), randomUUID()];
    const w = worker({ cachedConversations: 1 });
    await w.turn(c1, 'one');
    expect((await w.turn(c1, 'two')).wholeList).toBe(false);
    await w.turn(c2, 'other');
    const back = await w.turn(c1, 'three'); // c1's copy was dropped for c2's
    expect(back.wholeList).toBe(true);
    expect(contents(back.history)).toEqual(['one', 'two', 'three']);
  });

  it('rejects a stored item that fails the schema, every time it is read', async () => {
    const c = randomUUID();
    const w = worker();
    await w.turn(c, 'fine');
    await redis.rpush(KEYS.history(c), JSON.stringify({ id: 'x', role: 'robot', name: 'User', character_id: null, content: 'Hi' }));
    await redis.hincrby(KEYS.historyMeta(c), 'n', 1); // appended as a writer would
    await expect(w.turn(c, 'next')).rejects.toThrow();
    await expect(w.turn(c, 'next again')).rejects.toThrow();
  });
});

import type { HistoryItem } from '@chorus/contracts';
import { connectRedis, type Redis } from '@chorus/runtime';
import { startRedis, type RedisServer } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const item = (id: string, content: string): HistoryItem => ({ id, role: 'user', name: 'User', character_id: null, content });
/** The acquire step's reply as parseStart reads it: cancel cut, settings, history items (JSON), turn-state fields. */
const start = (history: string[]) => [null, null, history, []];

describe('ConversationState.parseStart', () => {
  it('reads the history the acquire step returned, oldest first', () => {
    const state = new ConversationState(redis, { historyMax: 100, ttlSec: 60 });
    const begun = state.parseStart(start([JSON.stringify(item('a', 'Hello')), JSON.stringify(item('b', 'Again'))]), []);
    expect(begun.history).toEqual([item('a', 'Hello'), item('b', 'Again')]);
    expect(begun.plan).toBeNull();
    expect(begun.done.size).toBe(0);
  });

  it('parses a stored item once: later turns reading the same item share it, frozen', () => {
    const state = new ConversationState(redis, { historyMax: 100, ttlSec: 60 });
    const raw = [JSON.stringify(item('a', 'Hello')), JSON.stringify(item('b', 'Again'))];
    const first = state.parseStart(start(raw), []).history;
    const second = state.parseStart(start([...raw, JSON.stringify(item('c', 'New'))]), []).history;
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
    expect(second[2]).toEqual(item('c', 'New'));
    expect(Object.isFrozen(second[0])).toBe(true);
    // A turn extends its own history array, never the shared items.
    second.push(item('d', 'Reply'));
    expect(first).toHaveLength(2);
  });

  it('reads an item stored again with other content (the heard part of an interrupted reply) anew', () => {
    const state = new ConversationState(redis, { historyMax: 100, ttlSec: 60 });
    expect(state.parseStart(start([JSON.stringify(item('a', 'One two three four'))]), []).history[0]!.content).toBe('One two three four');
    expect(state.parseStart(start([JSON.stringify(item('a', 'One two'))]), []).history[0]!.content).toBe('One two');
  });

  it('keeps at most parsedItemsMax parsed items, dropping the oldest', () => {
    const state = new ConversationState(redis, { historyMax: 100, ttlSec: 60, parsedItemsMax: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => JSON.stringify(item(id, `Message ${id}`))) as [string, string, string];
    const firstA = state.parseStart(start([a]), []).history[0];
    expect(state.parseStart(start([a]), []).history[0]).toBe(firstA);
    state.parseStart(start([b, c]), []); // a is the oldest of three: dropped
    const againA = state.parseStart(start([a]), []).history[0];
    expect(againA).not.toBe(firstA);
    expect(againA).toEqual(firstA);
  });

  it('rejects a stored item that fails the schema, every time it is read', () => {
    const state = new ConversationState(redis, { historyMax: 100, ttlSec: 60 });
    const bad = JSON.stringify({ id: 'x', role: 'robot', name: 'User', character_id: null, content: 'Hi' });
    expect(() => state.parseStart(start([bad]), [])).toThrow();
    expect(() => state.parseStart(start([bad]), [])).toThrow();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { KEYS, type Message } from '@chorus/contracts';
import { openSession, startStack, testMessage, TestSocket, waitUntilSaved, type Stack } from '@chorus/testkit';
import { withUnsaved } from '../src/unsaved.js';

describe('withUnsaved', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();

  it('adds the unsaved messages in the order the store keeps (created_at, then id), each message once', () => {
    const rows = [testMessage('c', 'one', { id: 'a', created_at: at(1) }), testMessage('c', 'three', { id: 'c', created_at: at(3) })];
    const unsaved = [
      testMessage('c', 'four', { id: 'd', created_at: at(3) }),
      testMessage('c', 'two', { id: 'b', created_at: at(2) }),
      testMessage('c', 'three, unsaved copy', { id: 'c', created_at: at(3) }),
    ];
    expect(withUnsaved(rows, unsaved).map((m) => m.content)).toEqual(['one', 'two', 'three', 'four']);
  });

  it("keeps the database's copy of a message in both: it may hold only what the user heard", () => {
    const heard = testMessage('c', 'Half of it', { id: 'm', role: 'assistant', interrupted: true, audio_end_ms: 900 });
    const full = { ...heard, content: 'Half of it, and the rest.', audio_end_ms: null };
    expect(withUnsaved([heard], [full])).toEqual([heard]);
  });
});

// The llm-worker gathers finished turns for 10 s before queueing them for the database, so reads right after a
// turn find its messages unsaved; the edge saves what it receives within its PERSIST_BATCH_MS.
let stack: Stack;
let redis: Redis;
const sockets: TestSocket[] = [];
beforeAll(async () => {
  stack = await startStack({ env: { PERSIST_GATHER_MS: '10000' } });
  redis = new Redis(stack.redis.url);
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
  redis?.disconnect();
  await stack?.stop();
});

async function session(conversationId?: string): Promise<{ s: TestSocket; conversationId: string }> {
  const opened = await openSession(stack.edges[0]!.wsUrl, { conversationId });
  sockets.push(opened.s);
  return opened;
}

async function messagesOf(s: TestSocket, conversationId: string): Promise<Message[]> {
  const from = s.received.length;
  s.send('get_messages', { conversation_id: conversationId });
  return (await s.waitForType('messages_data', undefined, { from, timeoutMs: 20_000 })).data.messages;
}

const shown = (messages: Message[]) => messages.map((m) => ({ id: m.id, role: m.role, name: m.name, content: m.content, interrupted: m.interrupted }));

describe('messages not yet saved', () => {
  it("shows the user's message while its turn runs, and the interrupted reply once it ends", async () => {
    const { s, conversationId } = await session();
    const other = (await session(conversationId)).s;
    stack.llm.enqueue({ chunks: ['Let me think.', ' About it for a long while.'], hangAfterChunks: 1 });
    s.send('user_message', { text: '@Bob wait for it' });
    const start = await s.waitForType('text_stream_start', undefined, { timeoutMs: 20_000 });
    await s.waitForType('text_chunk', undefined, { timeoutMs: 20_000 });

    const running = await messagesOf(other, conversationId);
    expect(shown(running)).toEqual([{ id: expect.any(String), role: 'user', name: 'User', content: '@Bob wait for it', interrupted: false }]);

    s.send('interrupt');
    expect((await s.waitForType('turn_finished', undefined, { timeoutMs: 20_000 })).data.status).toBe('cancelled');
    const ended = await messagesOf(other, conversationId);
    expect(shown(ended)).toEqual([
      shown(running)[0],
      { id: start.data.message_id, role: 'assistant', name: 'Bob', content: 'Let me think.', interrupted: true },
    ]);
  });

  it('shows a finished turn on reopening before write-behind saves it, then from the database; a deletion drops them', async () => {
    // A worker of its own, whose gathering starts with this test's turn (the first worker queues the last test's).
    await stack.workers[0]!.kill('SIGTERM');
    const worker = await stack.startLlmWorker('gatherer');
    const { s, conversationId } = await session();
    stack.llm.enqueue({ text: 'Mars is cold and dusty.' });
    s.send('user_message', { text: '@Alice how is Mars?' });
    const start = await s.waitForType('text_stream_start', undefined, { timeoutMs: 20_000 });
    await s.waitForType('turn_finished', undefined, { timeoutMs: 20_000 });

    expect(await redis.hlen(KEYS.unsaved(conversationId))).toBe(2); // not in the database yet (for 10 s)
    const again = (await session(conversationId)).s;
    const expected = [
      { id: expect.any(String), role: 'user', name: 'User', content: '@Alice how is Mars?', interrupted: false },
      { id: start.data.message_id, role: 'assistant', name: 'Alice', content: 'Mars is cold and dusty.', interrupted: false },
    ];
    expect(shown(await messagesOf(again, conversationId))).toEqual(expected);

    // A stopping worker queues what it gathered; once saved, the messages stop showing as unsaved.
    await worker.kill('SIGTERM');
    await waitUntilSaved(stack.redis.url, conversationId);
    expect(shown(await messagesOf(again, conversationId))).toEqual(expected);

    // Unsaved messages of a deleted conversation go with it.
    await redis.hset(KEYS.unsaved(conversationId), 'late', JSON.stringify(testMessage(conversationId, 'late')));
    s.send('delete_conversation', { conversation_id: conversationId });
    await s.waitForType('conversation_deleted', (m) => m.data.conversation_id === conversationId, { timeoutMs: 20_000 });
    expect(await redis.exists(KEYS.unsaved(conversationId))).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, startStack, TestSocket, waitUntil, waitUntilSaved, type EdgeProcess, type Received, type Stack } from '@chorus/testkit';

// Two edges on one PostgreSQL database: sockets of a conversation may sit on either.
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ edges: 2, database: 'postgres' });
});
afterAll(async () => stack?.stop());

const sockets: TestSocket[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
});

/** A socket on `edge`, showing `conversationId` (else a new conversation). */
async function session(edge: EdgeProcess, conversationId?: string): Promise<{ s: TestSocket; conversationId: string }> {
  const opened = await openSession(edge.wsUrl, { conversationId });
  sockets.push(opened.s);
  if (conversationId) expect(opened.conversationId).toBe(conversationId);
  return opened;
}

/** Deletes a conversation from `s`; returns the reply. */
async function deleteFrom(s: TestSocket, conversationId: string): Promise<Received> {
  const from = s.received.length;
  s.send('delete_conversation', { conversation_id: conversationId }, 'delete-1');
  const reply = await s.waitForType('conversation_deleted', undefined, { from, timeoutMs: 20_000 });
  expect(reply).toMatchObject({ id: 'delete-1', data: { conversation_id: conversationId } });
  return reply;
}

/** Waits for the socket to be told of the deletion and moved: returns the conversation it was moved to. */
async function movedOff(s: TestSocket, deleted: string): Promise<string> {
  const told = await s.waitForType('conversation_deleted', (m) => m.data.conversation_id === deleted, { timeoutMs: 20_000 });
  const started = await s.waitForType('conversation_started', undefined, { from: s.received.indexOf(told), timeoutMs: 20_000 });
  expect(started.data.conversation_id).not.toBe(deleted);
  return started.data.conversation_id;
}

/** Once a ping is answered, every task the socket's edge queued for it before has run. */
async function settled(s: TestSocket): Promise<void> {
  const from = s.received.length;
  s.send('ping');
  await s.waitForType('pong', undefined, { from, timeoutMs: 20_000 });
}

/** How often the socket was told of a deletion and started on a conversation since its session started. */
const moves = (s: TestSocket) => ({ deleted: s.ofType('conversation_deleted').length, started: s.ofType('conversation_started').length });

/** Sends a turn; returns its events through `turn_finished`. */
async function turn(s: TestSocket, text: string): Promise<Received[]> {
  const from = s.received.length;
  s.send('user_message', { text });
  const finished = await s.waitForType('turn_finished', undefined, { from, timeoutMs: 30_000 });
  return s.received.slice(from, s.received.indexOf(finished) + 1);
}

/** The turn is answered in the socket's conversation and its messages reach the database (write-behind). */
async function answeredAndSaved(s: TestSocket, conversationId: string): Promise<void> {
  const events = await turn(s, '@Alice are you still there?');
  expect(events.at(-1)!.data.status).toBe('completed');
  expect(events.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
  await waitUntilSaved(stack.redis.url, conversationId);
  const from = s.received.length;
  s.send('get_messages', { conversation_id: conversationId });
  const m = await s.waitFor((x) => (x.type === 'messages_data' && x.data.conversation_id === conversationId) || x.type === 'error', { from });
  expect((m.data.messages ?? []).map((x: { role: string; name: string }) => `${x.role}:${x.name}`)).toEqual(['user:User', 'assistant:Alice']);
}

describe('deleting a conversation that other sockets show', () => {
  it('moves another socket of the same edge to a new conversation of its own, where its turns are answered and saved', async () => {
    const a = await session(stack.edges[0]!);
    const b = await session(stack.edges[0]!, a.conversationId);

    await deleteFrom(a.s, a.conversationId);
    const aNew = await movedOff(a.s, a.conversationId);
    const bNew = await movedOff(b.s, a.conversationId);
    expect(bNew).not.toBe(aNew);

    await Promise.all([settled(a.s), settled(b.s)]);
    // The requester is moved by its own request only, once; the other socket once, by the deletion.
    expect(moves(a.s)).toEqual({ deleted: 1, started: 1 });
    expect(moves(b.s)).toEqual({ deleted: 1, started: 1 });
    await answeredAndSaved(b.s, bNew);
    await answeredAndSaved(a.s, aNew);
  });

  it('moves the sockets that show it on another edge too', async () => {
    const a = await session(stack.edges[0]!);
    const b = await session(stack.edges[1]!, a.conversationId);
    const c = await session(stack.edges[1]!, a.conversationId);

    await deleteFrom(a.s, a.conversationId);
    const aNew = await movedOff(a.s, a.conversationId);
    const bNew = await movedOff(b.s, a.conversationId);
    const cNew = await movedOff(c.s, a.conversationId);
    expect(new Set([aNew, bNew, cNew]).size).toBe(3);

    await Promise.all([settled(a.s), settled(b.s), settled(c.s)]);
    for (const s of [a.s, b.s, c.s]) expect(moves(s)).toEqual({ deleted: 1, started: 1 });
    await answeredAndSaved(b.s, bNew);
    await answeredAndSaved(c.s, cNew);
  });

  it('cancels its running turn: no text_chunk of it reaches another socket after conversation_deleted', async () => {
    const a = await session(stack.edges[0]!);
    const b = await session(stack.edges[1]!, a.conversationId);
    const before = stack.llm.requests.length;
    // Long enough to be still streaming however slow the machine: 2000 chunks, 20 ms apart.
    stack.llm.enqueue({ text: 'word '.repeat(2000), chunkSize: 5, chunkDelayMs: 20 });
    a.s.send('user_message', { text: '@Alice tell me a very long story' });
    const first = await b.s.waitForType('text_chunk', undefined, { timeoutMs: 20_000 });
    const messageId = first.data.message_id;
    await b.s.waitFor((m) => m.type === 'text_chunk' && b.s.received.indexOf(m) > b.s.received.indexOf(first) + 3, { timeoutMs: 20_000 });

    await deleteFrom(a.s, a.conversationId);
    const bNew = await movedOff(b.s, a.conversationId);
    // The llm-worker stops the reply: its LLM request is aborted.
    await waitUntil(() => stack.llm.requests.slice(before).some((r) => r.aborted), { timeoutMs: 20_000, message: 'the LLM request was not aborted' });
    // A whole turn later, anything of the old one still on its way would have arrived.
    await answeredAndSaved(b.s, bNew);

    for (const s of [a.s, b.s]) {
      const told = s.received.findIndex((m) => m.type === 'conversation_deleted');
      const late = s.received.slice(told).filter((m) => m.type === 'text_chunk' && m.data.message_id === messageId);
      expect(late).toEqual([]);
    }
    // What the cut turn had said cannot be saved any more: it is dropped at once, not retried (its job fails, or
    // loses only those messages when it holds other conversations' turns too).
    await waitUntil(() => stack.edges.some((e) => e.logs.some((l) => l.includes('(not retried)') && l.includes(a.conversationId))), {
      timeoutMs: 20_000,
      message: "the deleted conversation's persistence job was not dropped",
    });
  });

  it('leaves sockets that show another conversation where they are, the requester included', async () => {
    const a = await session(stack.edges[0]!);
    const b = await session(stack.edges[1]!, a.conversationId);
    // c deletes a's conversation without showing it; d shows yet another one.
    const c = await session(stack.edges[1]!);
    const d = await session(stack.edges[0]!);

    await deleteFrom(c.s, a.conversationId);
    await movedOff(a.s, a.conversationId);
    await movedOff(b.s, a.conversationId);

    await Promise.all([settled(c.s), settled(d.s)]);
    expect(moves(c.s)).toEqual({ deleted: 1, started: 0 }); // its request's reply only
    expect(moves(d.s)).toEqual({ deleted: 0, started: 0 });
    await answeredAndSaved(c.s, c.conversationId);
    await answeredAndSaved(d.s, d.conversationId);
  });

  it('moves a socket that opens the conversation while it is being deleted (it followed the conversation after the deletion was announced)', async () => {
    // The opener reads the conversation, then loads its history and follows its streams; the deletion lands in
    // between when both requests go out together. Tried until that ordering came twice: each ordering must end well.
    let raced = 0;
    for (let i = 0; i < 10 && raced < 2; i++) {
      const deleter = await session(stack.edges[0]!);
      const opener = await session(stack.edges[0]!);
      const target = deleter.conversationId;
      const from = opener.s.received.length;
      opener.s.send('open_conversation', { conversation_id: target }, 'open-1');
      deleter.s.send('delete_conversation', { conversation_id: target }, 'delete-1');
      const answer = await opener.s.waitFor((m) => m.id === 'open-1', { from, timeoutMs: 20_000 });
      if (answer.type === 'error') {
        expect(answer.data.code).toBe('not_found'); // read after the deletion: it stays where it was
        await settled(opener.s);
        expect(moves(opener.s)).toEqual({ deleted: 0, started: 0 });
        continue;
      }
      expect(answer).toMatchObject({ type: 'conversation_started', data: { conversation_id: target } });
      raced++;
      const now = await movedOff(opener.s, target);
      await settled(opener.s);
      expect(moves(opener.s)).toEqual({ deleted: 1, started: 2 });
      if (raced === 1) await answeredAndSaved(opener.s, now);
    }
    expect(raced).toBeGreaterThan(0); // the test did open a conversation that was being deleted
  });

  it('a socket that starts on a conversation deleted as it starts gets session_started first, then is moved', async () => {
    const deleter = await session(stack.edges[0]!);
    const target = deleter.conversationId;
    const s = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${target}`);
    sockets.push(s);
    deleter.s.send('delete_conversation', { conversation_id: target }, 'delete-1');
    const started = await s.waitForType('session_started', undefined, { timeoutMs: 20_000 });
    expect(s.received[0]).toBe(started);
    await settled(s);
    if (started.data.conversation_id === target) await movedOff(s, target);
    const current = s.ofType('conversation_started').at(-1)?.data.conversation_id ?? started.data.conversation_id;
    expect(current).not.toBe(target);
  });
});

/**
 * PROTOCOL: "`id` is an optional client correlation id; every reply caused by that message echoes it." A
 * `user_message`'s replies are its turn's events and speech, written by the workers: the socket that sent it
 * gets them with its `id`, the conversation's other sockets get them without it. Before, none of them echoed
 * it, a refusal of one socket's message (`turn_queue_full`) reached every socket of the conversation, and
 * the other sockets never saw the typed message itself. An interrupt from one socket now also tells the others
 * (`interrupt_ack` with `reason: 'elsewhere'`), which kept playing the speech they had.
 */
import { openSession, startStack, type Received, type Stack, type TestSocket } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

/** Two sockets showing one conversation. */
async function twoSockets(): Promise<[TestSocket, TestSocket, string]> {
  const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
  const { s: b } = await openSession(stack.edges[0]!.wsUrl, { conversationId });
  return [a, b, conversationId];
}

const TURN_TYPES = ['turn_started', 'text_stream_start', 'text_chunk', 'text_stream_stop', 'audio_stream_start', 'audio_chunk', 'audio_stream_stop', 'turn_finished'];
const ofTurn = (received: Received[], from: number) => received.slice(from).filter((m) => TURN_TYPES.includes(m.type));

describe("a user_message's replies echo its id", () => {
  it('the sending socket gets every event and audio message of its turn with the id; another socket of the conversation gets them without it, and sees the typed text', async () => {
    const [a, b, conversationId] = await twoSockets();
    const fromA = a.received.length;
    const fromB = b.received.length;
    stack.llm.enqueue({ text: 'The dust settles slowly. Then the sky clears.', chunkSize: 6 });
    a.send('user_message', { text: '@Alice how is the sky on Mars?' }, 'ask-7');
    const done = (s: TestSocket, from: number) => s.waitForType('turn_finished', undefined, { from, timeoutMs: 30_000 });
    await Promise.all([done(a, fromA), done(b, fromB)]);
    const stop = a.received.slice(fromA).find((m) => m.type === 'text_stream_stop')!;
    const spoken = (s: TestSocket, from: number) => s.waitFor((m) => m.type === 'audio_stream_stop' && m.data.message_id === stop.data.message_id, { from, timeoutMs: 30_000 });
    await Promise.all([spoken(a, fromA), spoken(b, fromB)]);

    const mine = ofTurn(a.received, fromA);
    const theirs = ofTurn(b.received, fromB);
    // Both got the whole turn, text and speech, as the same messages.
    expect(new Set(mine.map((m) => m.type))).toEqual(new Set(TURN_TYPES));
    expect(theirs.map((m) => [m.type, m.data])).toEqual(mine.map((m) => [m.type, m.data]));
    expect(mine.filter((m) => m.id !== 'ask-7')).toEqual([]);
    expect(theirs.filter((m) => m.id !== undefined)).toEqual([]);
    // The other socket learns what was typed, as the message stored for it.
    const started = theirs.find((m) => m.type === 'turn_started')!;
    expect(started.data.user).toMatchObject({ name: 'User', text: '@Alice how is the sky on Mars?', source: 'text' });
    a.send('get_messages', { conversation_id: conversationId }, 'history');
    const history = await a.waitFor((m) => m.type === 'messages_data' && m.id === 'history', { timeoutMs: 15_000 });
    expect(history.data.messages[0]).toMatchObject({ id: started.data.user.message_id, role: 'user' });
    await Promise.all([a.close(), b.close()]);
  });

  it("a message refused for a full queue is refused to its own socket only, with its id; the conversation's other socket sees only the turns that ran", async () => {
    const [a, b] = await twoSockets();
    const fromA = a.received.length;
    const fromB = b.received.length;
    stack.llm.enqueue({ text: 'A slow start.', firstChunkDelayMs: 1500 });
    for (let i = 0; i < 20; i++) a.send('user_message', { text: `@Alice number ${i}` }, `n${i}`);
    const finished = (s: TestSocket, from: number) => s.received.slice(from).filter((m) => m.type === 'turn_finished');
    await a.waitFor(() => finished(a, fromA).length === 20, { from: fromA, timeoutMs: 60_000 });
    // The other socket is told of the turns that ran only: a refused one finishes for its sender alone.
    const ran = finished(a, fromA).filter((m) => m.data.status === 'completed').length;
    await b.waitFor(() => finished(b, fromB).length === ran, { from: fromB, timeoutMs: 30_000 });

    const refused = a.received.slice(fromA).filter((m) => m.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(e.data).toMatchObject({ code: 'turn_queue_full', request_type: 'user_message' });
    expect(b.received.slice(fromB).filter((m) => m.type === 'error')).toEqual([]);
    // Each answer to a message carries that message's id: the refused ones and the ones answered are told apart.
    const refusedIds = new Set(refused.map((e) => e.id));
    expect(refusedIds.size).toBe(refused.length);
    const answered = finished(a, fromA).filter((m) => m.data.status === 'completed').map((m) => m.id);
    expect(answered.length).toBe(20 - refused.length);
    expect(answered.filter((id) => refusedIds.has(id))).toEqual([]);
    expect(new Set([...answered, ...refusedIds])).toEqual(new Set(Array.from({ length: 20 }, (_, i) => `n${i}`)));
    // The other socket was shown the turns that ran, in the order they ran.
    const shown = b.received.slice(fromB).filter((m) => m.type === 'turn_started').map((m) => m.data.user.text);
    expect(shown).toEqual(a.received.slice(fromA).filter((m) => m.type === 'turn_started').map((m) => m.data.user.text));
    expect(finished(b, fromB).every((m) => m.data.status === 'completed')).toBe(true);
    expect(shown.length).toBe(answered.length);
    await Promise.all([a.close(), b.close()]);
  });

  it("an interrupt answers its own socket with its id, and tells the conversation's other socket to stop too (reason elsewhere)", async () => {
    const [a, b] = await twoSockets();
    stack.llm.enqueue({ chunks: ['A long story ', 'that goes on ', 'and on.'], chunkDelayMs: 500 });
    const fromA = a.received.length;
    a.send('user_message', { text: '@Alice tell me a story' });
    await a.waitForType('text_chunk', undefined, { from: fromA, timeoutMs: 20_000 });
    const fromB = b.received.length;
    b.send('interrupt', {}, 'stop-1');
    const own = await b.waitForType('interrupt_ack', undefined, { from: fromB });
    expect(own.id).toBe('stop-1');
    expect(own.data?.reason).toBeUndefined();
    const told = await a.waitForType('interrupt_ack', undefined, { from: fromA });
    expect(told.id).toBeUndefined();
    expect(told.data).toMatchObject({ reason: 'elsewhere' });
    await a.waitForType('turn_finished', undefined, { from: fromA, timeoutMs: 20_000 });
    expect(b.received.slice(fromB).filter((m) => m.type === 'interrupt_ack')).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });
});

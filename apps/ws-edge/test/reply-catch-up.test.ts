/**
 * A socket that starts showing a conversation while a reply streams (a page reloaded, a conversation reopened, a
 * second tab, a reconnect) gets that reply whole: right after `session_started` / `conversation_started`, the turn's
 * text so far, then the rest as it comes, nothing twice. Before, it got only the chunks sent after it joined, so
 * the reply showed cut off at the front (or with a hole, after a reconnect) until the turn ended.
 */
import { openSession, startStack, TestSocket, type Received, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const PARTS = ['Once upon a time, ', 'there was a slow reply ', 'that took its time ', 'to arrive, ', 'piece by piece.'];
const WHOLE = PARTS.join('');

/** Alice starts a slow reply on `s`; resolves once its second chunk has arrived there. */
async function slowReply(s: TestSocket): Promise<void> {
  const from = s.received.length;
  stack.llm.enqueue({ chunks: PARTS, chunkDelayMs: 400 });
  s.send('user_message', { text: '@Alice tell me a story' });
  await s.waitFor(() => s.received.slice(from).filter((m) => m.type === 'text_chunk').length >= 2, { from, timeoutMs: 20_000 });
}

/** The text of Alice's reply as a client shows it from `received` (text_stream_start starts it over). */
function shown(received: Received[]): { text: string; stopped: string | undefined } {
  let text = '';
  let stopped: string | undefined;
  for (const m of received) {
    if (m.type === 'text_stream_start') text = '';
    if (m.type === 'text_chunk') text += m.data.text;
    if (m.type === 'text_stream_stop') stopped = m.data.text;
  }
  return { text, stopped };
}

const finished = (s: TestSocket, from = 0) => s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });

describe('a socket that starts showing a conversation mid-reply', () => {
  it('a second socket gets the reply so far after session_started, then the rest: the whole text, each chunk once', async () => {
    const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    await slowReply(a);
    const { s: b } = await openSession(stack.edges[0]!.wsUrl, { conversationId });
    await finished(b);
    const types = b.received.map((m) => m.type);
    expect(types[0]).toBe('session_started');
    expect(types.slice(1, 3)).toEqual(['turn_started', 'text_stream_start']);
    expect(types.filter((t) => t === 'text_stream_start')).toHaveLength(1);
    expect(shown(b.received)).toEqual({ text: WHOLE, stopped: WHOLE });
    await Promise.all([a.close(), b.close()]);
  });

  it('a socket that reconnects (the first of its conversation on the edge again) gets the whole reply, without a hole', async () => {
    const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    await slowReply(a);
    a.ws.terminate();
    await a.closed;
    // A chunk comes while no socket follows the conversation.
    await new Promise((r) => setTimeout(r, 500));
    const { s: b } = await openSession(stack.edges[0]!.wsUrl, { conversationId });
    await finished(b);
    expect(b.received[0]!.type).toBe('session_started');
    expect(shown(b.received)).toEqual({ text: WHOLE, stopped: WHOLE });
    await b.close();
  });

  it('a socket that opens the conversation from another one gets the reply so far after conversation_started', async () => {
    const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    const { s: c } = await openSession(stack.edges[0]!.wsUrl);
    await slowReply(a);
    const from = c.received.length;
    c.send('open_conversation', { conversation_id: conversationId }, 'open');
    await finished(c, from);
    const after = c.received.slice(from);
    expect(after[0]).toMatchObject({ type: 'conversation_started', id: 'open', data: { conversation_id: conversationId } });
    expect(after[1]!.type).toBe('turn_started');
    expect(shown(after)).toEqual({ text: WHOLE, stopped: WHOLE });
    await Promise.all([a.close(), c.close()]);
  });

  it("a socket that moves to another conversation mid-reply gets none of the previous one's events after conversation_started", async () => {
    const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    // A chunk every few ms: some come while the socket moves.
    stack.llm.enqueue({ text: 'word '.repeat(600), chunkSize: 5, chunkDelayMs: 5 });
    a.send('user_message', { text: '@Alice talk fast' });
    await a.waitFor(() => a.ofType('text_chunk').length >= 5, { timeoutMs: 20_000 });
    const from = a.received.length;
    a.send('new_conversation', {}, 'new');
    const started = await a.waitFor((m) => m.id === 'new', { from });
    expect(started.type).toBe('conversation_started');
    await new Promise((r) => setTimeout(r, 300));
    const after = a.received.slice(a.received.indexOf(started) + 1);
    expect(after.map((m) => m.type)).toEqual([]);
    expect(started.data.conversation_id).not.toBe(conversationId);
    await a.close();
  });

  it('a finished turn is not sent again to a socket that opens the conversation afterwards', async () => {
    const { s: a, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    stack.llm.enqueue({ text: 'Short and done.' });
    a.send('user_message', { text: '@Alice hi' });
    await finished(a);
    const { s: b } = await openSession(stack.edges[0]!.wsUrl, { conversationId });
    b.send('ping', undefined, 'p');
    await b.waitFor((m) => m.id === 'p');
    expect(b.received.map((m) => m.type)).toEqual(['session_started', 'pong']);
    await Promise.all([a.close(), b.close()]);
  });
});

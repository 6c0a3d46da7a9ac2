import { compareStreamIds, KEYS, STREAMS } from '@chorus/contracts';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, startScriptedLlm, startStack, TestSocket, unusedUrl, waitUntil, type Received, type Stack } from '@chorus/testkit';

const session = async (stack: Stack) => (await openSession(stack.edges[0]!.wsUrl)).s;

async function turn(s: TestSocket, text: string): Promise<Received[]> {
  const from = s.received.length;
  s.send('user_message', { text });
  const finished = await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
  return s.received.slice(from, s.received.indexOf(finished) + 1);
}

describe('interrupt and LLM failures', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { LLM_MAX_RETRIES: '2' } });
  });
  afterAll(async () => stack?.stop());

  it('interrupt mid-reply: no text_chunk of that turn after interrupt_ack, the LLM request is aborted, the next turn works', async () => {
    const s = await session(stack);
    stack.llm.enqueue({ text: 'word '.repeat(400), chunkSize: 5, chunkDelayMs: 20 });
    const from = s.received.length;
    s.send('user_message', { text: '@Alice tell me a long story' });
    const chunk = await s.waitForType('text_chunk', undefined, { from });
    const messageId = chunk.data.message_id;
    await s.waitFor((m) => m.type === 'text_chunk' && s.received.indexOf(m) > s.received.indexOf(chunk) + 3, { from });
    s.send('interrupt', { message_id: messageId });
    const ack = await s.waitForType('interrupt_ack', undefined, { from });
    const finished = await s.waitForType('turn_finished', undefined, { from });
    expect(finished.data.status).toBe('cancelled');
    const after = s.received.slice(s.received.indexOf(ack) + 1);
    expect(after.filter((m) => m.type === 'text_chunk')).toEqual([]);
    const stop = s.received.slice(from).find((m) => m.type === 'text_stream_stop' && m.data.message_id === messageId)!;
    expect(stop.data.interrupted).toBe(true);
    await waitUntil(() => stack.llm.requests.some((r) => r.aborted), { message: 'the LLM request was not aborted' });

    const next = await turn(s, '@Bob are you still there?');
    expect(next.find((m) => m.type === 'turn_finished')!.data.status).toBe('completed');
    expect(next.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Bob');
    await s.close();
  });

  it('interrupt stops the turn under way only: a message sent while it ran is still answered', async () => {
    const { s, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    stack.llm.enqueue({ text: 'word '.repeat(400), chunkSize: 5, chunkDelayMs: 20 });
    stack.llm.enqueue({ text: 'Here is my answer to the second one.' });
    const from = s.received.length;
    s.send('user_message', { text: '@Alice tell me a long story' }, 'first');
    const chunk = await s.waitForType('text_chunk', undefined, { from });
    s.send('user_message', { text: '@Bob and a second question' }, 'second');
    // The second message waits behind the first turn when the interrupt comes.
    const redis = new Redis(stack.redis.url);
    await waitUntil(async () => (await redis.zcard(KEYS.turnQueue(conversationId))) === 2, { message: 'the second turn was not queued' });
    redis.disconnect();
    s.send('interrupt', { message_id: chunk.data.message_id });
    await s.waitForType('interrupt_ack', undefined, { from });
    const finished = (id: string) => s.waitFor((m) => m.type === 'turn_finished' && m.id === id, { from, timeoutMs: 20_000 });
    expect((await finished('first')).data.status).toBe('cancelled');
    expect((await finished('second')).data.status).toBe('completed');
    const bob = s.received.slice(from).find((m) => m.type === 'text_stream_stop' && m.id === 'second')!;
    expect(bob.data).toMatchObject({ character_name: 'Bob', text: 'Here is my answer to the second one.' });
    await s.close();
  });

  it("Stop right after sending, with no turn under way, cuts that message's turn too", async () => {
    const { s, conversationId } = await openSession(stack.edges[0]!.wsUrl);
    await turn(s, '@Alice a turn that finishes first');
    const from = s.received.length;
    s.send('user_message', { text: '@Alice never mind' }, 'late');
    s.send('interrupt', {}, 'stop');
    await s.waitFor((m) => m.id === 'stop', { from });
    // The cut (cancel:{c}) lies after the message just sent: every worker and edge cancels its turn.
    const redis = new Redis(stack.redis.url);
    try {
      const sent = ((await redis.xrevrange(STREAMS.transcribe, '+', '-', 'COUNT', 50)) as Array<[string, string[]]>).find(([, f]) => f.join('').includes('never mind'));
      const cut = await redis.get(KEYS.cancel(conversationId));
      expect(sent).toBeDefined();
      expect(cut).not.toBeNull();
      expect(compareStreamIds(sent![0], cut!)).toBeLessThan(0);
    } finally {
      redis.disconnect();
    }
    await s.waitFor((m) => m.type === 'turn_finished' && m.id === 'late', { from, timeoutMs: 30_000 });
    await s.close();
  });

  it('401: a clear error, no retry, the worker stays up and the next turn works', async () => {
    const s = await session(stack);
    const before = stack.llm.requests.length;
    stack.llm.enqueue({ status: 401, errorMessage: 'Invalid API key' });
    const events = await turn(s, '@Alice hello');
    const error = events.find((m) => m.type === 'error')!;
    expect(error.data.code).toBe('llm_auth');
    expect(error.data.message).toMatch(/API key/);
    expect(events.at(-1)!.data.status).toBe('failed');
    expect(stack.llm.requests.length - before).toBe(1);
    const next = await turn(s, '@Alice hello again');
    expect(next.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
    await s.close();
  });

  it('500 then success: retried while no token was sent, so the reply arrives without an error', async () => {
    const s = await session(stack);
    const before = stack.llm.requests.length;
    stack.llm.enqueue({ status: 500, errorMessage: 'upstream exploded' }, { text: 'Recovered fine.' });
    const events = await turn(s, '@Bob status?');
    expect(events.filter((m) => m.type === 'error')).toEqual([]);
    expect(events.find((m) => m.type === 'text_stream_stop')!.data.text).toBe('Recovered fine.');
    expect(stack.llm.requests.length - before).toBe(2);
    await s.close();
  });

  it('a stream that breaks after tokens were sent ends the message with an error, not a duplicate retry', async () => {
    const s = await session(stack);
    stack.llm.enqueue({ text: 'This reply will break half way through.', chunkSize: 4, dropAfterChunks: 3 });
    const events = await turn(s, '@Alice go');
    expect(events.find((m) => m.type === 'error')!.data.code).toBe('llm_stream_failed');
    expect(events.filter((m) => m.type === 'text_stream_start')).toHaveLength(1);
    await s.close();
  });

  it('a reply without any text says so (llm_empty_reply naming the character) instead of vanishing; the next responder still answers', async () => {
    const s = await session(stack);
    stack.llm.enqueue({ chunks: [] }, { text: 'Bob is here.' });
    const events = await turn(s, '@Alice @Bob anyone?');
    const error = events.find((m) => m.type === 'error')!;
    expect(error.data).toMatchObject({ code: 'llm_empty_reply', request_type: 'user_message' });
    expect(error.data.message).toMatch(/^Alice's model/);
    expect(events.filter((m) => m.type === 'text_stream_stop').map((m) => m.data.text)).toEqual(['', 'Bob is here.']);
    await s.close();
  });
});

describe('an LLM endpoint that refuses connections', () => {
  let stack: Stack;
  let url: string;
  beforeAll(async () => {
    url = await unusedUrl();
    stack = await startStack({ llmUrl: url, env: { LLM_MAX_RETRIES: '1' } });
  });
  afterAll(async () => stack?.stop());

  it('reports llm_unreachable naming the endpoint, and answers once the endpoint is up', async () => {
    const s = await session(stack);
    const events = await turn(s, '@Alice anyone home?');
    const error = events.find((m) => m.type === 'error')!;
    expect(error.data.code).toBe('llm_unreachable');
    expect(error.data.message).toContain(url);
    const llm = await startScriptedLlm({ port: Number(new URL(url).port) });
    try {
      const next = await turn(s, '@Alice now?');
      expect(next.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
    } finally {
      await llm.close();
    }
    await s.close();
  });
});

import { startStack, TestSocket, waitUntil, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { LLM_MAX_REPLY_CHARS: '120' } });
});
afterAll(async () => stack?.stop());

describe('a reply that does not stop', () => {
  it('is cut at LLM_MAX_REPLY_CHARS: the LLM stream is closed, the turn completes and the conversation goes on', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    // A model stuck in a loop: it would go on for a long while, a word every few milliseconds.
    const looping = 'and again '.repeat(2000);
    stack.llm.enqueue({ text: looping, chunkSize: 10, chunkDelayMs: 2 });
    const requests = stack.llm.requests.length;
    const from = s.received.length;
    s.send('user_message', { text: '@Alice count forever' });
    const finished = await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
    expect(finished.data.status).toBe('completed');
    const stop = s.received.slice(from).find((m) => m.type === 'text_stream_stop')!;
    expect(looping.startsWith(stop.data.text)).toBe(true);
    expect(stop.data.text.length).toBeGreaterThan(100);
    expect(stop.data.text.length).toBeLessThanOrEqual(120);
    const chunks = s.received.slice(from).filter((m) => m.type === 'text_chunk' && !m.data.is_final);
    expect(chunks.map((m) => m.data.text).join('').length).toBeLessThanOrEqual(120);
    // The worker hung up instead of reading the rest.
    await waitUntil(() => stack.llm.requests[requests]?.aborted === true, { timeoutMs: 10_000, message: 'the LLM stream was read to its end' });

    const next = s.received.length;
    s.send('user_message', { text: '@Alice and now?' });
    expect((await s.waitForType('turn_finished', undefined, { from: next, timeoutMs: 20_000 })).data.status).toBe('completed');
    await s.close();
  });
});

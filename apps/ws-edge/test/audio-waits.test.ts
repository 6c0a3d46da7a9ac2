/**
 * The edge waits for each message's speech in the turn's order, and skips one whose audio does not come
 * within AUDIO_WAIT_MS with a `tts_unavailable` notice. That wait must only count while the audio is really
 * due: not for a message whose text never started (the LLM failed before it), nor while a slow model is
 * still writing the text that its speech is made of.
 */
import { startStack, TestSocket, type Received, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WAIT_MS = 1500;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1, env: { AUDIO_WAIT_MS: String(WAIT_MS) } });
});
afterAll(async () => {
  await stack?.stop();
});

const ttsNotices = (s: TestSocket, from: number) => s.received.slice(from).filter((m) => m.type === 'error' && m.data.code === 'tts_unavailable');
const ofMessage = (type: string, messageId: string) => (m: Received) => m.type === type && m.data.message_id === messageId;

describe('waiting for speech', () => {
  it('responders after a failed one never start: they hold up no later speech and get no tts notice', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const from = s.received.length;
    // Alice's request is refused (401: not retried): the turn ends there, and Bob's message never starts.
    stack.llm.enqueue({ status: 401, errorMessage: 'Invalid API key' });
    s.send('user_message', { text: '@Alice @Bob hello both' });
    const started = await s.waitForType('turn_started', undefined, { from, timeoutMs: 20_000 });
    expect(started.data.responders.map((r: { character_name: string }) => r.character_name)).toEqual(['Alice', 'Bob']);
    await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
    expect(s.received.slice(from).find((m) => m.type === 'error')?.data.code).toBe('llm_auth');

    const next = s.received.length;
    s.send('user_message', { text: '@Alice and now?' });
    const reply = await s.waitForType('text_stream_start', undefined, { from: next, timeoutMs: 20_000 });
    await s.waitFor(ofMessage('audio_stream_stop', reply.data.message_id), { from: next, timeoutMs: 30_000 });
    // Bob's message was dropped when his turn ended: nothing waited for its audio, so nothing timed out.
    expect(ttsNotices(s, from)).toEqual([]);
    expect(s.received.slice(from).filter((m) => m.type === 'text_stream_start').map((m) => m.data.character_name)).toEqual(['Alice', 'Alice']);
    await s.close();
  });

  it("a slow model's reply is spoken though its first sentence took longer than AUDIO_WAIT_MS to write", async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const from = s.received.length;
    // No sentence ends (nor any clause) until 8 chunks × 400 ms have streamed: about twice the wait.
    const chunks = ['Well', ' now', ' let', ' me', ' think', ' about', ' that', ' one', ' for', ' a', ' while.', ' Done.'];
    stack.llm.enqueue({ chunks, chunkDelayMs: 400 });
    s.send('user_message', { text: '@Alice take your time' });
    const reply = await s.waitForType('text_stream_start', undefined, { from, timeoutMs: 20_000 });
    await s.waitForType('turn_finished', undefined, { from, timeoutMs: 30_000 });
    await s.waitFor(ofMessage('audio_stream_stop', reply.data.message_id), { from, timeoutMs: 30_000 });
    expect(s.received.slice(from).filter(ofMessage('audio_chunk', reply.data.message_id)).length).toBeGreaterThan(0);
    expect(ttsNotices(s, from)).toEqual([]);
    await s.close();
  });
});

/**
 * A client whose socket drops mid-reply reconnects and hears the rest of the speech: the rest of the message
 * it was receiving (from where its audio stopped arriving, per the URL's resume hint) and the turn's later
 * messages. Before, the edge learnt what to speak only from `turn_started`, so a reconnected socket got the
 * reply's text but no more of its speech. A second socket of a conversation whose speech is under way gets
 * `audio_stream_start` before that message's chunks.
 */
import { STREAMS } from '@chorus/contracts';
import { startStack, TestSocket, type Received, type Stack } from '@chorus/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
let redis: Redis;
beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1 });
  redis = new Redis(stack.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const ofMessage = (type: string, messageId: string) => (m: Received) => m.type === type && m.data.message_id === messageId;
/** A message's audio chunks that arrived whole (an `audio_chunk` whose binary frame was cut off did not). */
const chunks = (s: TestSocket, messageId: string) => s.received.filter((m) => ofMessage('audio_chunk', messageId)(m) && m.binary);
const chunkKeys = (s: TestSocket, messageId: string) => chunks(s, messageId).map((m) => `${m.data.sentence_index}.${m.data.chunk_index}`);
/** Milliseconds of PCM16 audio that arrived for a message. */
const receivedMs = (s: TestSocket, messageId: string, rate: number) => chunks(s, messageId).reduce((ms, m) => ms + (m.binary!.length / 2 / rate) * 1000, 0);

/** A reply of three sentences written slowly, so its speech is still coming when the socket drops. */
const slowReply = (name: string) => ({
  chunks: [`${name} here, and this is the first sentence of it.`, ' The second one takes its time.', ' And the third one ends it.'],
  chunkDelayMs: 700,
});

/** Alice starts a slow reply on `s`: its message id, once the first of its audio has arrived. */
async function aliceSpeaking(s: TestSocket, text: string): Promise<string> {
  const from = s.received.length;
  stack.llm.enqueue(slowReply('Alice'));
  s.send('user_message', { text: `@Alice ${text}` });
  const plan = await s.waitForType('turn_started', undefined, { from, timeoutMs: 20_000 });
  const id = plan.data.responders[0].message_id as string;
  await s.waitFor(ofMessage('audio_chunk', id), { from, timeoutMs: 30_000 });
  return id;
}

async function connected(url: string): Promise<{ s: TestSocket; conversationId: string }> {
  const s = await TestSocket.connect(url);
  const started = await s.waitForType('session_started');
  return { s, conversationId: started.data.conversation_id };
}

describe('speech after a reconnect', () => {
  it('a client that reconnects mid-reply gets the rest of the message it was receiving, then the next one', async () => {
    const { s: a, conversationId } = await connected(stack.edges[0]!.wsUrl);
    stack.llm.enqueue(slowReply('Alice'));
    stack.llm.enqueue({ chunks: ['Bob speaks after her.'] });
    a.send('user_message', { text: '@Alice @Bob tell me a story' });
    const plan = await a.waitForType('turn_started', undefined, { timeoutMs: 20_000 });
    const [alice, bob] = plan.data.responders.map((r: { message_id: string }) => r.message_id) as [string, string];
    const start = await a.waitFor(ofMessage('audio_stream_start', alice), { timeoutMs: 30_000 });
    // Two chunks announced: the first one's binary frame came before the second's announcement.
    await a.waitFor(() => a.received.filter(ofMessage('audio_chunk', alice)).length >= 2, { timeoutMs: 30_000 });
    a.ws.terminate(); // the connection drops, as a network does
    await a.closed;
    const had = chunkKeys(a, alice);
    const ms = receivedMs(a, alice, start.data.sample_rate);
    expect(a.received.some(ofMessage('audio_stream_stop', alice))).toBe(false); // dropped mid-message

    const b = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${conversationId}&audio_message_id=${alice}&audio_received_ms=${Math.ceil(ms)}`);
    await b.waitForType('session_started');
    await b.waitFor(ofMessage('audio_stream_stop', bob), { timeoutMs: 30_000 });
    expect(b.ofType('error')).toEqual([]);
    // The rest of Alice's message, without what had arrived before, and nothing lost between the two sockets.
    const rest = chunkKeys(b, alice);
    expect(rest.length).toBeGreaterThan(0);
    expect(rest.filter((k) => had.includes(k))).toEqual([]);
    const all = await redis.xrange(STREAMS.audio(conversationId, alice), '-', '+');
    expect(had.length + rest.length).toBe(all.length - 1); // every chunk but the end marker
    // In order: Alice's start, her chunks, her stop, then Bob's speech.
    const order = b.received.filter((m) => m.type.startsWith('audio_stream_')).map((m) => `${m.type}:${m.data.message_id === alice ? 'alice' : 'bob'}`);
    expect(order).toEqual(['audio_stream_start:alice', 'audio_stream_stop:alice', 'audio_stream_start:bob', 'audio_stream_stop:bob']);
    await b.close();
  });

  it('without a hint (a new tab), the speech still to come plays from its start; a cancelled turn is not resumed', async () => {
    const { s: a, conversationId } = await connected(stack.edges[0]!.wsUrl);
    const alice = await aliceSpeaking(a, 'go on');
    await a.close();

    const b = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${conversationId}`);
    await b.waitForType('session_started');
    await b.waitFor(ofMessage('audio_stream_stop', alice), { timeoutMs: 30_000 });
    expect(chunkKeys(b, alice)[0]).toBe('0.0');

    // Interrupted, then reconnected: the cut turn's speech does not come back.
    const from = b.received.length;
    const cut = await aliceSpeaking(b, 'once more');
    b.send('interrupt', { message_id: cut, audio_end_ms: 100 });
    await b.waitForType('interrupt_ack', undefined, { from });
    await b.close();
    const c = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${conversationId}&audio_message_id=${cut}&audio_received_ms=100`);
    await c.waitForType('session_started');
    // Speech plays in order, so a resumed cut message would come before the next turn's.
    stack.llm.enqueue({ chunks: ['Fresh start.'] });
    c.send('user_message', { text: '@Alice something else' });
    const after = await c.waitForType('turn_started', undefined, { timeoutMs: 20_000 });
    await c.waitFor(ofMessage('audio_stream_stop', after.data.responders[0].message_id), { timeoutMs: 30_000 });
    expect(c.received.filter((m) => m.type.startsWith('audio_') && m.data.message_id === cut)).toEqual([]);
    await c.close();
  });

  it('a second socket that joins while a message plays gets its audio_stream_start before its chunks', async () => {
    const { s: a, conversationId } = await connected(stack.edges[0]!.wsUrl);
    const alice = await aliceSpeaking(a, 'hello');
    const b = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${conversationId}`);
    await b.waitForType('session_started');
    await b.waitFor(ofMessage('audio_stream_stop', alice), { timeoutMs: 30_000 });
    const audio = b.received.filter((m) => m.type.startsWith('audio_') && m.data.message_id === alice);
    expect(audio.length).toBeGreaterThan(2);
    expect(audio[0]!.type).toBe('audio_stream_start');
    expect(audio[0]!.data.sample_rate).toBeGreaterThan(0);
    await Promise.all([a.close(), b.close()]);
  });

  it('a malformed resume hint is refused with an error; the session still starts', async () => {
    const { conversationId } = await connected(stack.edges[0]!.wsUrl).then(async (x) => (await x.s.close(), x));
    const s = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${conversationId}&audio_message_id=x&audio_received_ms=soon`);
    const started = await s.waitForType('session_started');
    expect(started.data.conversation_id).toBe(conversationId);
    const err = await s.waitForType('error');
    expect(err.data.code).toBe('invalid_message');
    expect(err.data.message).toMatch(/audio_received_ms/);
    s.send('ping');
    await s.waitForType('pong');
    await s.close();
  });
});

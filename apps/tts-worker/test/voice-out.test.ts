import { Redis } from 'ioredis';
import { AudioEntry, decodeEntry, STREAMS } from '@chorus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, rms, startStack, TestSocket, waitUntil, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

const session = () => openSession(stack.edges[0]!.wsUrl);

/** Waits for `audio_stream_stop` of every message of the next turn and returns the turn's events. */
async function spokenTurn(s: TestSocket, text: string, messages = 1): Promise<Received[]> {
  const from = s.received.length;
  s.send('user_message', { text });
  await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
  for (let i = 0; i < messages; i++) {
    await waitForNth(s, 'audio_stream_stop', i + 1, from);
  }
  return s.received.slice(from);
}

const waitForNth = (s: TestSocket, type: string, n: number, from: number) =>
  waitUntil(() => s.received.slice(from).filter((e) => e.type === type).length >= n, { timeoutMs: 30_000, message: `${n}× ${type}` });

const pcmOf = (chunks: Received[]) => {
  const buf = Buffer.concat(chunks.map((c) => c.binary!));
  return new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
};

describe('voice out', () => {
  it("turns a reply's sentences into binary frames: right order, right message_id, non-silent PCM as long as the text", async () => {
    const { s } = await session();
    const reply = 'The dust storms on Mars can cover the whole planet. They last for weeks.';
    stack.llm.enqueue({ text: reply, chunkSize: 6 });
    const events = await spokenTurn(s, '@Alice tell me about Mars');
    const messageId = events.find((e) => e.type === 'text_stream_start')!.data.message_id;
    const start = events.find((e) => e.type === 'audio_stream_start')!;
    expect(start.data).toMatchObject({ message_id: messageId, character_name: 'Alice', sample_rate: 16000 });
    const chunks = events.filter((e) => e.type === 'audio_chunk');
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((c) => c.data.message_id === messageId && c.binary && c.binary.length % 2 === 0)).toBe(true);
    // sentence by sentence, chunk by chunk, in order, nothing repeated
    const order = chunks.map((c) => [c.data.sentence_index, c.data.chunk_index] as const);
    for (let i = 1; i < order.length; i++) {
      const [ps, pc] = order[i - 1]!;
      const [cs, cc] = order[i]!;
      expect(cs === ps ? cc === pc + 1 : cs === ps + 1 && cc === 0).toBe(true);
    }
    expect(new Set(order.map(([si]) => si))).toEqual(new Set([0, 1]));
    const stop = events.find((e) => e.type === 'audio_stream_stop')!;
    expect(events.indexOf(start)).toBeLessThan(events.indexOf(chunks[0]!));
    expect(events.indexOf(chunks.at(-1)!)).toBeLessThan(events.indexOf(stop));
    const pcm = pcmOf(chunks);
    const seconds = pcm.length / 16000;
    const words = reply.split(/\s+/).length;
    // flite speaks at roughly 2–4 words a second
    expect(seconds).toBeGreaterThan(words / 5);
    expect(seconds).toBeLessThan(words / 1.2);
    expect(rms(pcm)).toBeGreaterThan(300);
    // no chunk longer than 200 ms
    expect(Math.max(...chunks.map((c) => c.binary!.length / 2))).toBeLessThanOrEqual(3200);
  });

  it("starts the second character's audio only after the first one's audio_stream_stop", async () => {
    const { s } = await session();
    stack.llm.enqueue({ text: 'I am Alice. I speak first and at some length, so that my audio takes a while.', chunkSize: 8 });
    stack.llm.enqueue({ text: 'Bob here.', chunkSize: 8 });
    const events = await spokenTurn(s, 'Hello both of you', 2);
    const audio = events.filter((e) => e.type.startsWith('audio_stream'));
    const [alice, bob] = events.filter((e) => e.type === 'text_stream_start').map((e) => e.data.message_id);
    expect(audio.map((e) => [e.type, e.data.message_id])).toEqual([
      ['audio_stream_start', alice],
      ['audio_stream_stop', alice],
      ['audio_stream_start', bob],
      ['audio_stream_stop', bob],
    ]);
    const chunkIds = events.filter((e) => e.type === 'audio_chunk').map((e) => e.data.message_id);
    expect(chunkIds.lastIndexOf(alice)).toBeLessThan(chunkIds.indexOf(bob));
  });
});

describe('voice out: interrupts and bad voices', () => {
  it('interrupt mid-audio: no audio_chunk after interrupt_ack, and the stored reply is what was heard', async () => {
    const { s, conversationId } = await session();
    const sentences = ['First I will say this sentence.', 'Then this second one follows.', 'A third one comes after that.', 'And a fourth to end.'];
    stack.llm.enqueue({ text: sentences.join(' '), chunkSize: 10 });
    const from = s.received.length;
    s.send('user_message', { text: '@Bob talk for a while' });
    const first = await s.waitForType('audio_chunk', (e) => e.data.sentence_index === 1, { from, timeoutMs: 20_000 });
    const messageId = first.data.message_id;
    // The listener heard sentence 0 and a little of sentence 1 when cutting in.
    const chunks = s.received.slice(from).filter((e) => e.type === 'audio_chunk');
    const firstSentenceMs = (chunks.filter((c) => c.data.sentence_index === 0).reduce((n, c) => n + c.binary!.length / 2, 0) / 16000) * 1000;
    s.send('interrupt', { message_id: messageId, audio_end_ms: Math.round(firstSentenceMs + 100) });
    const ack = await s.waitForType('interrupt_ack', undefined, { from });
    await new Promise((r) => setTimeout(r, 1500));
    const afterAck = s.received.slice(s.received.indexOf(ack) + 1);
    expect(afterAck.filter((e) => e.type === 'audio_chunk' || e.type === 'text_chunk')).toEqual([]);

    // Stored as heard: sentence 0 in full plus the cut sentence 1.
    const expected = `${sentences[0]} ${sentences[1]}`;
    const deadline = Date.now() + 15_000;
    let stored: any;
    while (Date.now() < deadline) {
      const at = s.received.length;
      s.send('get_messages', { conversation_id: conversationId });
      const data = await s.waitForType('messages_data', undefined, { from: at });
      stored = data.data.messages.find((m: any) => m.id === messageId);
      if (stored?.content === expected) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(stored).toMatchObject({ content: expected, interrupted: true, audio_end_ms: Math.round(firstSentenceMs + 100) });

    // The next turn still speaks, and Bob's context holds only what was heard.
    stack.llm.enqueue({ text: 'Sure.', chunkSize: 8 });
    await spokenTurn(s, '@Bob go on');
    const request = stack.llm.requests.at(-1)!;
    const transcript = JSON.stringify(request.body.messages);
    expect(transcript).toContain(sentences[1]);
    expect(transcript).not.toContain(sentences[2]);
  });

  it('interrupt makes the tts-worker drop the sentences it has not spoken yet', async () => {
    const { s, conversationId } = await session();
    const total = 30;
    const reply = Array.from({ length: total }, (_, i) => `Sentence ${i + 1} is here to be spoken slowly by Bob.`).join(' ');
    stack.llm.enqueue({ text: reply, chunkSize: reply.length }); // every sentence is queued at once
    const from = s.received.length;
    s.send('user_message', { text: '@Bob read them all' });
    const first = await s.waitForType('audio_chunk', undefined, { from, timeoutMs: 20_000 });
    s.send('interrupt', {});
    await s.waitForType('interrupt_ack', undefined, { from });
    const redis = new Redis(stack.redis.url);
    try {
      const key = STREAMS.audio(conversationId, first.data.message_id);
      const entries = async () => ((await redis.xrange(key, '-', '+')) as Array<[string, string[]]>).map(([, f]) => decodeEntry(AudioEntry, f));
      await waitUntil(async () => (await entries()).some((e) => e.final), { timeoutMs: 20_000, message: 'end marker after the interrupt' });
      const spoken = new Set((await entries()).filter((e) => !e.final).map((e) => e.sentence_index));
      expect(spoken.size).toBeLessThan(total);
    } finally {
      redis.disconnect();
    }
  });

  it('a voice with an unknown engine or voice name: error naming the voice, text still delivered, worker alive', async () => {
    const { s } = await session();
    const at = s.received.length;
    s.send('create_voice', { name: 'Broken', engine: 'nope', params: {} });
    const voice = (await s.waitForType('voice_created', undefined, { from: at })).data;
    s.send('create_voice', { name: 'Wrong flite', engine: 'flite', params: { voice: 'nobody' } });
    const wrong = (await s.waitForType('voice_created', (e) => e.data.name === 'Wrong flite', { from: at })).data;
    s.send('create_character', { name: 'Zed', system_prompt: 'You are Zed.', voice_id: voice.id });
    const zed = (await s.waitForType('character_created', undefined, { from: at })).data;
    s.send('create_character', { name: 'Yan', system_prompt: 'You are Yan.', voice_id: wrong.id });
    const yan = (await s.waitForType('character_created', (e) => e.data.name === 'Yan', { from: at })).data;

    stack.llm.enqueue({ text: 'Zed speaks in text only.', chunkSize: 8 });
    stack.llm.enqueue({ text: 'Yan too.', chunkSize: 8 });
    const from = s.received.length;
    s.send('user_message', { text: '@Zed @Yan hello' }, 'hello-1');
    await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
    const errors = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (s.received.slice(from).filter((e) => e.type === 'error').length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return s.received.slice(from).filter((e) => e.type === 'error');
    };
    const errs = await errors(2);
    expect(errs.map((e) => e.data.code).sort()).toEqual(['tts_voice_invalid', 'tts_voice_invalid']);
    expect(errs.map((e) => e.id)).toEqual(['hello-1', 'hello-1']); // replies to the user_message (PROTOCOL: they echo its id)
    expect(errs.some((e) => /Broken/.test(e.data.message) && /nope/.test(e.data.message))).toBe(true);
    expect(errs.some((e) => /Wrong flite/.test(e.data.message) && /nobody/.test(e.data.message))).toBe(true);
    const texts = s.received.slice(from).filter((e) => e.type === 'text_stream_stop').map((e) => e.data.text);
    expect(texts).toEqual(['Zed speaks in text only.', 'Yan too.']);

    // the tts-worker is alive: a good voice still speaks
    for (const c of [zed, yan]) s.send('delete_character', { id: c.id });
    stack.llm.enqueue({ text: 'Still here.', chunkSize: 8 });
    const events = await spokenTurn(s, '@Alice are you there?');
    expect(events.filter((e) => e.type === 'audio_chunk').length).toBeGreaterThan(0);
    expect(stack.ttsWorkers[0]!.proc.exitCode).toBeNull();
  });
});

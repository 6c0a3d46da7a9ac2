import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rms, startStack, TestSocket, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

async function session(): Promise<{ s: TestSocket; conversationId: string }> {
  const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
  const started = await s.waitForType('session_started');
  return { s, conversationId: started.data.conversation_id };
}

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

async function waitForNth(s: TestSocket, type: string, n: number, from: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (s.received.slice(from).filter((e) => e.type === type).length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n}× ${type}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPocketsphinx, pocketsphinxTranscribe, startStack, TestSocket, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 2, env: { TTS_CONCURRENCY: '8' } });
});
afterAll(async () => {
  await stack?.stop();
});

const until = async (ok: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const pcmOf = (chunks: Received[]) => {
  const buf = Buffer.concat(chunks.map((c) => c.binary!));
  return new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
};

describe('voice out at scale', () => {
  it('two tts-workers share 10 conversations; kill -9 one mid-message → every message completes, no sentence missing or repeated', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
        await s.waitForType('session_started');
        return s;
      }),
    );
    // Long replies (8 sentences each), so the kill lands mid-message.
    const reply = Array.from({ length: 8 }, (_, i) => `This is sentence number ${i + 1} of a long answer about the red planet.`).join(' ');
    stack.llm.respond(() => ({ text: reply, chunkSize: 12 }));
    for (const s of sockets) s.send('user_message', { text: '@Alice tell me a long story' });
    // Wait until both workers are speaking something, then kill one.
    await until(() => sockets.filter((s) => s.received.some((e) => e.type === 'audio_chunk')).length >= 4, 30_000, 'audio started');
    const victim = stack.ttsWorkers[0]!;
    await victim.kill('SIGKILL');

    await until(() => sockets.every((s) => s.received.some((e) => e.type === 'audio_stream_stop')), 60_000, 'every message finished');
    // The survivor really continued messages the victim had started.
    expect(stack.ttsWorkers[1]!.logs.some((l) => l.includes('took over an abandoned entry'))).toBe(true);
    for (const s of sockets) {
      const chunks = s.received.filter((e) => e.type === 'audio_chunk');
      const sentences = new Map<number, number[]>();
      for (const c of chunks) sentences.set(c.data.sentence_index, [...(sentences.get(c.data.sentence_index) ?? []), c.data.chunk_index]);
      expect([...sentences.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      for (const idx of sentences.values()) expect(idx).toEqual(idx.map((_, i) => i));
      expect(s.received.filter((e) => e.type === 'audio_stream_start')).toHaveLength(1);
      s.close();
    }
  }, 120_000);

  it.skipIf(!hasPocketsphinx())('speaks intelligibly: pocketsphinx hears the key words in the audio from the pipeline', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    stack.llm.enqueue({ text: 'The weather on Mars is cold and dusty today.', chunkSize: 7 });
    const from = s.received.length;
    s.send('user_message', { text: '@Bob how is the weather on Mars?' });
    await s.waitForType('audio_stream_stop', undefined, { from, timeoutMs: 30_000 });
    const rate = s.received.slice(from).find((e) => e.type === 'audio_stream_start')!.data.sample_rate;
    expect(rate).toBe(16000);
    const heard = await pocketsphinxTranscribe(pcmOf(s.received.slice(from).filter((e) => e.type === 'audio_chunk')));
    const words = ['weather', 'mars', 'cold', 'dusty', 'today'].filter((w) => heard.toLowerCase().includes(w));
    expect(words.length, `pocketsphinx heard "${heard}"`).toBeGreaterThanOrEqual(3);
    s.close();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPocketsphinx, metricValue, pocketsphinxTranscribe, startStack, TestSocket, waitUntil, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 2, env: { TTS_CONCURRENCY: '8', AUDIO_HIGH_WATER_BYTES: '16384', AUDIO_WAIT_MS: '120000', WS_PING_INTERVAL_MS: '600000' } });
});
afterAll(async () => {
  await stack?.stop();
});

const until = (ok: () => boolean, timeoutMs: number, message: string) => waitUntil(ok, { timeoutMs, message });

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
      // A synthesis that failed is reported and skipped; here none may fail, so a missing sentence below is the takeover's.
      expect(s.received.filter((e) => e.type === 'error').map((e) => e.data.message)).toEqual([]);
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

  it('a client that stops reading pauses the audio instead of filling the edge; it gets all of it once it reads again', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const reply = Array.from({ length: 40 }, (_, i) => `Here is line ${i + 1} of a very long speech that nobody reads in time.`).join(' ');
    stack.llm.enqueue({ text: reply, chunkSize: 40 });
    const from = s.received.length;
    s.send('user_message', { text: '@Bob speak at length' });
    await s.waitForType('audio_chunk', undefined, { from, timeoutMs: 20_000 });
    const tcp = (s.ws as unknown as { _socket: import('node:net').Socket })._socket;
    tcp.pause(); // stop reading: the edge's socket buffer fills up
    const metric = () => metricValue(stack.edges[0]!.url, 'chorus_audio_paused_total');
    const deadline = Date.now() + 30_000;
    while ((await metric()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await metric()).toBeGreaterThan(0);
    tcp.resume();
    await s.waitForType('audio_stream_stop', undefined, { from, timeoutMs: 60_000 });
    const chunks = s.received.slice(from).filter((e) => e.type === 'audio_chunk');
    const sentences = [...new Set(chunks.map((c) => c.data.sentence_index))];
    expect(sentences).toEqual(sentences.map((_, i) => i));
    expect(sentences.length).toBe(40);
    expect(s.ws.readyState).toBe(1); // still open: paused, not dropped
    s.close();
  }, 120_000);
});

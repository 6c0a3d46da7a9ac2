import { Redis } from 'ioredis';
import { GROUPS, STREAMS } from '@chorus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hasPocketsphinx,
  joinPcm,
  sendMic,
  silence,
  speechClip,
  startStack,
  TestSocket,
  waitUntil,
  whiteNoise,
  type Stack,
} from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  if (!hasPocketsphinx()) return;
  // A longer end of turn than the default and no early end (end-of-turn.test.ts has that), so a pause of ~0.6 s
  // (at which pocketsphinx prints a phrase) stays inside one utterance.
  stack = await startStack({ sttWorkers: 2, ttsWorkers: 1, env: { VAD_END_SILENCE_MS: '800', VAD_EARLY_END_MS: '0' } });
});
afterAll(async () => {
  await stack?.stop();
});

async function listening(): Promise<{ s: TestSocket; conversationId: string }> {
  const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
  const started = await s.waitForType('session_started');
  s.send('start_listening', { sample_rate: 16000 });
  return { s, conversationId: started.data.conversation_id };
}

const words = (text: string) => text.toLowerCase().split(/\W+/).filter(Boolean);

describe.skipIf(!hasPocketsphinx())('voice in', () => {
  it('a spoken sentence naming a character, sent as 20 ms frames: stt_finished holds its key words, then that character answers', async () => {
    const { s } = await listening();
    stack.llm.enqueue({ text: 'Cold and dusty, with thin air.' });
    const from = s.received.length;
    await sendMic(s, await speechClip('Alice, what is the weather like on Mars?'), { speed: 2 });
    const finished = await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    expect(words(finished.data.text)).toEqual(expect.arrayContaining(['alice', 'weather', 'mars']));
    // The end of speech was at least the VAD's end-of-turn silence (800 ms here) before the transcript.
    expect(finished.data.speech_end_ms).toBeGreaterThanOrEqual(800);
    const start = await s.waitForType('text_stream_start', undefined, { from, timeoutMs: 20_000 });
    expect(start.data.character_name).toBe('Alice');
    const stop = await s.waitForType('text_stream_stop', undefined, { from, timeoutMs: 20_000 });
    expect(stop.data.text).toBe('Cold and dusty, with thin air.');
    // The LLM saw the transcript as the user's turn, and only Alice answered.
    const request = stack.llm.requests.at(-1)!;
    expect(JSON.stringify(request.body.messages)).toContain(finished.data.text);
    const turn = await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
    expect(turn.data.status).toBe('completed');
    expect(s.received.slice(from).filter((e) => e.type === 'text_stream_start')).toHaveLength(1);
    await s.close();
  });

  it('while the user speaks: live stt_update and stt_stabilized (a phrase before a short pause), then stt_finished', async () => {
    const { s } = await listening();
    stack.llm.enqueue({ text: 'Sure.' });
    const from = s.received.length;
    const clip = joinPcm(await speechClip('Alice, tell me about Mars.', { tailMs: 0 }), silence(250), await speechClip('What is the weather like there today?', { leadMs: 0 }));
    await sendMic(s, clip, { speed: 1 });
    const finished = await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    const live = s.received.slice(from, s.received.indexOf(finished));
    const update = live.find((e) => e.type === 'stt_update' && e.data.text);
    const stable = live.find((e) => e.type === 'stt_stabilized');
    expect(update, 'a partial before the final').toBeDefined();
    expect(stable).toBeDefined();
    expect(finished.data.text.startsWith(stable!.data.text)).toBe(true);
    expect(words(finished.data.text)).toEqual(expect.arrayContaining(['weather']));
    await s.close();
  });

  it('silence and noise alone: no transcript and no turn', async () => {
    const { s } = await listening();
    const from = s.received.length;
    await sendMic(s, joinPcm(silence(1500), whiteNoise(2000, 2500), silence(1500)), { speed: 4 });
    s.send('stop_listening');
    s.send('ping');
    await s.waitForType('pong', undefined, { from });
    const noiseOnly = s.received.slice(from);
    expect(noiseOnly.filter((e) => e.type.startsWith('stt_') || e.type === 'turn_started')).toHaveLength(0);
    // A spoken sentence afterwards is transcribed: the session worked throughout.
    s.send('start_listening', { sample_rate: 16000 });
    stack.llm.enqueue({ text: 'Yes.' });
    await sendMic(s, await speechClip('What is the weather like on Mars?'), { speed: 2 });
    const finished = await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    expect(words(finished.data.text)).toEqual(expect.arrayContaining(['weather', 'mars']));
    await s.close();
  });

  it('bad frames get an error and the socket and server keep working', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const errorAfter = async (act: () => void) => {
      const from = s.received.length;
      act();
      return (await s.waitForType('error', undefined, { from })).data;
    };
    expect(await errorAfter(() => s.sendRaw(Buffer.alloc(640)))).toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(/start_listening/) });
    expect(await errorAfter(() => s.send('start_listening', { sample_rate: 1_000_000 }))).toMatchObject({ code: 'invalid_message', request_type: 'start_listening' });
    expect(await errorAfter(() => s.send('start_listening', { sample_rate: 'fast' }))).toMatchObject({ code: 'invalid_message' });
    s.send('start_listening', { sample_rate: 48000 });
    expect(await errorAfter(() => s.sendRaw(Buffer.alloc(641)))).toMatchObject({ code: 'invalid_audio', message: expect.stringMatching(/641 bytes/) });
    expect(await errorAfter(() => s.sendRaw(Buffer.alloc(0)))).toMatchObject({ code: 'invalid_audio' });
    expect(await errorAfter(() => s.sendRaw(Buffer.alloc(64 * 1024 + 2)))).toMatchObject({ code: 'too_large' });
    // Still listening at 48 kHz: the stt-worker resamples, and a sentence is transcribed.
    const from = s.received.length;
    stack.llm.enqueue({ text: 'Hello.' });
    await sendMic(s, await speechClip('Alice, tell me about Mars.', { rate: 48000 }), { rate: 48000, speed: 2 });
    const finished = await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    expect(words(finished.data.text)).toContain('mars');
    s.send('ping');
    await s.waitForType('pong', undefined, { from });
    await s.close();
  });

  it('barge-in: speech while a character speaks → interrupt_ack, no more audio of that turn, history keeps what was heard', async () => {
    const { s, conversationId } = await listening();
    const long = Array.from({ length: 12 }, (_, i) => `This is sentence number ${i + 1} of a long answer about the red planet.`).join(' ');
    stack.llm.enqueue({ text: long, chunkSize: 20 });
    const from = s.received.length;
    s.send('user_message', { text: '@Bob tell me everything about Mars' });
    const audioStart = await s.waitForType('audio_stream_start', undefined, { from, timeoutMs: 20_000 });
    await s.waitForType('audio_chunk', undefined, { from });
    const speaking = sendMic(s, await speechClip('Wait, stop please, Bob.', { tailMs: 1200 }), { speed: 1 });
    const ack = await s.waitForType('interrupt_ack', undefined, { from, timeoutMs: 20_000 });
    expect(ack.data).toMatchObject({ reason: 'barge_in' });
    await speaking;
    await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    const after = s.received.slice(s.received.indexOf(ack));
    expect(after.filter((e) => e.type === 'audio_chunk' && e.data.message_id === audioStart.data.message_id)).toHaveLength(0);
    // The reply was cut: only what had started playing is kept.
    let stored: { content: string; audio_end_ms?: number | null } | undefined;
    const m = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await m.waitForType('session_started');
    await waitUntil(
      async () => {
        const mark = m.received.length;
        m.send('get_messages', { conversation_id: conversationId });
        const data = (await m.waitForType('messages_data', undefined, { from: mark })).data;
        stored = data.messages.find((x: { id: string }) => x.id === audioStart.data.message_id);
        return typeof stored?.audio_end_ms === 'number';
      },
      { timeoutMs: 15_000, intervalMs: 200, message: "Bob's interrupted message stored with audio_end_ms" },
    );
    await m.close();
    expect(stored!.content.length).toBeGreaterThan(0);
    expect(stored!.content.length).toBeLessThan(long.length);
    await s.close();
  });

  it("two stt-workers share the sessions; kill -9 one mid-utterance → its sessions' later utterances are still transcribed", async () => {
    const sockets = await Promise.all(Array.from({ length: 4 }, () => listening()));
    const redis = new Redis(stack.redis.url);
    try {
      // Every session is held by a worker (pending entry on `listen`) once its first frames arrive.
      await Promise.all(sockets.map(({ s }) => sendMic(s, silence(400), { speed: 4 })));
      let owners: string[] = [];
      await waitUntil(
        async () => {
          const pending = (await redis.xpending(STREAMS.listen, GROUPS.stt, '-', '+', 100)) as Array<[string, string, number, number]>;
          owners = pending.map(([, consumer]) => consumer);
          return owners.length >= 4;
        },
        { timeoutMs: 15_000, message: 'all four sessions held' },
      );
      const busiest = [...new Set(owners)].sort((a, b) => owners.filter((o) => o === b).length - owners.filter((o) => o === a).length)[0]!;
      const victim = stack.sttWorkers.find((w) => w.name === busiest)!;
      const survivor = stack.sttWorkers.find((w) => w !== victim)!;
      const clip = await speechClip('Alice, what is the weather like on Mars?');
      // Start an utterance everywhere, then kill the worker holding most sessions in the middle of it.
      const first = sockets.map(({ s }) => sendMic(s, clip, { speed: 1 }));
      await new Promise((r) => setTimeout(r, 1200));
      await victim.kill('SIGKILL');
      await Promise.all(first);
      await survivor.waitForLog(/took over a listening session/, 20_000);
      for (let i = 0; i < sockets.length; i++) stack.llm.enqueue({ text: `Answer ${i}.` });
      const marks = sockets.map(({ s }) => s.received.length);
      await Promise.all(sockets.map(({ s }) => sendMic(s, clip, { speed: 2 })));
      for (const [i, { s }] of sockets.entries()) {
        const finished = await s.waitForType('stt_finished', undefined, { from: marks[i], timeoutMs: 30_000 });
        expect(words(finished.data.text)).toEqual(expect.arrayContaining(['weather', 'mars']));
      }
    } finally {
      redis.disconnect();
      await Promise.all(sockets.map(({ s }) => s.close()));
    }
  });
});

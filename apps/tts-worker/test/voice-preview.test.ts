import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, rms, startStack, TestSocket, waitUntil, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ ttsWorkers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

const session = (conversationId?: string) => openSession(stack.edges[0]!.wsUrl, { conversationId });

/** The reply to request `id`: `voice_preview` or an `error` echoing the id. */
const answer = (s: TestSocket, id: string, from: number) =>
  s.waitFor((m) => m.id === id && (m.type === 'voice_preview' || m.type === 'error'), { from, timeoutMs: 20_000 });

/** Sends a preview and returns everything received from its request to its `audio_stream_stop`. */
async function preview(s: TestSocket, data: unknown, id: string): Promise<{ messageId: string; events: Received[] }> {
  const from = s.received.length;
  s.send('preview_voice', data, id);
  const ack = await answer(s, id, from);
  expect(ack.type, JSON.stringify(ack.data)).toBe('voice_preview');
  const messageId = ack.data.message_id as string;
  await s.waitForType('audio_stream_stop', (e) => e.data.message_id === messageId, { from, timeoutMs: 30_000 });
  return { messageId, events: s.received.slice(from) };
}

/** Sends a request expected to fail and returns its `error`. */
async function failure(s: TestSocket, data: unknown, id: string): Promise<Received> {
  const from = s.received.length;
  s.send('preview_voice', data, id);
  const reply = await s.waitFor((m) => m.id === id && m.type === 'error', { from, timeoutMs: 20_000 });
  expect(reply.data.request_type).toBe('preview_voice');
  return reply;
}

const pcmOf = (events: Received[], messageId: string) => {
  const buf = Buffer.concat(events.filter((e) => e.type === 'audio_chunk' && e.data.message_id === messageId).map((c) => c.binary!));
  return new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
};

/** A round trip through the socket's request queue: whatever the edge sent before is in `received`. */
async function settle(s: TestSocket, id: string): Promise<void> {
  const from = s.received.length;
  s.send('ping', undefined, id);
  await s.waitFor((m) => m.type === 'pong' && m.id === id, { from });
}

async function messagesOf(s: TestSocket, conversationId: string): Promise<unknown[]> {
  const from = s.received.length;
  s.send('get_messages', { conversation_id: conversationId });
  return (await s.waitForType('messages_data', undefined, { from })).data.messages;
}

describe('voice preview', () => {
  it('speaks a stored voice to the requesting socket only: voice_preview, then non-silent PCM; the conversation is untouched', async () => {
    const { s, conversationId } = await session();
    const { s: other } = await session(conversationId);
    const before = await messagesOf(s, conversationId);
    const otherFrom = other.received.length;

    const { messageId, events } = await preview(s, { voice_id: 'flite-slt' }, 'p1');
    expect(events[0]).toMatchObject({ type: 'voice_preview', id: 'p1', data: { message_id: messageId } });
    const audio = events.filter((e) => e.type.startsWith('audio_'));
    expect(audio[0]).toMatchObject({
      type: 'audio_stream_start',
      data: { message_id: messageId, character_id: 'preview', character_name: 'SLT', sample_rate: 16000 },
    });
    expect(audio.at(-1)).toMatchObject({ type: 'audio_stream_stop', data: { message_id: messageId, character_id: 'preview', character_name: 'SLT' } });
    const chunks = audio.filter((e) => e.type === 'audio_chunk');
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.data.message_id === messageId && c.data.character_id === 'preview' && c.binary && c.binary.length % 2 === 0)).toBe(true);
    const pcm = pcmOf(events, messageId);
    expect(pcm.length / 16000).toBeGreaterThan(0.5); // "Hello! This is how I sound."
    expect(rms(pcm)).toBeGreaterThan(300);
    expect(events.some((e) => e.type.startsWith('text_') || e.type.startsWith('turn_'))).toBe(false);

    await settle(other, 'sync');
    const seen = other.received.slice(otherFrom).map((e) => e.type);
    expect(seen.filter((t) => t === 'voice_preview' || t.startsWith('audio_') || t === 'error')).toEqual([]);
    expect(other.binaryCount).toBe(0);
    expect(await messagesOf(s, conversationId)).toEqual(before);
    await Promise.all([s.close(), other.close()]);
  });

  it('speaks an unsaved flite voice with its params, which change the audio', async () => {
    const { s } = await session();
    const text = 'Testing the voice editor, one two three.';
    const plain = await preview(s, { voice: { engine: 'flite', params: { voice: 'kal16' } }, text }, 'plain');
    const slow = await preview(s, { voice: { name: 'Slow Kal', engine: 'flite', params: { voice: 'kal16', duration_stretch: 2, pitch: 140 } }, text }, 'slow');
    expect(plain.events.find((e) => e.type === 'audio_stream_start')!.data).toMatchObject({ character_id: 'preview', character_name: 'Unsaved flite voice' });
    expect(slow.events.find((e) => e.type === 'audio_stream_start')!.data).toMatchObject({ character_id: 'preview', character_name: 'Slow Kal' });
    const [a, b] = [pcmOf(plain.events, plain.messageId), pcmOf(slow.events, slow.messageId)];
    expect(rms(a)).toBeGreaterThan(300);
    expect(rms(b)).toBeGreaterThan(300);
    expect(b.length).toBeGreaterThan(a.length * 1.5); // duration_stretch 2
    await s.close();
  });

  it('a new preview on the same socket cancels the previous one', async () => {
    const { s } = await session();
    const long = Array.from({ length: 6 }, (_, i) => `This is sentence number ${i + 1} of a long preview.`).join(' ');
    const from = s.received.length;
    // Back to back, as a user clicking twice: the second is handled before the first has played.
    s.send('preview_voice', { voice_id: 'flite-rms', text: long }, 'first');
    const second = await preview(s, { voice_id: 'flite-awb' }, 'second');
    const first = await answer(s, 'first', from);
    expect(first.type).toBe('voice_preview');
    const all = s.received.slice(from);
    const acked = all.findIndex((e) => e.id === 'second');
    const oldId = first.data.message_id;
    expect(all.slice(acked).filter((e) => e.type.startsWith('audio_') && e.data.message_id === oldId)).toEqual([]);
    // The old preview, when it had started, was closed before the new one was acknowledged.
    const oldStarted = all.some((e) => e.type === 'audio_stream_start' && e.data.message_id === oldId);
    expect(all.slice(0, acked).some((e) => e.type === 'audio_stream_stop' && e.data.message_id === oldId)).toBe(oldStarted);
    expect(rms(pcmOf(second.events, second.messageId))).toBeGreaterThan(300);
    await s.close();
  });

  it('refuses what cannot be previewed with an error for the request, and the connection stays usable', async () => {
    const { s } = await session();
    const missing = await failure(s, { voice_id: 'no-such-voice' }, 'e1');
    expect(missing.data.code).toBe('not_found');
    expect(missing.data.message).toMatch(/no-such-voice/);

    const engine = await failure(s, { voice: { name: 'Robot', engine: 'nope', params: {} } }, 'e2');
    expect(engine.data.code).toBe('tts_voice_invalid');
    expect(engine.data.message).toMatch(/nope/);
    expect(engine.data.message).toMatch(/flite/);

    const params = await failure(s, { voice: { engine: 'flite', params: { voice: 'nobody' } } }, 'e3');
    expect(params.data.code).toBe('tts_voice_invalid');
    expect(params.data.message).toMatch(/nobody/);

    const unavailable = await failure(s, { voice: { engine: 'onnx', params: { voice: 'af_heart' } } }, 'e6');
    expect(unavailable.data.code).toBe('tts_unavailable');
    expect(unavailable.data.message).toMatch(/ONNX_TTS_MODEL/);

    const both = await failure(s, { voice_id: 'flite-slt', voice: { engine: 'flite', params: { voice: 'slt' } } }, 'e4');
    expect(both.data.code).toBe('invalid_message');
    const long = await failure(s, { voice_id: 'flite-slt', text: 'x'.repeat(301) }, 'e5');
    expect(long.data.code).toBe('invalid_message');

    expect(s.received.some((e) => e.type.startsWith('audio_'))).toBe(false);
    const ok = await preview(s, { voice_id: 'flite-kal16', text: 'Still working.' }, 'ok');
    expect(rms(pcmOf(ok.events, ok.messageId))).toBeGreaterThan(300);
    await settle(s, 'alive');
    expect(stack.ttsWorkers[0]!.proc.exitCode).toBeNull();
    await s.close();
  });

  it('get_tts_engines lists flite with its voices and params, and the other engines with why they are unavailable', async () => {
    const { s } = await session();
    const from = s.received.length;
    s.send('get_tts_engines', undefined, 'engines');
    const reply = await s.waitFor((m) => m.id === 'engines', { from });
    expect(reply.type).toBe('tts_engines_data');
    const engines = reply.data as Array<Record<string, any>>;
    expect(engines.map((e) => e.name).sort()).toEqual(['flite', 'onnx', 'openai']);
    const flite = engines.find((e) => e.name === 'flite')!;
    expect(flite.available).toBe(true);
    expect(flite.voices.map((v: { id: string }) => v.id).sort()).toEqual(['awb', 'kal', 'kal16', 'rms', 'slt']);
    expect(flite.voices.every((v: { name: string }) => v.name.length > 0)).toBe(true);
    const params = Object.fromEntries(flite.params.map((p: { key: string }) => [p.key, p]));
    expect(params.voice).toMatchObject({ type: 'enum', required: true });
    expect(params.voice.options.sort()).toEqual(['awb', 'kal', 'kal16', 'rms', 'slt']);
    expect(params.duration_stretch).toMatchObject({ type: 'number', default: 1, min: 0.25, max: 4 });
    expect(params.pitch).toMatchObject({ type: 'number', min: 50, max: 400 });
    const onnx = engines.find((e) => e.name === 'onnx')!;
    expect(onnx).toMatchObject({ available: false });
    expect(onnx.reason).toMatch(/ONNX_TTS_MODEL/);
    const openai = engines.find((e) => e.name === 'openai')!;
    expect(openai.voices.map((v: { id: string }) => v.id)).toContain('alloy');
    expect(openai.params.map((p: { key: string }) => p.key)).toContain('model');
    await s.close();
  });

  // Last: it stops the stack's tts-worker.
  it('without a tts-worker: tts_unavailable at once, and an empty engine list', async () => {
    const { s } = await session();
    await stack.ttsWorkers[0]!.kill('SIGTERM');
    let n = 0;
    await waitUntil(
      async () => {
        const at = s.received.length;
        s.send('get_tts_engines', undefined, `engines-${++n}`);
        const reply = await s.waitFor((m) => m.id === `engines-${n}`, { from: at });
        return reply.type === 'tts_engines_data' && reply.data.length === 0;
      },
      { message: 'tts_engines_data []' },
    );
    // The edge caches "is a tts-worker alive" for a second: ask until it has noticed.
    let refused: Received | undefined;
    await waitUntil(
      async () => {
        const at = s.received.length;
        const id = `gone-${++n}`;
        s.send('preview_voice', { voice_id: 'flite-slt' }, id);
        const reply = await answer(s, id, at);
        if (reply.type === 'error') refused = reply;
        return reply.type === 'error';
      },
      { message: 'tts_unavailable' },
    );
    expect(refused!.data).toMatchObject({ code: 'tts_unavailable', request_type: 'preview_voice' });
    expect(refused!.data.message).toMatch(/tts-worker/);
    await settle(s, 'alive');
    await s.close();
  });
});

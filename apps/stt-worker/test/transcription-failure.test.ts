import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendMic, speechClip, startScriptedTranscription, startStack, TestSocket, type ScriptedTranscription, type Stack } from '@chorus/testkit';

let stack: Stack;
let stt: ScriptedTranscription;
/** What the transcription endpoint answers: a refused key until the test "fixes" it. */
let refuse = true;

beforeAll(async () => {
  stt = await startScriptedTranscription();
  stt.respond(() => (refuse ? { status: 401, errorMessage: 'Incorrect API key provided' } : 'alice what is the weather like on mars'));
  // The openai engine needs no local recognizer; no partials, so every request is a final transcription.
  stack = await startStack({ sttWorkers: 1, env: { STT_ENGINE: 'openai', STT_OPENAI_BASE_URL: stt.url, STT_PARTIAL_MS: '0' } });
});
afterAll(async () => {
  await stack?.stop();
  await stt?.close();
});

describe('transcription failure', () => {
  it('an utterance the engine fails on gives the user stt_failed, and the next utterance on the same socket is transcribed', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    s.send('start_listening', { sample_rate: 16000 });
    const clip = await speechClip('Alice, what is the weather like on Mars?');

    const from = s.received.length;
    await sendMic(s, clip, { speed: 2 });
    const error = await s.waitForType('error', undefined, { from, timeoutMs: 20_000 });
    expect(error.data).toMatchObject({ code: 'stt_failed', request_type: 'start_listening' });
    // Says what happened and what to check.
    expect(error.data.message).toMatch(/could not be transcribed/);
    expect(error.data.message).toMatch(/refused the API key \(HTTP 401/);
    expect(error.data.message).toMatch(/Check the configured key/);
    expect(s.received.slice(from).filter((e) => e.type === 'stt_finished' || e.type === 'turn_started')).toHaveLength(0);

    // The socket and its listening session keep working.
    refuse = false;
    stack.llm.enqueue({ text: 'Cold and dusty.' });
    const next = s.received.length;
    s.send('ping');
    await s.waitForType('pong', undefined, { from: next });
    await sendMic(s, clip, { speed: 2 });
    const finished = await s.waitForType('stt_finished', undefined, { from: next, timeoutMs: 20_000 });
    expect(finished.data.text).toBe('alice what is the weather like on mars');
    const stop = await s.waitForType('text_stream_stop', undefined, { from: next, timeoutMs: 20_000 });
    expect(stop.data.text).toBe('Cold and dusty.');
    await s.close();
  });
});

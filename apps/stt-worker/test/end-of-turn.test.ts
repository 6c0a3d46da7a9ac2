import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPocketsphinx, joinPcm, sendMic, silence, speechClip, startStack, TestSocket, type Stack } from '@chorus/testkit';

let stack: Stack;

beforeAll(async () => {
  if (!hasPocketsphinx()) return;
  // The VAD alone would end a turn only after 5 s of silence; the clips below have 1.5 s.
  stack = await startStack({ sttWorkers: 1, env: { VAD_END_SILENCE_MS: '5000', VAD_EARLY_END_MS: '400' } });
});
afterAll(async () => {
  await stack?.stop();
});

const words = (text: string) => text.toLowerCase().split(/\W+/).filter(Boolean);

describe.skipIf(!hasPocketsphinx())('end of turn', () => {
  it("a finished sentence ends the turn on the recognizer's fixed phrase after VAD_EARLY_END_MS of silence, not VAD_END_SILENCE_MS", async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    s.send('start_listening', { sample_rate: 16000 });
    stack.llm.enqueue({ text: 'Cold and dusty.' });
    const from = s.received.length;
    // No stop_listening: only an early end can finish this utterance.
    await sendMic(s, joinPcm(await speechClip('Alice, what is the weather like on Mars?', { voice: 'slt', tailMs: 0 }), silence(1500)), { speed: 2 });
    const finished = await s.waitForType('stt_finished', undefined, { from, timeoutMs: 20_000 });
    expect(words(finished.data.text)).toEqual(expect.arrayContaining(['weather', 'mars']));
    // The phrase the recognizer fixed is the whole text: nothing was left to recognise.
    const stable = s.received.slice(from).filter((e) => e.type === 'stt_stabilized').at(-1);
    expect(stable?.data.text).toBe(finished.data.text);
    expect(finished.data.speech_end_ms).toBeGreaterThanOrEqual(400);
    const stop = await s.waitForType('text_stream_stop', undefined, { from, timeoutMs: 20_000 });
    expect(stop.data.text).toBe('Cold and dusty.');
    await s.close();
  });
});

import { KEYS } from '@chorus/contracts';
import { connectRedis, type Redis } from '@chorus/runtime';
import { startStack, TestSocket, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
let redis: Redis;
beforeAll(async () => {
  stack = await startStack({ env: { AUDIO_WAIT_MS: '1500' } });
  redis = connectRedis(stack.redis.url, 'audio-timeout-test');
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

describe('speech that never comes', () => {
  it('a reply whose audio no tts-worker delivers ends with a tts_unavailable error on the socket, and text only', async () => {
    // A tts-worker that announced itself and then never speaks (it hangs, or died holding the message).
    await redis.zadd(KEYS.presence('tts'), Date.now() + 600_000, 'hung-tts-worker');
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const from = s.received.length;
    s.send('user_message', { text: '@Alice say something' });
    expect((await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 })).data.status).toBe('completed');

    const error = await s.waitForType('error', undefined, { from, timeoutMs: 20_000 });
    expect(error.data.code).toBe('tts_unavailable');
    expect(error.data.message).toMatch(/Alice's reply is shown as text only: No audio arrived/);
    expect(s.received.slice(from).filter((m) => m.type === 'audio_chunk')).toEqual([]);
    expect(s.isOpen).toBe(true);
    await redis.zrem(KEYS.presence('tts'), 'hung-tts-worker');
    await s.close();
  });
});

import { Redis } from 'ioredis';
import { decodeEntry, EventEntry, STREAMS, type SpeakEntry } from '@chorus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '@chorus/testkit';
import { AudioOut } from '../src/audio-out.js';

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('audio out', () => {
  it("a message's error event does not create a conversation events stream that never expires", async () => {
    const job: SpeakEntry = {
      conversation_id: crypto.randomUUID(),
      turn_id: crypto.randomUUID(),
      message_id: crypto.randomUUID(),
      character_id: crypto.randomUUID(),
      character_name: 'Alice',
      voice_id: null,
      turn_seq: '1-0',
      attempt: 1,
      ts: Date.now(),
    };
    const key = STREAMS.events(job.conversation_id);
    expect(await redis.exists(key)).toBe(0); // as after the conversation's keys expired
    const out = AudioOut.forMessage(redis, job, { audioTtlSec: 60 });
    out.error('tts_failed', 'Voice "Alice" failed to speak a sentence.');
    await out.flush();
    const [[, fields]] = (await redis.xrange(key, '-', '+')) as Array<[string, string[]]>;
    expect(decodeEntry(EventEntry, fields)).toMatchObject({ type: 'error', message_id: job.message_id, data: { code: 'tts_failed' } });
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
  });
});

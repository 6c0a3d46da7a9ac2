import { getEventListeners } from 'node:events';
import { Redis } from 'ioredis';
import { decodeEntry, EventEntry, STREAMS, TranscribeEntry, type ListenEntry } from '@chorus/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startScriptedTranscription, waitUntil, type RedisServer, type ScriptedTranscription } from '@chorus/testkit';
import { commonPrefix, createOpenAiSttEngine, Transcript } from '../src/index.js';
import { startRecognition } from '../src/recognition.js';

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

const session = (): ListenEntry => ({
  conversation_id: crypto.randomUUID(),
  session_id: crypto.randomUUID(),
  listen_id: crypto.randomUUID(),
  sample_rate: 16000,
  user_name: 'Dana',
  ts: Date.now(),
});

async function events(conversationId: string): Promise<EventEntry[]> {
  const raw = (await redis.xrange(STREAMS.events(conversationId), '-', '+')) as Array<[string, string[]]>;
  return raw.map(([, f]) => decodeEntry(EventEntry, f));
}

describe('transcription events', () => {
  it('commonPrefix keeps the words two partials agree on', () => {
    expect(commonPrefix('alice what is', 'alice what was the')).toBe('alice what');
    expect(commonPrefix('', 'alice')).toBe('');
    expect(commonPrefix('bob', 'alice')).toBe('');
  });

  it('partials give stt_update each time the text changes and stt_stabilized when the agreed prefix grows', async () => {
    const s = session();
    const t = new Transcript(redis, s, { eventsMaxLen: 100, transcribeMaxLen: 100, ttlSec: 60 });
    const turn = crypto.randomUUID();
    await t.partial(turn, 'alice what', false);
    await t.partial(turn, 'alice what is the', false);
    await t.partial(turn, 'alice what is the', false); // unchanged: nothing
    await t.partial(turn, 'alice what is the weather', true); // the engine says it is final
    const got = (await events(s.conversation_id)).map((e) => [e.type, e.data.text]);
    expect(got).toEqual([
      ['stt_update', 'alice what'],
      ['stt_update', 'alice what is the'],
      ['stt_stabilized', 'alice what'],
      ['stt_update', 'alice what is the weather'],
      ['stt_stabilized', 'alice what is the weather'],
    ]);
    const all = await events(s.conversation_id);
    expect(all.every((e) => e.session_id === s.session_id && e.turn_id === turn && e.turn_seq === undefined)).toBe(true);
  });

  it('the final text is stt_finished and a voice turn on transcribe; nothing recognised only clears the live partial', async () => {
    const s = session();
    const t = new Transcript(redis, s, { eventsMaxLen: 100, transcribeMaxLen: 100, ttlSec: 60 });
    const turn = crypto.randomUUID();
    const message = crypto.randomUUID();
    const id = await t.finished(turn, message, '  alice hello  ');
    const [[entryId, fields]] = (await redis.xrange(STREAMS.transcribe, id!, id!)) as Array<[string, string[]]>;
    expect(entryId).toBe(id);
    expect(decodeEntry(TranscribeEntry, fields)).toMatchObject({
      conversation_id: s.conversation_id,
      turn_id: turn,
      message_id: message,
      source: 'voice',
      text: 'alice hello',
      user_name: 'Dana',
      session_id: s.session_id,
    });
    await t.partial(crypto.randomUUID(), 'uh', false);
    expect(await t.finished(crypto.randomUUID(), crypto.randomUUID(), '   ')).toBeNull();
    const got = (await events(s.conversation_id)).map((e) => [e.type, e.data.text]);
    expect(got).toEqual([
      ['stt_finished', 'alice hello'],
      ['stt_update', 'uh'],
      ['stt_update', ''],
    ]);
    expect(await redis.ttl(STREAMS.events(s.conversation_id))).toBeGreaterThan(0);
  });

  it('a failed utterance clears the live partial and tells the listening session stt_failed, with no turn', async () => {
    const s = session();
    const t = new Transcript(redis, s, { eventsMaxLen: 100, transcribeMaxLen: 100, ttlSec: 60 });
    const turn = crypto.randomUUID();
    const turnsBefore = await redis.xlen(STREAMS.transcribe);
    await t.partial(turn, 'alice what', false);
    await t.failed(turn, 'The transcription endpoint refused the API key.');
    const got = await events(s.conversation_id);
    expect(got.map((e) => [e.type, e.data])).toEqual([
      ['stt_update', { text: 'alice what' }],
      ['stt_update', { text: '' }],
      ['error', { code: 'stt_failed', message: 'The transcription endpoint refused the API key.', request_type: 'start_listening' }],
    ]);
    expect(got.at(-1)).toMatchObject({ session_id: s.session_id, turn_id: turn });
    expect(await redis.xlen(STREAMS.transcribe)).toBe(turnsBefore);
    expect(await redis.ttl(STREAMS.events(s.conversation_id))).toBeGreaterThan(0);
  });
});

/** Abort listeners, and (Node 20) AbortSignal.any composites, a signal holds on to: per-utterance ones add up. */
function attached(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((sym) => sym.description === 'kDependantSignals');
  const composites = dependants ? ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants]?.size ?? 0) : 0;
  return getEventListeners(signal, 'abort').length + composites;
}

describe('recognition without an incremental engine', () => {
  let stt: ScriptedTranscription;
  beforeAll(async () => {
    stt = await startScriptedTranscription();
  });
  afterAll(async () => {
    await stt?.close();
  });

  it('re-transcribes the audio so far for partials, one request at a time, then transcribes the whole utterance', async () => {
    const engine = createOpenAiSttEngine({ baseUrl: stt.url });
    let n = 0;
    stt.respond((req) => ({ text: req.sampleCount! >= 16000 * 1.5 ? 'alice what is the weather' : `alice ${++n}` }));
    const partials: string[] = [];
    const ac = new AbortController();
    const r = startRecognition(engine, { vocabulary: ['Alice'], partialMs: 500, signal: ac.signal, onPartial: (text) => partials.push(text) });
    const frame = new Int16Array(320).fill(1000);
    for (let i = 0; i < 25; i++) r.write(frame); // 500 ms: the first partial
    await waitUntil(() => partials.length >= 1, { message: 'first partial' });
    for (let i = 0; i < 50; i++) r.write(frame); // 1.5 s in all
    expect(await r.finish()).toBe('alice what is the weather');
    const last = stt.requests.at(-1)!;
    expect(last.sampleCount).toBe(75 * 320);
    expect(last.prompt).toContain('Alice');
    expect(partials[0]).toBe('alice 1');
    await engine.close();
  });

  it("partials leave nothing attached to the listening session's signal", async () => {
    const engine = createOpenAiSttEngine({ baseUrl: stt.url });
    let n = 0;
    stt.respond(() => ({ text: `alice ${++n}` }));
    const partials: string[] = [];
    const session = new AbortController();
    const r = startRecognition(engine, { vocabulary: [], partialMs: 200, signal: session.signal, onPartial: (text) => partials.push(text) });
    const frame = new Int16Array(320).fill(1000);
    for (let i = 1; i <= 5; i++) {
      for (let k = 0; k < 10; k++) r.write(frame); // 200 ms: one partial
      await waitUntil(() => partials.length >= i, { message: `partial ${i}` });
      await waitUntil(() => attached(session.signal) === 0, { message: `partial ${i} detached` });
    }
    expect(await r.finish()).toMatch(/^alice/);
    expect(attached(session.signal)).toBe(0);
    await engine.close();
  });
});

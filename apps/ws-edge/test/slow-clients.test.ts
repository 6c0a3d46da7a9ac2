import type { Socket } from 'node:net';
import { metricValue, openSession, sleep, startStack, TestSocket, waitUntil, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tcpOf = (s: TestSocket) => (s.ws as unknown as { _socket: Socket })._socket;

const connect = async (url: string, opts: { conversationId?: string; autoPong?: boolean } = {}) => (await openSession(url, opts)).s;

describe('clients that stop answering', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { WS_PING_INTERVAL_MS: '300' } });
  });
  afterAll(async () => stack?.stop());

  it('a socket that does not answer pings is cut off and its conversation unfollowed; one that answers stays open', async () => {
    const edge = stack.edges[0]!;
    const alive = await connect(edge.wsUrl);
    const silent = await connect(edge.wsUrl, { autoPong: false });
    expect(await metricValue(edge.url, 'chorus_conversations_followed')).toBe(2);

    expect((await silent.closed).code).toBe(1006); // dropped, no close handshake
    await waitUntil(async () => (await metricValue(edge.url, 'chorus_conversations_followed')) === 1, { timeoutMs: 10_000, message: 'silent socket unfollowed' });
    expect(await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_unresponsive' })).toBe(1);

    await sleep(1500); // several more pings
    expect(alive.isOpen).toBe(true);
    const from = alive.received.length;
    stack.llm.enqueue({ text: 'Still here.' });
    alive.send('user_message', { text: '@Alice are you there?' });
    expect((await alive.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 })).data.status).toBe('completed');
    await alive.close();
  }, 60_000);
});

describe('a client that stops reading its audio', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ ttsWorkers: 1, env: { AUDIO_HIGH_WATER_BYTES: '16384', AUDIO_WAIT_MS: '3000' } });
  });
  afterAll(async () => stack?.stop());

  it('is cut off after AUDIO_WAIT_MS, and the other socket of its conversation gets the whole message', async () => {
    const edge = stack.edges[0]!;
    const { s: reader, conversationId } = await openSession(edge.wsUrl);
    const { s: stalled, conversationId: shown } = await openSession(edge.wsUrl, { conversationId });
    expect(shown).toBe(conversationId);

    const reply = Array.from({ length: 40 }, (_, i) => `Here is line ${i + 1} of a very long speech that one of you stops reading.`).join(' ');
    stack.llm.enqueue({ text: reply, chunkSize: 40 });
    const from = reader.received.length;
    reader.send('user_message', { text: '@Bob speak at length' });
    await stalled.waitForType('audio_chunk', undefined, { timeoutMs: 30_000 });
    const tcp = tcpOf(stalled);
    tcp.pause(); // stops reading, keeps the connection: the edge's buffer for it fills up and the audio pauses

    await reader.waitForType('audio_stream_stop', undefined, { from, timeoutMs: 90_000 });
    const sentences = [...new Set(reader.received.slice(from).filter((e) => e.type === 'audio_chunk').map((c) => c.data.sentence_index))];
    expect(sentences).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(await metricValue(edge.url, 'chorus_audio_paused_total')).toBeGreaterThan(0);
    expect(await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_too_slow' })).toBe(1);
    expect(reader.isOpen).toBe(true);

    tcp.resume(); // it reads again and learns that it was dropped
    expect((await stalled.closed).code).toBe(1006);
    await reader.close();
  }, 150_000);
});

import type { Socket } from 'node:net';
import { metricValue, openSession, sleep, startStack, TestSocket, waitUntil, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tcpOf = (s: TestSocket) => (s.ws as unknown as { _socket: Socket })._socket;

const connect = async (url: string) => (await openSession(url)).s;

describe('clients that stop answering', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { WS_PING_INTERVAL_MS: '2000' } });
  });
  afterAll(async () => stack?.stop());

  it('a socket that does not answer pings is cut off and its conversation unfollowed; one that answers stays open', async () => {
    const edge = stack.edges[0]!;
    const alive = await connect(edge.wsUrl);
    const silent = await connect(edge.wsUrl);
    await waitUntil(async () => (await metricValue(edge.url, 'chorus_conversations_followed')) === 2, { timeoutMs: 10_000, message: 'both followed' });
    const tcp = tcpOf(silent);
    tcp.pause(); // a client that is gone without closing (a suspended phone): the pings are never read, never answered

    await waitUntil(async () => (await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_unresponsive' })) === 1, {
      timeoutMs: 20_000,
      message: 'silent socket cut off',
    });
    await waitUntil(async () => (await metricValue(edge.url, 'chorus_conversations_followed')) === 1, { timeoutMs: 10_000, message: 'silent socket unfollowed' });
    tcp.resume();
    expect((await silent.closed).code).toBe(1006); // dropped, no close handshake

    await sleep(4500); // two more pings
    expect(alive.isOpen).toBe(true);
    expect(await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_unresponsive' })).toBe(1);
    const from = alive.received.length;
    stack.llm.enqueue({ text: 'Still here.' });
    alive.send('user_message', { text: '@Alice are you there?' });
    expect((await alive.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 })).data.status).toBe('completed');
    await alive.close();
  }, 90_000);
});

describe('a client that stops reading its audio', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Pings far apart: this test is about the audio cut-off, not the heartbeat (it would cut the socket too).
    stack = await startStack({ ttsWorkers: 1, env: { AUDIO_HIGH_WATER_BYTES: '16384', AUDIO_WAIT_MS: '3000', WS_PING_INTERVAL_MS: '600000' } });
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

  it('an interrupt while the audio is paused for a stalled socket does not leave the conversation silent', async () => {
    const edge = stack.edges[0]!;
    const { s: reader, conversationId } = await openSession(edge.wsUrl);
    const { s: stalled } = await openSession(edge.wsUrl, { conversationId });
    const cutsBefore = await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_too_slow' });
    const pausesBefore = await metricValue(edge.url, 'chorus_audio_paused_total');

    const reply = Array.from({ length: 40 }, (_, i) => `Here is line ${i + 1} of a speech that gets interrupted.`).join(' ');
    stack.llm.enqueue({ text: reply, chunkSize: 40 });
    reader.send('user_message', { text: '@Bob speak at length' });
    await stalled.waitForType('audio_chunk', undefined, { timeoutMs: 30_000 });
    const tcp = tcpOf(stalled);
    tcp.pause();
    await waitUntil(async () => (await metricValue(edge.url, 'chorus_audio_paused_total')) > pausesBefore, { timeoutMs: 60_000, message: 'audio paused' });

    // The user cuts in while the audio waits for the stalled socket, and asks something else.
    let from = reader.received.length;
    reader.send('interrupt', {});
    await reader.waitForType('interrupt_ack', undefined, { from, timeoutMs: 20_000 });
    stack.llm.enqueue({ text: 'A short answer.' });
    from = reader.received.length;
    reader.send('user_message', { text: '@Bob briefly, please' });
    const message = (await reader.waitForType('text_stream_start', undefined, { from, timeoutMs: 20_000 })).data.message_id;
    const stop = await reader.waitForType('audio_stream_stop', (m) => m.data.message_id === message, { from, timeoutMs: 60_000 });
    expect(reader.received.slice(from, reader.received.indexOf(stop)).filter((m) => m.type === 'audio_chunk' && m.data.message_id === message).length).toBeGreaterThan(0);
    expect(await metricValue(edge.url, 'chorus_sockets_total', { event: 'cut_off_too_slow' })).toBe(cutsBefore + 1);

    tcp.resume();
    await stalled.closed;
    await reader.close();
  }, 150_000);
});

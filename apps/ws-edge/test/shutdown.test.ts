import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { BULL_PREFIX, PERSIST_QUEUE } from '@chorus/contracts';
import { startStack, TestSocket, waitUntil, type Stack } from '@chorus/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

let stack: Stack | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/**
 * A WebSocket client that never answers anything, the close handshake included (a suspended laptop, a
 * frozen tab): the upgrade is done by hand on a plain TCP socket that only ever reads.
 */
async function silentClient(url: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.write(
    'GET /ws HTTP/1.1\r\n' +
      `Host: ${hostname}:${port}\r\n` +
      'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  // Its session has started (server frames are unmasked, so the JSON is readable in the stream).
  await waitUntil(() => received.startsWith('HTTP/1.1 101') && received.includes('"session_started"'), { message: 'silent client connected' });
  return { socket, closed };
}

describe('edge shutdown', () => {
  it('does not wait for a client that never answers the close handshake, and saves the batch it holds', async () => {
    // A window longer than the test: the turn's messages are still gathering when the edge is stopped.
    stack = await startStack({ env: { PERSIST_BATCH_MS: '60000' } });
    dataDir = stack.dataDir;
    const edge = stack.edges[0]!;
    const silent = await silentClient(edge.wsUrl);

    const s = await TestSocket.connect(edge.wsUrl);
    const { data } = await s.waitForType('session_started');
    s.send('user_message', { text: '@Bob remember my name is Ada' });
    await s.waitForType('turn_finished');
    await s.close();
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(PERSIST_QUEUE, { connection: redis, prefix: BULL_PREFIX });
    try {
      await waitUntil(async () => (await queue.getActiveCount()) === 1, { message: "the turn's job taken into the edge's batch" });
    } finally {
      await queue.close();
      redis.disconnect();
    }

    // The testkit escalates to SIGKILL (exit code null) after 10 s; ws alone would wait 30 s for the silent
    // client, and the edge's own forced exit (code 1) comes at 15 s.
    expect(await edge.kill('SIGTERM')).toBe(0);
    await silent.closed; // cut by the edge, not by the client
    silent.socket.destroy();

    // A fresh Redis: the messages can only come from the database.
    await Promise.all(stack.workers.map((w) => w.kill('SIGTERM')));
    await stack.llm.close();
    await stack.redis.stop();
    stack = await startStack({ dataDir, llmWorkers: 0 });
    const again = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${data.conversation_id}`);
    await again.waitForType('session_started');
    again.send('get_messages', { conversation_id: data.conversation_id });
    const stored = (await again.waitForType('messages_data')).data.messages;
    expect(stored.map((m: { content: string }) => m.content)).toEqual(['@Bob remember my name is Ada', expect.stringContaining('I am Bob')]);
    await again.close();
  });
});

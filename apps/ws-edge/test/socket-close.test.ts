import { metricValue, sleep, startStack, TestSocket, waitUntil, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

/** How many conversations the edge follows for its sockets (its /metrics gauge). */
const followed = () => metricValue(stack.edges[0]!.url, 'chorus_conversations_followed');

/** Opens a socket and closes it as soon as it is open, before its session has started. */
function openAndClose(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => ws.close());
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
}

describe('a socket that closes while a request is in flight', () => {
  it('leaves no conversation followed behind: closed during session start, or right after asking for another conversation', async () => {
    const watcher = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await watcher.waitForType('session_started');
    await waitUntil(async () => (await followed()) === 1, { timeoutMs: 10_000, message: 'the open socket is not followed' });

    // Health probes and quick reloads: the socket is gone before its session_started.
    await Promise.all(Array.from({ length: 10 }, () => openAndClose(stack.edges[0]!.wsUrl)));
    // A socket that asks for a new conversation and closes before the answer.
    for (let i = 0; i < 10; i++) {
      const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
      await s.waitForType('session_started');
      s.send('new_conversation');
      await s.close();
    }

    // Each start finishes after its close; once they all have, only the watcher's conversation is followed.
    await waitUntil(async () => (await followed()) === 1, { timeoutMs: 20_000, message: 'conversations of closed sockets are still followed' });
    await sleep(1_000); // late finishers would add to it now
    expect(await followed()).toBe(1);

    // The edge still serves the socket that stayed.
    const from = watcher.received.length;
    watcher.send('user_message', { text: '@Alice still there?' });
    expect((await watcher.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 })).data.status).toBe('completed');
    await watcher.close();
    await waitUntil(async () => (await followed()) === 0, { timeoutMs: 10_000 });
  });
});

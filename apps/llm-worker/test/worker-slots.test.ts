import { openSession, sleep, startStack, waitUntil, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let stack: Stack;
beforeAll(async () => {
  // Two slots; a held reply must not hit the first-token timeout.
  stack = await startStack({ env: { LLM_CONCURRENCY: '2', LLM_TIMEOUT_MS: '60000' } });
});
afterAll(async () => stack?.stop());

const connect = async () => (await openSession(stack.edges[0]!.wsUrl)).s;

describe('worker slots', () => {
  it('turns waiting for an earlier turn of their conversation hold no slot: another conversation is answered meanwhile', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    stack.llm.respond(async (req) => {
      if (JSON.stringify(req.body.messages.at(-1)).includes('hold on')) await gate;
      return { text: 'Done.' };
    });
    const requestsBefore = stack.llm.requests.length;
    const busy = await connect();
    const other = await connect();
    try {
      const from = busy.received.length;
      busy.send('user_message', { text: '@Alice hold on' });
      await waitUntil(() => stack.llm.requests.length > requestsBefore, { timeoutMs: 20_000, message: 'first turn running' });
      // Two more turns of the busy conversation wait behind the held one; holding a slot each, the first of
      // them would take the last slot and leave the other conversation's turn unread until the held reply ends.
      for (const n of [2, 3]) busy.send('user_message', { text: `@Alice next ${n}` });
      await sleep(300); // so that they are ahead of the other conversation's turn on the stream
      const otherFrom = other.received.length;
      other.send('user_message', { text: '@Alice are you free?' });
      const answered = await other.waitForType('turn_finished', undefined, { from: otherFrom, timeoutMs: 30_000 });
      expect(answered.data.status).toBe('completed');
      expect(busy.received.slice(from).filter((m) => m.type === 'turn_finished')).toEqual([]); // still held

      openGate();
      await waitUntil(() => busy.received.slice(from).filter((m) => m.type === 'turn_finished').length === 3, { timeoutMs: 30_000, message: 'the busy conversation answered' });
      const finished = busy.received.slice(from).filter((m) => m.type === 'turn_finished');
      expect(finished.map((m) => m.data.status)).toEqual(['completed', 'completed', 'completed']);
      // In the order they were sent.
      const started = busy.received.slice(from).filter((m) => m.type === 'turn_started').map((m) => m.data.turn_id);
      expect(finished.map((m) => m.data.turn_id)).toEqual(started);
    } finally {
      openGate();
      await Promise.all([busy.close(), other.close()]);
    }
  }, 90_000);
});

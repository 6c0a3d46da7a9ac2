import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { GROUPS, STREAMS } from '@chorus/contracts';
import { startStack, TestSocket, waitUntil, waitUntilSaved, type Received, type Stack } from '@chorus/testkit';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('scale-out: two edges and two llm-workers', () => {
  it('answers 20 conversations × 3 turns exactly once each, every event on its own socket only', async () => {
    stack = await startStack({ edges: 2, llmWorkers: 2, database: 'postgres' });
    stack.llm.respond((req) => {
      const last = req.body.messages.at(-1).content as string;
      const token = last.match(/token-\d+-\d+/g)?.at(-1) ?? 'none';
      return { text: `Reply to ${token}. Done.`, chunkSize: 6, chunkDelayMs: 2 };
    });
    const sockets = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const s = await TestSocket.connect(stack!.edges[i % 2]!.wsUrl);
        await s.waitForType('session_started');
        return s;
      }),
    );
    await Promise.all(
      sockets.map(async (s, i) => {
        for (let t = 0; t < 3; t++) {
          const from = s.received.length;
          s.send('user_message', { text: `@Alice token-${i}-${t}` });
          await s.waitForType('turn_finished', undefined, { from, timeoutMs: 60_000 });
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300)); // let any stray duplicate arrive before counting
    sockets.forEach((s, i) => {
      const mine = (m: Received) => m.type === 'text_stream_stop';
      const stops = s.received.filter(mine);
      expect(stops.map((m) => m.data.text)).toEqual([0, 1, 2].map((t) => `Reply to token-${i}-${t}. Done.`));
      expect(s.ofType('turn_started')).toHaveLength(3);
      expect(s.ofType('turn_finished').map((m) => m.data.status)).toEqual(['completed', 'completed', 'completed']);
      // Every chunk on this socket belongs to one of its own messages.
      const ids = new Set(stops.map((m) => m.data.message_id));
      expect(s.ofType('text_chunk').every((m) => ids.has(m.data.message_id))).toBe(true);
    });
    // Each turn ran once, on one of the two workers.
    expect(stack.llm.requests).toHaveLength(60);
    const finishedLogs = stack.workers.flatMap((w) => w.logs.filter((l) => l.includes('"turn finished"')));
    expect(finishedLogs).toHaveLength(60);
    await Promise.all(sockets.map((s) => s.close()));
  });
});

describe('an llm-worker crash mid-turn', () => {
  it('is finished by the other worker within seconds and nothing is answered twice', async () => {
    stack = await startStack({ llmWorkers: 2 });
    const redis = new Redis(stack.redis.url);
    try {
      // Alice's reply is slow enough to kill its worker half way; Bob's is quick.
      stack.llm.respond((req) =>
        JSON.stringify(req.body.messages[0]).includes('You are Alice')
          ? { text: 'one two three four five six seven eight nine ten. '.repeat(3), chunkSize: 4, chunkDelayMs: 40 }
          : { text: 'Bob here. All good.' },
      );
      const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
      const { data } = await s.waitForType('session_started');
      s.send('user_message', { text: 'Hello @Alice and @Bob' });
      await s.waitForType('text_chunk');
      const pending = (await redis.xpending(STREAMS.transcribe, GROUPS.llm, '-', '+', 10)) as Array<[string, string]>;
      expect(pending).toHaveLength(1);
      const victim = stack.workers.find((w) => w.name === pending[0]![1])!;
      expect(victim).toBeDefined();
      await victim.kill('SIGKILL');

      const finished = await s.waitForType('turn_finished', undefined, { timeoutMs: 20_000 });
      expect(finished.data.status).toBe('completed');
      const stops = s.ofType('text_stream_stop');
      expect(stops.map((m) => m.data.character_name)).toEqual(['Alice', 'Bob']);
      expect(new Set(stops.map((m) => m.data.message_id)).size).toBe(2);
      expect(s.ofType('turn_finished')).toHaveLength(1);

      // Stored once each: one user message and one message per responder.
      await waitUntilSaved(stack.redis.url, data.conversation_id);
      const from = s.received.length;
      s.send('get_messages', { conversation_id: data.conversation_id });
      const stored = (await s.waitForType('messages_data', undefined, { from })).data.messages;
      expect(stored.map((m: { name: string }) => m.name)).toEqual(['User', 'Alice', 'Bob']);
      expect(stored[1].id).toBe(stops[0]!.data.message_id);
      await s.close();
    } finally {
      redis.disconnect();
    }
  });

  it("keeps a turn's messages when its worker dies after answering it, before queueing them: the other worker queues them", async () => {
    stack = await startStack({ llmWorkers: 0 });
    const redis = new Redis(stack.redis.url);
    try {
      // This worker gathers finished turns' messages for 10 s before queueing them: it dies first.
      const victim = await stack.startLlmWorker('gathering', { PERSIST_GATHER_MS: '10000' });
      stack.llm.respond(() => ({ text: 'Alice here. All good.' }));
      const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
      const { data } = await s.waitForType('session_started');
      s.send('user_message', { text: '@Alice hi' });
      expect((await s.waitForType('turn_finished')).data.status).toBe('completed');
      // Answered, but not acknowledged while its messages wait to be queued.
      const [pending] = (await redis.xpending(STREAMS.transcribe, GROUPS.llm)) as [number];
      expect(pending).toBe(1);
      await victim.kill('SIGKILL');
      await stack.startLlmWorker();

      const stored = async () => {
        const from = s.received.length;
        s.send('get_messages', { conversation_id: data.conversation_id });
        return (await s.waitForType('messages_data', undefined, { from })).data.messages as Array<{ name: string; content: string }>;
      };
      // Saved only if the takeover queued them: until then they show as unsaved.
      await waitUntilSaved(stack.redis.url, data.conversation_id);
      expect((await stored()).map((m) => `${m.name}: ${m.content}`)).toEqual(['User: @Alice hi', 'Alice: Alice here. All good.']);
      await waitUntil(async () => ((await redis.xpending(STREAMS.transcribe, GROUPS.llm)) as [number])[0] === 0, { timeoutMs: 10_000 });
      // Answered once: the takeover only queued the messages.
      expect(s.ofType('turn_started')).toHaveLength(1);
      expect(s.ofType('turn_finished')).toHaveLength(1);
      expect(stack.llm.requests).toHaveLength(1);
      await s.close();
    } finally {
      redis.disconnect();
    }
  });
});

describe('restart of the whole stack', () => {
  it('keeps conversations and messages on the same DATA_DIR and shuts down cleanly', async () => {
    stack = await startStack();
    const dataDir = stack.dataDir;
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    const { data } = await s.waitForType('session_started');
    s.send('user_message', { text: '@Bob remember my name is Ada' });
    await s.waitForType('turn_finished');
    await waitUntilSaved(stack.redis.url, data.conversation_id); // this Redis is not kept
    await s.close();
    const codes = await Promise.all([...stack.edges, ...stack.workers].map((p) => p.kill('SIGTERM')));
    expect(codes).toEqual([0, 0]);
    await stack.llm.close();
    await stack.redis.stop();

    stack = await startStack({ dataDir });
    const again = await TestSocket.connect(`${stack.edges[0]!.wsUrl}?conversation_id=${data.conversation_id}`);
    expect((await again.waitForType('session_started')).data.conversation_id).toBe(data.conversation_id);
    again.send('get_messages', { conversation_id: data.conversation_id });
    const stored = (await again.waitForType('messages_data')).data.messages;
    expect(stored.map((m: { content: string }) => m.content)).toEqual(['@Bob remember my name is Ada', expect.stringContaining('I am Bob')]);
    // The restored history reaches the LLM on the next turn (fresh Redis, so it came from the database).
    again.send('user_message', { text: '@Alice what is my name?' });
    await again.waitForType('turn_finished');
    expect(JSON.stringify(stack.llm.requests[0]!.body.messages)).toContain('remember my name is Ada');
    await again.close();
    await stack.stop();
    stack = undefined;
    const { rmSync } = await import('node:fs');
    rmSync(dataDir, { recursive: true, force: true });
  });
});

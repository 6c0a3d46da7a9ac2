import { randomUUID } from 'node:crypto';
import { encodeUnsaved, KEYS, type TranscribeEntry } from '@chorus/contracts';
import { connectRedis, createLogger, type Redis } from '@chorus/runtime';
import { startStack, TestSocket, testMessage, waitUntil, type AppProcess, type Received, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seqMember, TurnSequencer } from '../src/sequencer.js';
import { ConversationState } from '../src/state.js';
import { abandonTurn, type TurnDeps } from '../src/turn.js';

let stack: Stack;
let redis: Redis;
let worker: AppProcess;
/** Rejects, with the worker's last lines, as soon as the llm-worker process exits. */
let workerDied: Promise<never>;

beforeAll(async () => {
  // The first turn's LLM reply is held while the second turn waits: no first-token timeout meanwhile.
  stack = await startStack({ env: { LLM_TIMEOUT_MS: '60000' } });
  worker = stack.workers[0]!;
  workerDied = worker.exited.then((code) => {
    throw new Error(`the llm-worker exited (code ${code}, signal ${worker.proc.signalCode}); its last lines:\n${worker.logs.slice(-30).join('\n')}`);
  });
  workerDied.catch(() => undefined); // reported by the waits below, not when the stack stops
  redis = connectRedis(stack.redis.url, 'waiting-turn-test');
});

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

/** `p`, unless the llm-worker dies first. */
const whileWorkerRuns = <T>(p: Promise<T>): Promise<T> => Promise.race([p, workerDied]);

/** The first `turn_finished` received from index `from` on. */
const finishedFrom = (s: TestSocket, from: number) => whileWorkerRuns(s.waitForType('turn_finished', undefined, { from, timeoutMs: 30_000 }));

/** Holds every LLM reply back until `openGate()`; `requestsBefore` counts the requests made until now. */
function holdReplies(): { requestsBefore: number; openGate: () => void } {
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const requestsBefore = stack.llm.requests.length;
  stack.llm.respond(async () => {
    await gate;
    return {};
  });
  return { requestsBefore, openGate };
}

const between = (s: TestSocket, from: number, to: Received) => s.received.slice(from, s.received.indexOf(to) + 1);

describe('a turn that waits for an earlier turn of its conversation', () => {
  it('a waiting turn whose characters read fails does not crash the llm-worker: it reads them again once its turn comes', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    const conversationId: string = (await s.waitForType('session_started')).data.conversation_id;
    const good = await redis.get(KEYS.characters);
    expect(good).toContain('Alice');

    // The first turn holds the conversation (its lock) for as long as its LLM reply is held back.
    const { requestsBefore, openGate } = holdReplies();
    const from = s.received.length;
    try {
      s.send('user_message', { text: '@Alice first question' });
      // Its LLM request is out: it has read the characters and holds the conversation.
      await whileWorkerRuns(stack.llm.waitForRequests(requestsBefore + 1, 30_000));

      // The character snapshot the edge keeps in Redis goes bad (a torn write): JSON.parse fails on it.
      await redis.set(KEYS.characters, good!.slice(0, Math.floor(good!.length / 2)));
      s.send('user_message', { text: '@Bob second question' });
      // The second turn sends its characters read and its first acquire attempt (which queues it) in one
      // write on one connection, the read first: once it is queued, Redis has answered that read with the
      // bad snapshot, so its parse fails while the turn waits for the first one (the read it does not await).
      await whileWorkerRuns(
        waitUntil(async () => (await redis.zcard(KEYS.turnQueue(conversationId))) === 2, { timeoutMs: 30_000, message: 'the second turn was not queued' }),
      );

      // The edge publishes a good snapshot again before the first turn ends.
      await redis.set(KEYS.characters, good!);
    } finally {
      stack.llm.respond(() => ({}));
      openGate();
    }

    const first = await finishedFrom(s, from);
    const second = await finishedFrom(s, s.received.indexOf(first) + 1);
    const firstEvents = between(s, from, first);
    const secondEvents = s.received.slice(s.received.indexOf(first) + 1, s.received.indexOf(second) + 1);
    expect(first.data.status).toBe('completed');
    expect(firstEvents.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
    // The turn that waited read the characters again when its turn came: it answers as if nothing failed.
    expect(second.data.status).toBe('completed');
    expect(secondEvents.filter((m) => m.type === 'error')).toEqual([]);
    expect(secondEvents.find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Bob');

    // The worker is still the same live process, and the conversation goes on.
    expect(worker.proc.exitCode).toBeNull();
    expect(worker.proc.signalCode).toBeNull();
    const thirdFrom = s.received.length;
    s.send('user_message', { text: '@Alice third question' });
    const third = await finishedFrom(s, thirdFrom);
    expect(third.data.status).toBe('completed');
    expect(between(s, thirdFrom, third).find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
    expect(worker.logs.join('\n')).not.toMatch(/unhandled/i);
    await s.close();
  });

  it('a turn whose characters cannot be read when its turn comes fails with an error and frees the conversation for the next turn', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    await s.waitForType('session_started');
    const good = (await redis.get(KEYS.characters))!;
    const { requestsBefore, openGate } = holdReplies();
    const from = s.received.length;
    let second: Received;
    try {
      s.send('user_message', { text: '@Alice first question' });
      await whileWorkerRuns(stack.llm.waitForRequests(requestsBefore + 1, 30_000));
      // Bad while the second turn waits and still bad when its turn comes (it reads them again then).
      await redis.set(KEYS.characters, good.slice(0, Math.floor(good.length / 2)));
      s.send('user_message', { text: '@Bob second question' });
      stack.llm.respond(() => ({}));
      openGate();
      const first = await finishedFrom(s, from);
      expect(first.data.status).toBe('completed');
      second = await finishedFrom(s, s.received.indexOf(first) + 1);
    } finally {
      stack.llm.respond(() => ({}));
      openGate();
      await redis.set(KEYS.characters, good);
    }
    expect(second.data.status).toBe('failed');
    const errors = s.received.slice(from, s.received.indexOf(second)).filter((m) => m.type === 'error');
    expect(errors.map((e) => e.data.request_type)).toEqual(['user_message']);
    expect(errors[0]!.data.message).toMatch(/turn failed/i);

    // The failed turn released the conversation: the next one runs (it would wait for a leaked lock forever).
    const thirdFrom = s.received.length;
    s.send('user_message', { text: '@Alice third question' });
    const third = await finishedFrom(s, thirdFrom);
    expect(third.data.status).toBe('completed');
    expect(between(s, thirdFrom, third).find((m) => m.type === 'text_stream_stop')!.data.text).toContain('I am Alice');
    expect(worker.proc.exitCode).toBeNull();
    await s.close();
  });

  it('a turn given up after too many deliveries is answered with an error, and the turns queued behind it run', async () => {
    const s = await TestSocket.connect(stack.edges[0]!.wsUrl);
    const conversationId: string = (await s.waitForType('session_started')).data.conversation_id;
    // A turn that asked for the conversation and then kept failing: queued, never released.
    const deadSeq = `${Date.now() - 1000}-0`;
    await redis.zadd(KEYS.turnQueue(conversationId), 0, seqMember(deadSeq));
    const from = s.received.length;
    s.send('user_message', { text: '@Alice are you there?' });
    await whileWorkerRuns(
      waitUntil(async () => (await redis.zcard(KEYS.turnQueue(conversationId))) === 2, { timeoutMs: 30_000, message: 'the new turn was not queued' }),
    );
    expect(s.received.slice(from).some((m) => m.type === 'turn_finished')).toBe(false);

    // What the consumer's dead-letter hook runs for it.
    const dead: TranscribeEntry = {
      conversation_id: conversationId, turn_id: randomUUID(), message_id: randomUUID(), ts: Date.now() - 1000,
      source: 'text', text: 'a poison message', user_name: 'User',
    };
    // Its attempts had shown its messages as unsaved, beside another turn's.
    const other = testMessage(conversationId, 'an earlier turn');
    const shown = [
      testMessage(conversationId, dead.text, { id: dead.message_id, turn_id: dead.turn_id }),
      testMessage(conversationId, 'A reply of an attempt', { role: 'assistant', name: 'Alice', turn_id: dead.turn_id }),
      other,
    ];
    await redis.hset(KEYS.unsaved(conversationId), ...encodeUnsaved(shown));
    const deps = {
      redis,
      state: new ConversationState(redis, { historyMax: 100, ttlSec: 3600 }),
      sequencer: new TurnSequencer(redis, 'dead-letter-test', { lockTtlMs: 5000 }),
      limits: { eventsMaxLen: 2000, sentencesMaxLen: 2000, ttlSec: 3600, speakMaxLen: 10_000, replyMaxChars: 32_000 },
      logger: createLogger('test', 'silent'),
    } as unknown as TurnDeps;
    await abandonTurn(deps, dead, deadSeq);
    // Never to be saved, so no longer shown; the other turn's message stays (the turn queued behind may add its own).
    const unsaved = await redis.hkeys(KEYS.unsaved(conversationId));
    expect(unsaved).toContain(other.id);
    expect(unsaved).not.toContain(shown[0]!.id);
    expect(unsaved).not.toContain(shown[1]!.id);

    const deadFinished = await whileWorkerRuns(s.waitFor((m) => m.type === 'turn_finished' && m.data.turn_id === dead.turn_id, { from, timeoutMs: 30_000 }));
    expect(deadFinished.data.status).toBe('failed');
    const error = s.received.slice(from).find((m) => m.type === 'error')!;
    expect(error.data).toMatchObject({ code: 'turn_abandoned', request_type: 'user_message' });
    expect(error.data.message).toMatch(/could not be answered/);
    const next = await whileWorkerRuns(s.waitFor((m) => m.type === 'turn_finished' && m.data.turn_id !== dead.turn_id, { from, timeoutMs: 30_000 }));
    expect(next.data.status).toBe('completed');
    await s.close();
  });
});

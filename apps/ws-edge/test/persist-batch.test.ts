import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Message } from '@chorus/contracts';
import { createPgliteStore, type Store } from '@chorus/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageBatcher } from '../src/persist-batch.js';

let dir: string;
let store: Store;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'chorus-batch-'));
  store = createPgliteStore(path.join(dir, 'pglite'));
  await store.init();
});
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const message = (conversation_id: string, content: string): Message => ({
  id: crypto.randomUUID(),
  conversation_id,
  role: 'user',
  name: 'Ann',
  character_id: null,
  content,
  turn_id: null,
  interrupted: false,
  audio_end_ms: null,
  created_at: new Date().toISOString(),
});

/** The real store, counting its batch writes. */
function countingSave() {
  const writes: number[] = [];
  return { writes, save: (m: Message[]) => (writes.push(m.length), store.saveMessages(m)) };
}

describe('write-behind batches', () => {
  it('jobs that arrive within the window are stored with one write', async () => {
    const conv = await store.createConversation();
    const { writes, save } = countingSave();
    const batcher = new MessageBatcher(save, { windowMs: 200, maxMessages: 500 });
    const jobs = Array.from({ length: 10 }, (_, i) => [message(conv.id, `user ${i}`), message(conv.id, `reply ${i}`)]);
    await Promise.all(jobs.map((j) => batcher.add(j)));
    expect(writes).toEqual([20]);
    expect(await store.listMessages(conv.id)).toHaveLength(20);
  });

  it('a full batch is written without waiting for the window', async () => {
    const conv = await store.createConversation();
    const { writes, save } = countingSave();
    const batcher = new MessageBatcher(save, { windowMs: 60_000, maxMessages: 4 });
    await Promise.all([batcher.add([message(conv.id, 'a'), message(conv.id, 'b')]), batcher.add([message(conv.id, 'c'), message(conv.id, 'd')])]);
    expect(writes).toEqual([4]);
  });

  it("a job whose conversation is gone fails alone; the batch's other jobs are stored", async () => {
    const conv = await store.createConversation();
    const { save } = countingSave();
    const batcher = new MessageBatcher(save, { windowMs: 100, maxMessages: 500 });
    const good = [message(conv.id, 'kept 1'), message(conv.id, 'kept 2')];
    const results = await Promise.allSettled([batcher.add([good[0]!]), batcher.add([message('deleted-conversation', 'lost')]), batcher.add([good[1]!])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/deleted-conversation/);
    expect((await store.listMessages(conv.id)).map((m) => m.content).sort()).toEqual(['kept 1', 'kept 2']);
  });
});

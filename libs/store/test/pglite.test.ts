import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPgliteStore, createStore } from '../src/index.js';
import { defineStoreSuite, message } from './store-suite.js';

const tempDirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'chorus-store-'));
  tempDirs.push(dir);
  return dir;
}
const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

defineStoreSuite('PGlite', async () => {
  const dir = await tempDir();
  const store = createPgliteStore(path.join(dir, 'pglite'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await removeDir(dir);
    },
  };
});

describe('PGlite store on a directory', () => {
  afterEach(async () => {
    await Promise.all(tempDirs.splice(0).map(removeDir));
  });

  it('keeps characters and messages across a restart', async () => {
    const dataDir = await tempDir();
    const first = createStore({ dataDir });
    expect(first.kind).toBe('pglite');
    await first.init();
    const character = await first.createCharacter({ name: 'Persistent', voice_id: 'flite-kal' });
    const conv = await first.createConversation({ title: 'Kept' });
    const messages = [message(conv.id, 1), message(conv.id, 2, { role: 'assistant', name: 'Persistent', character_id: character.id })];
    for (const m of messages) await first.saveMessage(m);
    await first.close();

    const second = createStore({ dataDir });
    await second.init(); // migrations already applied, not empty: nothing to do
    expect(await second.listMessages(conv.id)).toEqual(messages);
    expect(await second.getCharacter(character.id)).toEqual(character);
    expect((await second.listCharacters()).map((c) => c.name)).toEqual(['Alice', 'Bob', 'Persistent']);
    expect((await second.getConversation(conv.id))!.message_count).toBe(2);
    await second.close();
    await expect(second.ping()).rejects.toMatchObject({ name: 'StoreError', code: 'unavailable' });
  });
});

/** The CRUD + history suite every Store adapter must pass, run on real databases. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@chorus/contracts';
import { testMessage } from '../../testkit/src/fixtures.js';
import { DEFAULT_CHARACTERS, DEFAULT_VOICES, StoreError, type Store } from '../src/index.js';

export interface StoreHandle {
  store: Store;
  /** Closes the store and removes its database. */
  cleanup(): Promise<void>;
}

/** Lets the clock move on, so "most recently updated" is unambiguous even at millisecond resolution. */
export const tick = () => new Promise((r) => setTimeout(r, 5));

export function message(conversation_id: string, second: number, over: Partial<Message> = {}): Message {
  return testMessage(conversation_id, `message ${second}`, { created_at: new Date(Date.UTC(2025, 0, 1, 12, 0, second)).toISOString(), ...over });
}

async function expectStoreError(p: Promise<unknown>, code: StoreError['code'], text?: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  if (text) expect((err as StoreError).message).toMatch(text);
}

/** `makeStore` returns a store on a fresh, empty database (init not yet called). */
export function defineStoreSuite(name: string, makeStore: () => Promise<StoreHandle>) {
  describe(`Store suite: ${name}`, () => {
    let handle: StoreHandle;
    let store: Store;
    beforeAll(async () => {
      handle = await makeStore();
      store = handle.store;
      await store.init();
    });
    afterAll(async () => {
      await handle?.cleanup();
    });

    it('seeds an empty database once: the flite voices and two characters with distinct voices', async () => {
      const fresh = await makeStore();
      try {
        await fresh.store.init();
        const voices = await fresh.store.listVoices();
        expect(voices.map((v) => v.id).sort()).toEqual(['flite-awb', 'flite-kal', 'flite-kal16', 'flite-rms', 'flite-slt']);
        expect(voices.every((v) => v.engine === 'flite' && v.params.voice === v.id.slice('flite-'.length))).toBe(true);

        const characters = await fresh.store.listCharacters();
        expect(characters.map((c) => c.name)).toEqual(['Alice', 'Bob']);
        expect(characters.map((c) => c.voice_id)).toEqual(['flite-slt', 'flite-rms']);
        expect(characters.every((c) => c.active && c.system_prompt.length > 20)).toBe(true);

        // init is idempotent and never seeds twice, not even after the user removed the defaults
        await fresh.store.init();
        expect(await fresh.store.listVoices()).toHaveLength(DEFAULT_VOICES.length);
        for (const c of characters) await fresh.store.deleteCharacter(c.id);
        await fresh.store.init();
        expect(await fresh.store.listCharacters()).toEqual([]);
        expect(await fresh.store.listVoices()).toHaveLength(DEFAULT_VOICES.length);
      } finally {
        await fresh.cleanup();
      }
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('creates characters with defaults, lists them by order then name', async () => {
      const before = await store.listCharacters();
      const maxOrder = Math.max(-1, ...before.map((c) => c.order));

      const zed = await store.createCharacter({ name: '  Zed ' });
      expect(zed).toMatchObject({ name: 'Zed', system_prompt: '', voice_id: null, active: true, order: maxOrder + 1 });
      expect(zed.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(zed.created_at)).not.toBeNaN();
      expect(zed.updated_at).toBe(zed.created_at);

      const amy = await store.createCharacter({ id: 'amy-1', name: 'Amy', order: maxOrder + 1, voice_id: 'flite-awb', active: false, extensions: { depth: 2 }, greeting: 'Hi!' });
      expect(amy).toMatchObject({ id: 'amy-1', order: maxOrder + 1, voice_id: 'flite-awb', active: false, extensions: { depth: 2 }, greeting: 'Hi!', image_url: null });
      const next = await store.createCharacter({ name: 'Next' });
      expect(next.order).toBe(maxOrder + 2);

      const names = (await store.listCharacters()).map((c) => c.name);
      expect(names.slice(-3)).toEqual(['Amy', 'Zed', 'Next']); // same order → by name
      expect(await store.getCharacter('amy-1')).toEqual(amy);
      expect(await store.getCharacter('nobody')).toBeNull();
    });

    it('updates and deletes characters', async () => {
      const c = await store.createCharacter({ name: 'Carl', system_prompt: 'old' });
      await tick();
      const updated = await store.updateCharacter({ id: c.id, system_prompt: 'new', voice_id: 'flite-kal', order: 42, extensions: { a: [1, 2] } });
      expect(updated).toMatchObject({ id: c.id, name: 'Carl', system_prompt: 'new', voice_id: 'flite-kal', order: 42, extensions: { a: [1, 2] } });
      expect(updated!.created_at).toBe(c.created_at);
      expect(updated!.updated_at > c.updated_at).toBe(true);
      expect(await store.updateCharacter({ id: c.id, voice_id: null })).toMatchObject({ voice_id: null, system_prompt: 'new' });
      expect(await store.updateCharacter({ id: 'nobody', name: 'x' })).toBeNull();

      expect(await store.deleteCharacter(c.id)).toBe(true);
      expect(await store.deleteCharacter(c.id)).toBe(false);
      expect(await store.getCharacter(c.id)).toBeNull();
    });

    it('refuses bad character input and bad voice references with a StoreError', async () => {
      await expectStoreError(store.createCharacter({ name: 'Ghost', voice_id: 'no-such-voice' }), 'invalid', /no-such-voice/);
      expect((await store.listCharacters()).some((c) => c.name === 'Ghost')).toBe(false);
      const c = await store.createCharacter({ name: 'Real' });
      await expectStoreError(store.updateCharacter({ id: c.id, voice_id: 'no-such-voice' }), 'invalid', /no-such-voice/);
      expect((await store.getCharacter(c.id))!.voice_id).toBeNull();

      await expectStoreError(store.createCharacter({ name: '   ' }), 'invalid', /name/);
      await expectStoreError(store.createCharacter({ name: 'x'.repeat(101) }), 'invalid');
      await expectStoreError(store.createCharacter({ id: c.id, name: 'Twin' }), 'conflict');
      await expectStoreError(store.createCharacter({ name: 'Sneaky', bogus: 1 } as never), 'invalid');
    });

    it('voice CRUD; deleting a voice leaves its characters without one', async () => {
      const v = await store.createVoice({ name: 'Deep', engine: 'onnx' });
      expect(v).toMatchObject({ name: 'Deep', engine: 'onnx', params: {} });
      const custom = await store.createVoice({ id: 'custom-voice', name: 'Custom', engine: 'openai', params: { voice: 'alloy', speed: 1.1 } });
      expect(await store.getVoice('custom-voice')).toEqual(custom);
      expect((await store.listVoices()).map((x) => x.id)).toEqual(expect.arrayContaining([v.id, 'custom-voice']));

      const updated = await store.updateVoice({ id: v.id, params: { voice: 'deep', pitch: -2 }, name: 'Deeper' });
      expect(updated).toMatchObject({ id: v.id, name: 'Deeper', engine: 'onnx', params: { voice: 'deep', pitch: -2 } });
      expect(await store.updateVoice({ id: 'nobody', name: 'x' })).toBeNull();
      await expectStoreError(store.createVoice({ name: 'No engine', engine: '' }), 'invalid');

      const a = await store.createCharacter({ name: 'UsesDeep1', voice_id: v.id });
      const b = await store.createCharacter({ name: 'UsesDeep2', voice_id: v.id });
      const other = await store.createCharacter({ name: 'UsesCustom', voice_id: 'custom-voice' });
      expect(await store.deleteVoice(v.id)).toBe(true);
      expect(await store.deleteVoice(v.id)).toBe(false);
      expect(await store.getVoice(v.id)).toBeNull();
      expect((await store.getCharacter(a.id))!.voice_id).toBeNull();
      expect((await store.getCharacter(b.id))!.voice_id).toBeNull();
      expect((await store.getCharacter(other.id))!.voice_id).toBe('custom-voice');
    });

    it('conversations: create, list with message_count (recent first), update model_settings, delete with messages', async () => {
      const first = await store.createConversation();
      expect(first).toMatchObject({ title: 'New conversation', model_settings: {}, message_count: 0 });
      await tick();
      const second = await store.createConversation({ title: 'Second', model_settings: { temperature: 0.7 } });
      expect(second).toMatchObject({ title: 'Second', model_settings: { temperature: 0.7 } });
      const named = await store.createConversation({ id: 'conv-fixed-id', title: '' });
      expect(named).toMatchObject({ id: 'conv-fixed-id', title: 'New conversation' });
      await store.deleteConversation(named.id);

      let ids = (await store.listConversations()).map((c) => c.id);
      expect(ids.indexOf(second.id)).toBeLessThan(ids.indexOf(first.id));

      // a new message makes its conversation the most recent one
      await tick();
      await store.saveMessage(message(first.id, 1));
      await store.saveMessage(message(first.id, 2));
      const list = await store.listConversations();
      expect(list[0]).toMatchObject({ id: first.id, message_count: 2 });
      expect(list.find((c) => c.id === second.id)!.message_count).toBe(0);
      expect((await store.getConversation(first.id))!.message_count).toBe(2);

      await tick();
      const updated = await store.updateConversation({ id: second.id, model_settings: { model: 'm', top_k: 40 } });
      expect(updated).toMatchObject({ title: 'Second', model_settings: { model: 'm', top_k: 40 } }); // replaced, not merged
      expect(updated!.updated_at > second.updated_at).toBe(true);
      expect(await store.updateConversation({ id: second.id, title: 'Renamed' })).toMatchObject({ title: 'Renamed', model_settings: { model: 'm', top_k: 40 } });
      ids = (await store.listConversations()).map((c) => c.id);
      expect(ids[0]).toBe(second.id);
      expect(await store.updateConversation({ id: 'nobody', title: 'x' })).toBeNull();
      await expectStoreError(store.updateConversation({ id: second.id, model_settings: { temperature: 9 } }), 'invalid', /temperature/);
      await expectStoreError(store.createConversation({ model_settings: { bogus: 1 } as never }), 'invalid');

      expect(await store.deleteConversation(first.id)).toBe(true);
      expect(await store.deleteConversation(first.id)).toBe(false);
      expect(await store.getConversation(first.id)).toBeNull();
      expect(await store.listMessages(first.id)).toEqual([]);
    });

    it('saveMessage is an idempotent upsert by id', async () => {
      const conv = await store.createConversation();
      const m = message(conv.id, 5, { role: 'assistant', name: 'Alice', character_id: 'character-alice', turn_id: 'turn-1', content: 'Hello th' });
      await store.saveMessage(m);
      await store.saveMessage(m);
      // the retried job carries the final state: cut off by an interrupt after 1234.5 ms of audio
      await store.saveMessage({ ...m, content: 'Hello there', interrupted: true, audio_end_ms: 1234.5 });
      const saved = await store.listMessages(conv.id);
      expect(saved).toEqual([{ ...m, content: 'Hello there', interrupted: true, audio_end_ms: 1234.5 }]);
      expect((await store.getConversation(conv.id))!.message_count).toBe(1);
    });

    it("names a 'New conversation' after its first user message's opening words; a named one keeps its title", async () => {
      const conv = await store.createConversation();
      const long = '  What is   the weather like on Mars, and how cold does it get at night near the poles?';
      await store.saveMessages([
        message(conv.id, 2, { id: 'title-2', content: 'a later question' }),
        message(conv.id, 1, { id: 'title-1', content: long }),
      ]);
      const title = (await store.getConversation(conv.id))!.title;
      expect(title).toBe('What is the weather like on Mars, and how cold does it get…');
      await store.saveMessage(message(conv.id, 3, { id: 'title-3', content: 'something else' }));
      expect((await store.getConversation(conv.id))!.title).toBe(title);
      const named = await store.createConversation({ title: 'Trip planning' });
      await store.saveMessage(message(named.id, 1, { id: 'title-n1', content: 'hello' }));
      expect((await store.getConversation(named.id))!.title).toBe('Trip planning');
      // An assistant message alone does not name it.
      const quiet = await store.createConversation();
      await store.saveMessage(message(quiet.id, 1, { id: 'title-q1', role: 'assistant', name: 'Alice', character_id: 'character-alice', content: 'Hi!' }));
      expect((await store.getConversation(quiet.id))!.title).toBe('New conversation');
    });

    it('keeps what was heard when the full reply is saved after the interrupt', async () => {
      const conv = await store.createConversation();
      const m = message(conv.id, 6, { role: 'assistant', name: 'Bob', character_id: 'character-bob', turn_id: 'turn-2', content: 'One. Two. Three.' });
      const heard = { ...m, content: 'One. Two.', interrupted: true, audio_end_ms: 900 };
      await store.saveMessage(heard); // the edge's save of what was heard lands first
      await store.saveMessage(m); // then the llm-worker's write-behind of the whole reply
      expect(await store.listMessages(conv.id)).toEqual([heard]);
      // and in the other order the heard text wins too
      const m2 = message(conv.id, 7, { role: 'assistant', name: 'Bob', character_id: 'character-bob', turn_id: 'turn-3', content: 'Four. Five.' });
      await store.saveMessage(m2);
      await store.saveMessage({ ...m2, content: 'Four.', interrupted: true, audio_end_ms: 400 });
      expect((await store.listMessages(conv.id)).map((x) => x.content)).toEqual(['One. Two.', 'Four.']);
    });

    it('refuses messages with bad references or bad fields', async () => {
      await expectStoreError(store.saveMessage(message('no-such-conversation', 1)), 'invalid', /no-such-conversation/);
      const a = await store.createConversation();
      const b = await store.createConversation();
      const m = message(a.id, 1);
      await store.saveMessage(m);
      await expectStoreError(store.saveMessage({ ...m, conversation_id: b.id, content: 'moved?' }), 'conflict');
      expect(await store.listMessages(a.id)).toEqual([m]);
      expect(await store.listMessages(b.id)).toEqual([]);
      await expectStoreError(store.saveMessage({ ...message(a.id, 2), role: 'system' as never }), 'invalid', /role/);
      await expectStoreError(store.saveMessage({ ...message(a.id, 3), created_at: 'not a time' }), 'invalid');
      expect(await store.listMessages(a.id)).toHaveLength(1);
    });

    it('saveMessages saves several conversations\' messages at once, and all or none of a failing batch', async () => {
      const a = await store.createConversation();
      const b = await store.createConversation();
      const batch = [message(a.id, 1), message(b.id, 2), message(a.id, 3, { role: 'assistant', name: 'Alice', character_id: 'character-alice' })];
      await store.saveMessages(batch);
      await store.saveMessages(batch); // a retried batch: upserts
      expect(await store.listMessages(a.id)).toEqual([batch[0], batch[2]]);
      expect(await store.listMessages(b.id)).toEqual([batch[1]]);
      expect((await store.getConversation(b.id))!.message_count).toBe(1);
      if (store.kind === 'supabase') return; // REST has no transaction (see SupabaseStore.saveMessages)
      const kept = message(a.id, 4);
      await expectStoreError(store.saveMessages([kept, message('no-such-conversation', 5)]), 'invalid', /no-such-conversation/);
      expect((await store.listMessages(a.id)).map((m) => m.id)).not.toContain(kept.id);
      await store.saveMessages([]);
    });

    it('lists messages chronologically; limit keeps the latest N', async () => {
      const conv = await store.createConversation();
      // saved out of order; two share a timestamp and are ordered by id
      const seconds = [3, 1, 4, 2, 5];
      const saved = new Map<number, Message>();
      for (const s of seconds) {
        const m = message(conv.id, s, { id: `msg-${s}` });
        saved.set(s, m);
        await store.saveMessage(m);
      }
      const tieB = message(conv.id, 2, { id: 'msg-2b' });
      await store.saveMessage(tieB);

      const all = await store.listMessages(conv.id);
      expect(all.map((m) => m.id)).toEqual(['msg-1', 'msg-2', 'msg-2b', 'msg-3', 'msg-4', 'msg-5']);
      expect(all[0]).toEqual(saved.get(1));
      expect((await store.listMessages(conv.id, { limit: 3 })).map((m) => m.id)).toEqual(['msg-3', 'msg-4', 'msg-5']);
      expect((await store.listMessages(conv.id, { limit: 100 })).map((m) => m.id)).toHaveLength(6);
      expect(await store.listMessages(conv.id, { limit: 0 })).toEqual([]);
      expect(await store.listMessages('no-such-conversation')).toEqual([]);
    });
  });
}

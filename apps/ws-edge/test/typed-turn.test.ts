import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { decodeEntry, SentenceEntry, STREAMS } from '@chorus/contracts';
import { openSession, startStack, TestSocket, waitUntilSaved, type Received, type Stack } from '@chorus/testkit';

let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  stack = await startStack();
  redis = new Redis(stack.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const session = (conversationId?: string) => openSession(stack.edges[0]!.wsUrl, { conversationId });

/** Sends a turn and returns the events of that turn, through `turn_finished`. */
async function turn(s: TestSocket, text: string): Promise<Received[]> {
  const from = s.received.length;
  s.send('user_message', { text });
  const finished = await s.waitForType('turn_finished', undefined, { from, timeoutMs: 20_000 });
  return s.received.slice(from, s.received.indexOf(finished) + 1);
}

const replies = (events: Received[]) =>
  events.filter((e) => e.type === 'text_stream_stop').map((e) => ({ name: e.data.character_name, text: e.data.text }));

describe('a typed turn through a real socket', () => {
  it('streams start → chunks → stop per responder, in order, and feeds the same message_id to the sentence stream', async () => {
    const { s, conversationId } = await session();
    stack.llm.enqueue({ text: 'It is cold and dusty. Bring a coat, Mr. Smith! Dust storms last 3.5 days.', chunkSize: 5 });
    const events = await turn(s, "@Alice what's the weather like on Mars?");

    const types = events.map((e) => e.type);
    expect(types[0]).toBe('turn_started');
    expect(types.at(-1)).toBe('turn_finished');
    expect(events.at(-1)!.data.status).toBe('completed');
    const start = events.find((e) => e.type === 'text_stream_start')!;
    const messageId = start.data.message_id;
    expect(start.data.character_name).toBe('Alice');
    const chunks = events.filter((e) => e.type === 'text_chunk');
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.every((c) => c.data.message_id === messageId)).toBe(true);
    expect(chunks.at(-1)!.data.is_final).toBe(true);
    const stop = events.find((e) => e.type === 'text_stream_stop')!;
    expect(events.indexOf(start)).toBeLessThan(events.indexOf(chunks[0]!));
    expect(events.indexOf(chunks.at(-1)!)).toBeLessThan(events.indexOf(stop));
    expect(chunks.map((c) => c.data.text).join('')).toBe(stop.data.text);
    expect(stop.data.text).toBe('It is cold and dusty. Bring a coat, Mr. Smith! Dust storms last 3.5 days.');

    const raw = (await redis.xrange(STREAMS.sentence(conversationId), '-', '+')) as Array<[string, string[]]>;
    const sentences = raw.map(([, f]) => decodeEntry(SentenceEntry, f)).filter((e) => e.message_id === messageId);
    expect(sentences.map((e) => e.index)).toEqual(sentences.map((_, i) => i));
    expect(sentences.at(-1)!.final).toBe(true);
    expect(sentences.at(-1)!.text).toBe('');
    const spoken = sentences.filter((e) => !e.final).map((e) => e.text);
    expect(spoken.join(' ')).toBe(stop.data.text);
    expect(spoken).toContain('Dust storms last 3.5 days.');
    expect(sentences.every((e) => e.character_name === 'Alice' && e.voice_id && e.conversation_id === conversationId)).toBe(true);
    await s.close();
  });

  it('answers with every active character in order when nobody is mentioned, each seeing the earlier replies', async () => {
    const { s } = await session();
    const before = stack.llm.requests.length;
    const events = await turn(s, 'Hello everyone, how are you?');
    expect(replies(events).map((r) => r.name)).toEqual(['Alice', 'Bob']);
    const [first, second] = stack.llm.requests.slice(before);
    expect(JSON.stringify(first!.body.messages)).not.toContain('I am Alice');
    // The second responder's request carries the first responder's reply, with the speaker's name.
    expect(JSON.stringify(second!.body.messages)).toContain('Alice: I am Alice');
    expect(second!.body.messages[0].content).toContain('Bob');
    await s.close();
  });

  it('routes by mention order and never lets an inactive character answer', async () => {
    const { s } = await session();
    const created = await createCharacter(s, { name: 'Zed', system_prompt: 'You are Zed, a robot.', active: true });
    expect(replies(await turn(s, 'Zed and @Alice, then Bob: sound off')).map((r) => r.name)).toEqual(['Zed', 'Alice', 'Bob']);
    expect(replies(await turn(s, '@bob first, then alice')).map((r) => r.name)).toEqual(['Bob', 'Alice']);

    s.send('update_character', { id: created.id, active: false });
    await s.waitForType('character_updated', (m) => m.data.id === created.id && m.data.active === false);
    expect(replies(await turn(s, '@Zed are you there?')).map((r) => r.name)).toEqual(['Alice', 'Bob']);
    expect(replies(await turn(s, 'Everyone?')).map((r) => r.name)).toEqual(['Alice', 'Bob']);
    s.send('delete_character', { id: created.id });
    await s.waitForType('character_deleted');
    await s.close();
  });

  it('puts the conversation model settings into the LLM request', async () => {
    const { s } = await session();
    const settings = { model: 'test/model-x', temperature: 0.3, top_p: 0.8, min_p: 0.05, top_k: 40, frequency_penalty: 0.2, presence_penalty: 0.1, repetition_penalty: 1.1 };
    s.send('model_settings', settings);
    await s.waitForType('settings_updated');
    const before = stack.llm.requests.length;
    await turn(s, '@Alice hi');
    const body = stack.llm.requests[before]!.body;
    expect(body).toMatchObject({ ...settings, stream: true });
    await s.close();
  });

  it('model settings the database refuses (db_error) do not reach the LLM request either', async () => {
    const { s } = await session();
    s.send('model_settings', { temperature: 0.4 });
    await s.waitForType('settings_updated');
    const from = s.received.length;
    s.send('model_settings', { model: 'bad\u0000model', temperature: 1.5 }, 'refused');
    const refused = await s.waitFor((m) => m.type === 'db_error' || m.type === 'settings_updated', { from });
    expect(refused.type).toBe('db_error');
    expect(refused.id).toBe('refused');
    const before = stack.llm.requests.length;
    await turn(s, '@Alice hi');
    const body = stack.llm.requests[before]!.body;
    expect(body.temperature).toBe(0.4);
    expect(body.model).not.toContain('bad');
    await s.close();
  });

  it("a speaker tag or reasoning block the model puts at the reply's start is neither shown nor spoken", async () => {
    const { s, conversationId } = await session();
    stack.llm.enqueue({ chunks: ['<think>Greet them.</think>\n', 'Ali', 'ce: Hello', ' there. Nice day.'] });
    const events = await turn(s, '@Alice hello');
    const chunks = events.filter((e) => e.type === 'text_chunk').map((e) => e.data.text).join('');
    expect(chunks).toBe('Hello there. Nice day.');
    expect(replies(events)).toEqual([{ name: 'Alice', text: 'Hello there. Nice day.' }]);
    const raw = (await redis.xrange(STREAMS.sentence(conversationId), '-', '+')) as Array<[string, string[]]>;
    const spoken = raw.map(([, f]) => decodeEntry(SentenceEntry, f)).filter((e) => !e.final).map((e) => e.text);
    expect(spoken).toEqual(['Hello there.', 'Nice day.']);
    await s.close();
  });

  it('a NUL character in a reply does not keep the turn from being saved', async () => {
    const { s, conversationId } = await session();
    stack.llm.enqueue({ text: 'Odd\u0000 bytes here.' });
    await turn(s, '@Alice say something odd');
    await waitUntilSaved(stack.redis.url, conversationId);
    const from = s.received.length;
    s.send('get_messages', { conversation_id: conversationId });
    const stored = await s.waitForType('messages_data', undefined, { from });
    expect(stored.data.messages.map((m: { content: string }) => m.content)).toEqual(['@Alice say something odd', 'Odd bytes here.']);
    await s.close();
  });

  it('a message sent while a reply is still streaming is stored after that reply, in the order the characters saw it', async () => {
    const { s, conversationId } = await session();
    stack.llm.enqueue({ text: 'A slow first answer, word by word.', chunkSize: 4, chunkDelayMs: 40 }, { text: 'The second answer.' });
    const from = s.received.length;
    s.send('user_message', { text: '@Alice first' });
    await s.waitForType('text_chunk', undefined, { from, timeoutMs: 20_000 });
    s.send('user_message', { text: '@Alice second' });
    await s.waitFor((m) => m.type === 'turn_finished' && s.received.slice(from).filter((x) => x.type === 'turn_finished').length === 2, { from, timeoutMs: 20_000 });
    await waitUntilSaved(stack.redis.url, conversationId);
    s.send('get_messages', { conversation_id: conversationId });
    const stored = await s.waitForType('messages_data', undefined, { from });
    expect(stored.data.messages.map((m: { content: string }) => m.content)).toEqual([
      '@Alice first',
      'A slow first answer, word by word.',
      '@Alice second',
      'The second answer.',
    ]);
    await s.close();
  });

  it('a conversation flooded with messages refuses those beyond its queue with turn_queue_full, and answers the rest', async () => {
    const { s } = await session();
    stack.llm.enqueue({ text: 'A slow start.', firstChunkDelayMs: 1500 });
    const from = s.received.length;
    for (let i = 0; i < 20; i++) s.send('user_message', { text: `@Alice number ${i}` });
    const finished = () => s.received.slice(from).filter((m) => m.type === 'turn_finished');
    await s.waitFor(() => finished().length === 20, { from, timeoutMs: 40_000 });
    const refused = s.received.slice(from).filter((m) => m.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(e.data).toMatchObject({ code: 'turn_queue_full', request_type: 'user_message' });
    expect(finished().filter((m) => m.data.status === 'completed').length).toBe(20 - refused.length);
    await s.close();
  });

  it("a new conversation's first turn begins with the active characters' greetings: in the characters' context and stored before the user's message, once", async () => {
    const { s, conversationId } = await session();
    const gia = await createCharacter(s, { name: 'Gia', system_prompt: 'You are Gia, an astronomer.', greeting: 'Welcome to the observatory!', active: true });
    try {
      const before = stack.llm.requests.length;
      await turn(s, '@Bob hello there');
      await turn(s, '@Gia what did you say first?');
      const [bob, giaAsked] = stack.llm.requests.slice(before).map((r) => r.body.messages as Array<{ role: string; content: string }>);
      // Bob heard Gia greet before the user spoke; Gia knows it was her own line.
      expect(bob!.slice(1).map((m) => m.content)).toEqual(['Gia: Welcome to the observatory!\nUser: @Bob hello there']);
      expect(giaAsked!.filter((m) => m.content.includes('Welcome to the observatory!'))).toEqual([{ role: 'assistant', content: 'Welcome to the observatory!' }]);
      await waitUntilSaved(stack.redis.url, conversationId);
      const from = s.received.length;
      s.send('get_messages', { conversation_id: conversationId });
      const stored = (await s.waitForType('messages_data', undefined, { from })).data.messages as Array<{ role: string; name: string; content: string }>;
      expect(stored.map((m) => `${m.role}:${m.name}`)).toEqual(['assistant:Gia', 'user:User', 'assistant:Bob', 'user:User', 'assistant:Gia']);
      expect(stored[0]!.content).toBe('Welcome to the observatory!');
    } finally {
      s.send('delete_character', { id: gia.id });
      await s.waitForType('character_deleted', (m) => m.data.id === gia.id);
      await s.close();
    }
  });

  it('the conversation list leaves out conversations opened and left empty, but lists the one shown and one whose first turn runs', async () => {
    const { s: left, conversationId: empty } = await session();
    await left.close();
    const { s: busy, conversationId: running } = await session();
    stack.llm.enqueue({ text: 'Still thinking about it.', firstChunkDelayMs: 1500 });
    busy.send('user_message', { text: '@Alice first words' });
    await busy.waitForType('turn_started', undefined, { timeoutMs: 20_000 });
    const { s, conversationId: shown } = await session();
    s.send('get_conversations', undefined, 'list');
    const ids = (await s.waitFor((m) => m.id === 'list')).data.map((c: { id: string }) => c.id);
    expect(ids).toContain(shown);
    expect(ids).toContain(running);
    expect(ids).not.toContain(empty);
    await busy.waitForType('turn_finished', undefined, { timeoutMs: 20_000 });
    await Promise.all([s.close(), busy.close()]);
  });

  it('keeps the history of a conversation and restores it when the conversation is opened again', async () => {
    const { s, conversationId } = await session();
    await turn(s, '@Alice remember the word pineapple');
    await s.close();
    const again = await session(conversationId);
    expect(again.conversationId).toBe(conversationId);
    const before = stack.llm.requests.length;
    await turn(again.s, '@Bob what word was it?');
    const prompt = JSON.stringify(stack.llm.requests[before]!.body.messages);
    expect(prompt).toContain('remember the word pineapple');
    expect(prompt).toContain('Alice: I am Alice');
    // Write-behind persistence catches up: the messages are in the database.
    await waitUntilSaved(stack.redis.url, conversationId);
    const from = again.s.received.length;
    again.s.send('get_messages', { conversation_id: conversationId });
    const stored = await again.s.waitForType('messages_data', undefined, { from });
    expect(stored.data.messages.map((m: { role: string; name: string }) => `${m.role}:${m.name}`)).toEqual([
      'user:User',
      'assistant:Alice',
      'user:User',
      'assistant:Bob',
    ]);
    await again.s.close();
  });
});

async function createCharacter(s: TestSocket, data: Record<string, unknown>) {
  s.send('create_character', data, 'create-1');
  const m = await s.waitForType('character_created', (x) => x.data.name === data.name);
  expect(m.id).toBe('create-1');
  return m.data as { id: string };
}

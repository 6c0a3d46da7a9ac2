import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_READ_FRAME_BYTES } from '@chorus/contracts';
import { openSession, startStack, TestSocket, type Stack } from '@chorus/testkit';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

const session = async () => (await openSession(stack.edges[0]!.wsUrl)).s;

describe('bad input gets a clear error and changes nothing else', () => {
  it('answers each bad frame with error, keeps the connection open, and leaves another socket’s turn unaffected', async () => {
    const other = await session();
    stack.llm.enqueue({ text: 'A steady reply that takes a little while to arrive.', chunkSize: 4, chunkDelayMs: 15 });
    const otherFrom = other.received.length;
    other.send('user_message', { text: '@Alice talk to me' });

    const s = await session();
    const cases: Array<[string | Buffer, string, RegExp]> = [
      ['{not json', 'invalid_json', /not valid JSON/],
      ['[1,2,3]', 'invalid_message', /envelope/],
      [JSON.stringify({ type: 'launch_rockets' }), 'unknown_type', /launch_rockets/],
      [JSON.stringify({ type: 'user_message', data: { text: 42 } }), 'invalid_message', /text/],
      [JSON.stringify({ type: 'user_message', data: { text: '   ' } }), 'invalid_message', /empty/],
      [JSON.stringify({ type: 'user_message', data: { text: 'x'.repeat(9000) } }), 'invalid_message', /text/],
      [JSON.stringify({ type: 'user_message', data: { text: 'a\u0000b' } }), 'invalid_message', /NUL character/],
      ['{"type":"user_message","data":{"text":"\\ud83d lone"}}', 'invalid_message', /lone UTF-16 surrogate/],
      [JSON.stringify({ type: 'user_message', data: { text: 'x'.repeat(70_000) } }), 'too_large', /limit/],
      // Well over the limit (a pasted document, a whole recording) is refused the same way, the connection kept.
      [JSON.stringify({ type: 'user_message', data: { text: 'x'.repeat(2 * 1024 * 1024) } }), 'too_large', /limit/],
      [Buffer.alloc(3 * 1024 * 1024), 'too_large', /limit/],
      [JSON.stringify({ type: 'create_character', data: { name: 'X', active: 'yes' } }), 'invalid_message', /active/],
      [JSON.stringify({ type: 'create_character', data: { name: '   ' } }), 'invalid_message', /name: a name is needed/],
      [JSON.stringify({ type: 'create_character', data: { name: 'Two\nLines' } }), 'invalid_message', /one line/],
      // @Alice must reach one character, and a character must not pass for the user.
      [JSON.stringify({ type: 'create_character', data: { name: ' alice ' } }), 'invalid_message', /already called "Alice"/],
      [JSON.stringify({ type: 'create_character', data: { name: 'User' } }), 'invalid_message', /the user's name/],
      [JSON.stringify({ type: 'model_settings', data: { temperature: 9 } }), 'invalid_message', /temperature/],
      [JSON.stringify({ type: 'open_conversation', data: { conversation_id: 'no-such-conversation' } }), 'not_found', /no-such/],
      [Buffer.from([1, 2, 3, 4]), 'invalid_audio', /start_listening/],
    ];
    for (const [frame, code, message] of cases) {
      const from = s.received.length;
      s.sendRaw(frame);
      const err = await s.waitForType('error', undefined, { from });
      expect(err.data.code, String(frame).slice(0, 60)).toBe(code);
      expect(err.data.message).toMatch(message);
    }
    // A bad envelope's usable id (and type) still come back with its error.
    for (const [frame, id, type] of [
      [{ type: 5, id: 'bad-type' }, 'bad-type', undefined],
      [{ type: 'ping', id: 7 }, undefined, 'ping'],
    ] as const) {
      const at = s.received.length;
      s.sendRaw(JSON.stringify(frame));
      const err = await s.waitForType('error', undefined, { from: at });
      expect(err.data.code).toBe('invalid_message');
      expect(err.id).toBe(id);
      expect(err.data.request_type).toBe(type);
    }
    const from = s.received.length;
    s.send('ping', undefined, 'still-alive');
    expect((await s.waitForType('pong', undefined, { from })).id).toBe('still-alive');
    expect(s.isOpen).toBe(true);

    const finished = await other.waitForType('turn_finished', undefined, { from: otherFrom, timeoutMs: 20_000 });
    expect(finished.data.status).toBe('completed');
    const stop = other.received.slice(otherFrom).find((m) => m.type === 'text_stream_stop')!;
    expect(stop.data.text).toBe('A steady reply that takes a little while to arrive.');
    expect(other.received.slice(otherFrom).filter((m) => m.type === 'error')).toEqual([]);
    // The bad character was not stored.
    other.send('get_characters');
    const chars = await other.waitForType('characters_data', undefined, { from: otherFrom });
    expect(chars.data.map((c: { name: string }) => c.name)).not.toContain('X');
    await Promise.all([s.close(), other.close()]);
  });

  it('a frame beyond what the edge reads at all (16 MiB) closes that socket with 1009 and leaves the others alone', async () => {
    const [s, other] = await Promise.all([session(), session()]);
    s.sendRaw(Buffer.alloc(MAX_READ_FRAME_BYTES + 1024));
    expect((await s.closed).code).toBe(1009);
    other.send('ping', undefined, 'after');
    expect((await other.waitForType('pong')).id).toBe('after');
    await other.close();
  });

  it('a character or voice sent back as it was received (created_at, updated_at) is accepted; a misspelt field is still refused', async () => {
    const s = await session();
    s.send('create_voice', { name: 'Round trip voice', engine: 'flite', params: { voice: 'slt' } }, 'v');
    const voice = (await s.waitFor((m) => m.id === 'v')).data;
    s.send('update_voice', { ...voice, name: 'Round trip voice 2' }, 'v2');
    expect(await s.waitFor((m) => m.id === 'v2')).toMatchObject({ type: 'voice_updated', data: { name: 'Round trip voice 2', created_at: voice.created_at } });
    s.send('create_character', { name: 'Round trip', system_prompt: 'You repeat things.', voice_id: voice.id, active: false }, 'c');
    const character = (await s.waitFor((m) => m.id === 'c')).data;
    expect(character.created_at).toEqual(expect.any(String));
    s.send('update_character', { ...character, system_prompt: 'You repeat things twice.' }, 'c2');
    expect(await s.waitFor((m) => m.id === 'c2')).toMatchObject({ type: 'character_updated', data: { system_prompt: 'You repeat things twice.', created_at: character.created_at } });
    s.send('update_character', { id: character.id, sytem_prompt: 'typo' }, 'c3');
    expect(await s.waitFor((m) => m.id === 'c3')).toMatchObject({ type: 'error', data: { code: 'invalid_message' } });
    s.send('delete_character', { id: character.id }, 'd1');
    s.send('delete_voice', { id: voice.id }, 'd2');
    await s.waitFor((m) => m.id === 'd2');
    await s.close();
  });

  it('a refused database request answers db_error and the connection stays usable', async () => {
    const s = await session();
    s.send('create_character', { name: 'Ghost', voice_id: 'no-such-voice' });
    const err = await s.waitForType('db_error');
    expect(err.data.error).toMatch(/no-such-voice/);
    s.send('ping');
    await s.waitForType('pong');
    await s.close();
  });

  it('free-form JSON nested thousands of levels deep is refused, and the catalogue stays readable for every socket', async () => {
    // ~12 KB: well under the frame limit, but too deep to cross back from the database thread once stored.
    let deep: unknown = 1;
    for (let i = 0; i < 2000; i++) deep = { b: deep };
    const s = await session();
    for (const [type, data] of [
      ['create_character', { name: 'Deep', extensions: { a: deep } }],
      ['create_voice', { name: 'Deep voice', engine: 'flite', params: { voice: 'slt', a: deep } }],
    ] as const) {
      const from = s.received.length;
      s.send(type, data, `deep-${type}`);
      const err = await s.waitForType('error', undefined, { from });
      expect(err.id).toBe(`deep-${type}`);
      expect(err.data.code).toBe('invalid_message');
      expect(err.data.message).toMatch(/nested deeper than 32 levels/);
    }
    // Nesting within the limit is kept as sent.
    let ok: unknown = 'leaf';
    for (let i = 0; i < 30; i++) ok = [ok];
    s.send('create_character', { name: 'Nested', extensions: { ok } });
    expect((await s.waitForType('character_created')).data.extensions).toEqual({ ok });

    const other = await session(); // a new socket lists the characters as its session starts
    other.send('get_characters');
    const names = (await other.waitForType('characters_data')).data.map((c: { name: string }) => c.name);
    expect(names).toContain('Nested');
    expect(names).not.toContain('Deep');
    await Promise.all([s.close(), other.close()]);
  });

  it('refuses sockets without the token when EDGE_TOKEN is set', async () => {
    const guarded = await startStack({ redis: stack.redis, llm: stack.llm, llmWorkers: 0, env: { EDGE_TOKEN: 'secret-token-123' } });
    try {
      await expect(TestSocket.connect(guarded.edges[0]!.wsUrl)).rejects.toThrow(/401/);
      await expect(TestSocket.connect(`${guarded.edges[0]!.wsUrl}?token=wrong-token-000`)).rejects.toThrow(/401/);
      const ok = await TestSocket.connect(`${guarded.edges[0]!.wsUrl}?token=secret-token-123`);
      await ok.waitForType('session_started');
      await ok.close();
      const viaHeader = await TestSocket.connect(guarded.edges[0]!.wsUrl, { headers: { authorization: 'Bearer secret-token-123' } });
      await viaHeader.waitForType('session_started');
      await viaHeader.close();
    } finally {
      await guarded.stop();
    }
  });
});

import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoReplyText, startScriptedLlm, unusedUrl, type ScriptedLlm } from '../src/scripted-llm.js';
import { waitUntil } from '../src/wait.js';

let llm: ScriptedLlm;
let client: OpenAI;

beforeAll(async () => {
  llm = await startScriptedLlm();
  client = new OpenAI({ baseURL: llm.url, apiKey: 'test', maxRetries: 0 });
});
afterAll(async () => {
  await llm.close();
});
afterEach(() => {
  // Every test starts with an empty queue / default responder and its own request indices.
  llm.respond(() => ({}));
});

async function streamText(messages: OpenAI.Chat.ChatCompletionMessageParam[], extra: Record<string, unknown> = {}) {
  const stream = await client.chat.completions.create({ model: 'm', messages, stream: true, ...extra });
  const deltas: string[] = [];
  const finish: (string | null)[] = [];
  let usage: unknown;
  let sawRole = false;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role === 'assistant') sawRole = true;
      if (c.delta.content) deltas.push(c.delta.content);
      if (c.finish_reason) finish.push(c.finish_reason);
    }
  }
  return { deltas, text: deltas.join(''), finish, usage, sawRole };
}

describe('scripted LLM with the real openai client', () => {
  it('serves the url with /v1 on 127.0.0.1', () => {
    expect(llm.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  });

  it('streams text in chunks that reassemble, with role delta and finish_reason stop', async () => {
    const text = 'Hello there, this is a somewhat longer reply. ünïcödé 🎉 ok';
    llm.enqueue({ text, chunkSize: 5 });
    const before = llm.requests.length;
    const r = await streamText([{ role: 'user', content: 'hi' }]);
    expect(r.text).toBe(text);
    expect(r.deltas.length).toBeGreaterThan(5);
    expect(r.deltas.every((d) => Array.from(d).length <= 5)).toBe(true);
    expect(r.sawRole).toBe(true);
    expect(r.finish).toEqual(['stop']);
    const rec = llm.requests[before];
    expect(rec.body.stream).toBe(true);
    expect(rec.body.model).toBe('m');
    expect(rec.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
    expect(rec.headers.authorization).toBe('Bearer test');
    expect(rec.aborted).toBe(false);
  });

  it('uses explicit chunks as given and reports usage when asked', async () => {
    llm.enqueue({ chunks: ['One. ', 'Two, ', 'three.'], chunkDelayMs: 5, firstChunkDelayMs: 5 });
    const r = await streamText([{ role: 'user', content: 'count' }], { stream_options: { include_usage: true } });
    expect(r.deltas).toEqual(['One. ', 'Two, ', 'three.']);
    expect(r.usage).toMatchObject({ completion_tokens: 3 });
  });

  it('answers by default with the character name and an echo of the last user line', async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are Captain Nemo, a submarine captain. Stay in character.' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer' },
      { role: 'user', content: 'Some context\nWhere are we going?' },
    ];
    const r = await streamText(messages);
    expect(r.text).toBe('I am Captain Nemo. Where are we going.');
    expect(echoReplyText({ messages: [{ role: 'user', content: 'yo' }] })).toBe('I am Assistant. yo.');
    expect(echoReplyText({ messages: [{ role: 'system', content: [{ type: 'text', text: 'You are Bob.' }] }] })).toBe('I am Bob.');
  });

  it('answers non-streaming requests', async () => {
    llm.enqueue({ text: 'plain answer' });
    const res = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'q' }] });
    expect(res.choices[0].message.content).toBe('plain answer');
    expect(res.choices[0].finish_reason).toBe('stop');
    expect(res.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('lists models', async () => {
    const models = await client.models.list();
    expect(models.data.length).toBeGreaterThan(0);
  });

  it('surfaces a scripted error status as APIError with that status and message', async () => {
    llm.enqueue({ status: 401, errorMessage: 'bad key' }, { status: 503 });
    const e1 = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true })
      .catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(OpenAI.APIError);
    expect(e1).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((e1 as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
    expect((e1 as Error).message).toContain('bad key');
    expect((e1 as InstanceType<typeof OpenAI.APIError>).type).toBe('authentication_error');

    const e2 = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e2 as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
  });

  it('x-should-retry lets a retrying client retry a scripted 429 and then succeed', async () => {
    const retrying = new OpenAI({ baseURL: llm.url, apiKey: 'test', maxRetries: 2 });
    const before = llm.requests.length;
    llm.enqueue({ status: 429, shouldRetry: true, headers: { 'retry-after-ms': '1' } }, { text: 'after retry' });
    const res = await retrying.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0].message.content).toBe('after retry');
    expect(llm.requests.length - before).toBe(2);
  });

  it('records the client abort of a hanging stream', async () => {
    llm.enqueue({ text: 'this reply never finishes because the server hangs', chunkSize: 4, hangAfterChunks: 2 });
    const before = llm.requests.length;
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true },
      { signal: ac.signal },
    );
    const got: string[] = [];
    const err = await (async () => {
      try {
        for await (const chunk of stream) {
          const c = chunk.choices[0]?.delta.content;
          if (c) got.push(c);
          if (got.length === 2) ac.abort();
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    // The openai stream iterator ends quietly on abort (older versions threw APIUserAbortError).
    if (err !== undefined) expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(got).toEqual(['this', ' rep']);
    await waitUntil(() => llm.requests[before].aborted, { message: 'abort not recorded' });
  });

  it('records the abort of a non-streaming request that hangs', async () => {
    llm.enqueue({ hangAfterChunks: 0 });
    const before = llm.requests.length;
    const ac = new AbortController();
    const pending = client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { signal: ac.signal })
      .catch((e: unknown) => e);
    await llm.waitForRequests(before + 1);
    ac.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await waitUntil(() => llm.requests[before].aborted, { message: 'abort not recorded' });
  });

  it('does not mark a completed request as aborted', async () => {
    const before = llm.requests.length;
    await streamText([{ role: 'user', content: 'fine' }]);
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'fine' }] });
    const recs = await llm.waitForRequests(before + 2);
    expect(recs.slice(before).map((r) => r.aborted)).toEqual([false, false]);
  });

  it('drops the connection mid-stream (a broken stream) with dropAfterChunks', async () => {
    llm.enqueue({ text: 'abcdefghijklmnop', chunkSize: 4, dropAfterChunks: 2 });
    const before = llm.requests.length;
    const got: string[] = [];
    const err = await (async () => {
      try {
        const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
        for await (const chunk of stream) {
          const c = chunk.choices[0]?.delta.content;
          if (c) got.push(c);
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(Error);
    expect(got).toEqual(['abcd', 'efgh']);
    expect(llm.requests[before].aborted).toBe(false);
  });

  it('uses enqueued replies in FIFO order, then the responder', async () => {
    llm.enqueue({ text: 'one' }, { text: 'two' });
    llm.enqueue({ text: 'three' });
    const seen: string[] = [];
    llm.respond(async (req) => ({ text: `fallback ${req.body.messages.length}` }));
    const ask = async () =>
      (await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] })).choices[0].message.content;
    for (let i = 0; i < 5; i++) seen.push((await ask()) ?? '');
    expect(seen).toEqual(['one', 'two', 'three', 'fallback 1', 'fallback 1']);
  });

  it('waitForRequests resolves with the records and rejects on timeout', async () => {
    const n = llm.requests.length;
    const pending = llm.waitForRequests(n + 1);
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    const recs = await pending;
    expect(recs.length).toBe(n + 1);
    expect(recs[n].body.messages[0].content).toBe('ping');
    await expect(llm.waitForRequests(n + 5, 50)).rejects.toThrow(/waitForRequests/);
  });

  it('a responder that throws yields a 500', async () => {
    llm.respond(() => {
      throw new Error('boom');
    });
    const e = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((x: unknown) => x);
    expect((e as InstanceType<typeof OpenAI.APIError>).status).toBe(500);
    expect((e as Error).message).toContain('boom');
  });

  it('close() ends a hanging request and a second close is harmless', async () => {
    const other = await startScriptedLlm();
    other.enqueue({ hangAfterChunks: 0 });
    const c = new OpenAI({ baseURL: other.url, apiKey: 'test', maxRetries: 0 });
    const stream = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true });
    const consumed = (async () => {
      try {
        for await (const _ of stream) {
          /* drain */
        }
        return 'ended';
      } catch {
        return 'failed';
      }
    })();
    await other.waitForRequests(1);
    await other.close();
    await other.close();
    expect(['ended', 'failed']).toContain(await consumed);
    expect(other.requests[0].aborted).toBe(false);
  });

  it('unusedUrl() refuses connections', async () => {
    const url = await unusedUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const c = new OpenAI({ baseURL: url, apiKey: 'test', maxRetries: 0 });
    const e = await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenAI.APIConnectionError);
  });
});

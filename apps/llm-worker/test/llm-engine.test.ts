import { startScriptedLlm, unusedUrl, waitUntil, type ScriptedLlm } from '@chorus/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LlmError, type ChatMessage, type LlmEngineOptions } from '../src/engines/index.js';
import { createOpenAiEngine } from '../src/engines/openai.js';
import { streamWithRetry, type RetryPolicy } from '../src/retry.js';

let llm: ScriptedLlm;

beforeEach(async () => {
  llm = await startScriptedLlm();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await llm.close();
});

const messages: ChatMessage[] = [
  { role: 'system', content: 'You are Ada.' },
  { role: 'user', content: 'Hello there' },
];

function engine(o: Partial<LlmEngineOptions> = {}) {
  return createOpenAiEngine({
    baseUrl: llm.url,
    apiKey: 'test-key',
    model: 'default-model',
    firstTokenTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    ...o,
  });
}

const fastRetry: RetryPolicy = { retries: 2, baseDelayMs: 10 };

/** Drains an iterable, keeping the deltas that arrived before a failure. */
async function drain(it: AsyncIterable<string>): Promise<{ deltas: string[]; error?: unknown }> {
  const deltas: string[] = [];
  try {
    for await (const d of it) deltas.push(d);
    return { deltas };
  } catch (error) {
    return { deltas, error };
  }
}

function expectLlmError(error: unknown, code: string, retryable?: boolean): LlmError {
  expect(error, 'expected an LlmError').toBeInstanceOf(LlmError);
  const e = error as LlmError;
  expect(e.code).toBe(code);
  if (retryable !== undefined) expect(e.retryable).toBe(retryable);
  return e;
}

describe('OpenAI-compatible engine', () => {
  it('streams the reply as text deltas', async () => {
    llm.enqueue({ chunks: ['Hel', 'lo ', 'wor', 'ld!'], chunkDelayMs: 5 });
    const { deltas, error } = await drain(engine().stream({ messages, settings: {}, signal: new AbortController().signal }));
    expect(error).toBeUndefined();
    expect(deltas).toEqual(['Hel', 'lo ', 'wor', 'ld!']);

    const [req] = await llm.waitForRequests(1);
    expect(req!.body.stream).toBe(true);
    expect(req!.body.model).toBe('default-model');
    expect(req!.body.messages).toEqual(messages);
    expect(req!.headers.authorization).toBe('Bearer test-key');
    expect(req!.aborted).toBe(false);
  });

  it('sends every model setting in the request body', async () => {
    const settings = {
      model: 'vendor/model-x',
      temperature: 0.7,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      frequency_penalty: 0.5,
      presence_penalty: -0.25,
    };
    llm.enqueue({ text: 'ok' });
    const { error } = await drain(engine({ maxTokens: 123 }).stream({ messages, settings, signal: new AbortController().signal }));
    expect(error).toBeUndefined();

    const [req] = await llm.waitForRequests(1);
    expect(req!.body).toMatchObject(settings);
    expect(req!.body.max_tokens).toBe(123);
    expect(req!.body.stream).toBe(true);
  });

  it('uses the default model and leaves out settings that are not set', async () => {
    llm.enqueue({ text: 'ok' });
    await drain(engine().stream({ messages, settings: { temperature: 0 }, signal: new AbortController().signal }));
    const [req] = await llm.waitForRequests(1);
    expect(req!.body.model).toBe('default-model');
    expect(req!.body.temperature).toBe(0);
    for (const k of ['top_p', 'top_k', 'min_p', 'repetition_penalty', 'frequency_penalty', 'presence_penalty', 'max_tokens']) {
      expect(req!.body, k).not.toHaveProperty(k);
    }
  });

  it('classifies 401 as llm_auth and does not retry it', async () => {
    llm.enqueue({ status: 401, errorMessage: 'bad key' }, { text: 'must not be reached' });
    const retries: number[] = [];
    const { deltas, error } = await drain(
      streamWithRetry(engine(), { messages, settings: {}, signal: new AbortController().signal }, fastRetry, (_e, n) => retries.push(n)),
    );
    const e = expectLlmError(error, 'llm_auth', false);
    expect(e.status).toBe(401);
    expect(e.message).toContain('bad key');
    expect(deltas).toEqual([]);
    expect(retries).toEqual([]);
    expect(llm.requests).toHaveLength(1);
  });

  it('classifies 403 as llm_auth', async () => {
    llm.enqueue({ status: 403 });
    const { error } = await drain(engine().stream({ messages, settings: {}, signal: new AbortController().signal }));
    expectLlmError(error, 'llm_auth', false);
  });

  it('retries a 500 once and then streams the reply', async () => {
    llm.enqueue({ status: 500, errorMessage: 'upstream broke' }, { chunks: ['Second ', 'time.'] });
    const retries: Array<{ code: string; attempt: number }> = [];
    const { deltas, error } = await drain(
      streamWithRetry(engine(), { messages, settings: {}, signal: new AbortController().signal }, fastRetry, (e, attempt) =>
        retries.push({ code: e.code, attempt }),
      ),
    );
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe('Second time.');
    expect(retries).toEqual([{ code: 'llm_unavailable', attempt: 1 }]);
    expect(llm.requests).toHaveLength(2);
  });

  it('gives up after the configured retries with the last error', async () => {
    llm.enqueue({ status: 503 }, { status: 502 }, { status: 500 }, { text: 'too late' });
    const { error } = await drain(streamWithRetry(engine(), { messages, settings: {}, signal: new AbortController().signal }, fastRetry));
    const e = expectLlmError(error, 'llm_unavailable', true);
    expect(e.status).toBe(500);
    expect(llm.requests).toHaveLength(3);
  });

  it('classifies 429 as llm_rate_limited (retryable)', async () => {
    llm.enqueue({ status: 429, errorMessage: 'slow down' });
    const { error } = await drain(engine().stream({ messages, settings: {}, signal: new AbortController().signal }));
    const e = expectLlmError(error, 'llm_rate_limited', true);
    expect(e.status).toBe(429);
  });

  it('classifies other 4xx as llm_bad_request, not retried', async () => {
    llm.enqueue({ status: 400, errorMessage: 'unknown model' }, { text: 'must not be reached' });
    const { error } = await drain(streamWithRetry(engine(), { messages, settings: {}, signal: new AbortController().signal }, fastRetry));
    expectLlmError(error, 'llm_bad_request', false);
    expect(llm.requests).toHaveLength(1);
  });

  it('classifies a refused connection as llm_unreachable', async () => {
    const { error } = await drain(engine({ baseUrl: await unusedUrl() }).stream({ messages, settings: {}, signal: new AbortController().signal }));
    expectLlmError(error, 'llm_unreachable', true);
  });

  it('times out as llm_timeout when no first token arrives', async () => {
    llm.enqueue({ text: 'never sent', hangAfterChunks: 0 });
    const { deltas, error } = await drain(
      engine({ firstTokenTimeoutMs: 300 }).stream({ messages, settings: {}, signal: new AbortController().signal }),
    );
    expectLlmError(error, 'llm_timeout', true);
    expect(deltas).toEqual([]);
    // The hung request was abandoned (its connection closed).
    await waitUntil(() => llm.requests[0]?.aborted === true, { timeoutMs: 10_000 });
  });

  it('times out as llm_timeout when the stream stalls between tokens', async () => {
    llm.enqueue({ chunks: ['one ', 'two ', 'three'], hangAfterChunks: 2 });
    const { deltas, error } = await drain(
      engine({ idleTimeoutMs: 1_000 }).stream({ messages, settings: {}, signal: new AbortController().signal }),
    );
    expectLlmError(error, 'llm_timeout');
    expect(deltas).toEqual(['one ', 'two ']);
  });

  it('throws after the deltas when the stream breaks, and does not retry once tokens were sent', async () => {
    llm.enqueue({ chunks: ['a ', 'b ', 'c ', 'd'], dropAfterChunks: 2 }, { text: 'must not be reached' });
    const retries: number[] = [];
    const { deltas, error } = await drain(
      streamWithRetry(engine(), { messages, settings: {}, signal: new AbortController().signal }, fastRetry, (_e, n) => retries.push(n)),
    );
    expect(deltas).toEqual(['a ', 'b ']);
    // A retryable failure in itself: only the tokens already sent keep it from being retried.
    expectLlmError(error, 'llm_stream_failed', true);
    expect(retries).toEqual([]);
    expect(llm.requests).toHaveLength(1);
  });

  it('makes the iteration throw when the signal is aborted mid-stream, and closes the request', async () => {
    llm.enqueue({ chunks: ['first ', 'second ', 'third'], hangAfterChunks: 1 });
    const ctl = new AbortController();
    const deltas: string[] = [];
    let error: unknown;
    let ended = false;
    try {
      for await (const d of streamWithRetry(engine(), { messages, settings: {}, signal: ctl.signal }, fastRetry)) {
        deltas.push(d);
        ctl.abort(new Error('user interrupted'));
      }
      ended = true;
    } catch (err) {
      error = err;
    }
    expect(ended).toBe(false);
    expect(deltas).toEqual(['first ']);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(LlmError);
    await waitUntil(() => llm.requests[0]?.aborted === true, { timeoutMs: 10_000, message: 'the server never saw the request closed' });
    expect(llm.requests).toHaveLength(1);
  });

  it('refuses a keyed host without an API key as llm_not_configured, without any network call', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const retries: number[] = [];
    const e = createOpenAiEngine({
      baseUrl: 'https://openrouter.ai/api/v1',
      model: 'openai/gpt-4o-mini',
      firstTokenTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
    });
    const { deltas, error } = await drain(
      streamWithRetry(e, { messages, settings: {}, signal: new AbortController().signal }, fastRetry, (_err, n) => retries.push(n)),
    );
    const err = expectLlmError(error, 'llm_not_configured', false);
    expect(err.message).toContain('https://openrouter.ai/api/v1');
    expect(deltas).toEqual([]);
    expect(retries).toEqual([]);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('needs no key for a local endpoint', async () => {
    llm.enqueue({ text: 'local ok' });
    const { deltas, error } = await drain(engine({ apiKey: undefined }).stream({ messages, settings: {}, signal: new AbortController().signal }));
    expect(error).toBeUndefined();
    expect(deltas.join('')).toBe('local ok');
  });
});

describe('interrupt during a retry backoff', () => {
  it('ends the reply without sending another request', async () => {
    llm.enqueue({ status: 500, errorMessage: 'down' }, { chunks: ['should ', 'not ', 'stream'] });
    const controller = new AbortController();
    const result = await drain(
      streamWithRetry(engine(), { messages, settings: {}, signal: controller.signal }, { retries: 2, baseDelayMs: 2000 }, () =>
        setTimeout(() => controller.abort(new Error('interrupted')), 100),
      ),
    );
    expect(result.deltas).toEqual([]);
    expect(result.error).toBeDefined();
    expect(llm.requests).toHaveLength(1);
  });

  it('does not wait out the backoff or send a request when the abort comes from the retry callback itself', async () => {
    llm.enqueue({ status: 500, errorMessage: 'down' }, { chunks: ['nope'] });
    const controller = new AbortController();
    const result = await drain(
      streamWithRetry(engine(), { messages, settings: {}, signal: controller.signal }, { retries: 2, baseDelayMs: 60_000 }, () =>
        controller.abort(new Error('interrupted')),
      ),
    );
    expect(result.deltas).toEqual([]);
    expect(llm.requests).toHaveLength(1);
  });
});

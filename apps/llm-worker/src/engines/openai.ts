import OpenAI from 'openai';
import type { ChatRequest, LlmEngine, LlmEngineOptions } from './engine.js';
import { LlmError } from './engine.js';
import { createNodeFetch } from './node-fetch.js';

/** Hosts that always need a key; local servers (Ollama, vLLM, llama.cpp) usually take none. */
const KEYED_HOSTS = ['openrouter.ai', 'api.openai.com'];

/** Any OpenAI-compatible chat completions endpoint (OpenRouter, OpenAI, Ollama, vLLM, llama.cpp, LM Studio). */
export function createOpenAiEngine(o: LlmEngineOptions): LlmEngine {
  const host = safeHost(o.baseUrl);
  const needsKey = KEYED_HOSTS.some((h) => host === h || host.endsWith(`.${h}`));
  const client = new OpenAI({
    baseURL: o.baseUrl,
    apiKey: o.apiKey || 'not-needed',
    maxRetries: 0, // retries are ours: only while no token has been sent
    timeout: o.firstTokenTimeoutMs,
    fetch: createNodeFetch(),
  });
  return {
    name: 'openai',
    async *stream({ messages, settings, signal }: ChatRequest) {
      signal.throwIfAborted();
      if (needsKey && !o.apiKey) {
        throw new LlmError(
          'llm_not_configured',
          `No LLM API key is configured for ${o.baseUrl}. Set LLM_API_KEY (or OPENROUTER_API_KEY / OPENAI_API_KEY) in .env, ` +
            'or point LLM_BASE_URL at a local OpenAI-compatible server such as Ollama (http://127.0.0.1:11434/v1).',
          false,
        );
      }
      const { model, ...sampling } = settings;
      const body: Record<string, unknown> = { model: model ?? o.model, messages, stream: true };
      // top_k, min_p and repetition_penalty are not OpenAI fields; OpenRouter, vLLM and llama.cpp read them from the body.
      for (const [k, v] of Object.entries(sampling)) if (v !== undefined) body[k] = v;
      if (o.maxTokens) body.max_tokens = o.maxTokens;

      // Our own timer covers the time to the first token and the gaps between tokens.
      const ctl = new AbortController();
      const onAbort = () => ctl.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      let timedOut = false;
      let timer = setTimeout(() => ((timedOut = true), ctl.abort()), o.firstTokenTimeoutMs);
      try {
        const stream = await client.chat.completions.create(
          body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming,
          { signal: ctl.signal },
        );
        for await (const chunk of stream) {
          const delta = chunk.choices?.[0]?.delta?.content;
          if (!delta) continue;
          clearTimeout(timer);
          timer = setTimeout(() => ((timedOut = true), ctl.abort()), o.idleTimeoutMs);
          yield delta;
        }
        // openai@6 ends the loop quietly when aborted: a cut reply must not look complete.
        if (ctl.signal.aborted) throw signal.aborted ? signal.reason : new Error('aborted');
      } catch (err) {
        if (signal.aborted) throw err;
        throw classify(err, o.baseUrl, timedOut);
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

function classify(err: unknown, baseUrl: string, timedOut: boolean): LlmError {
  if (err instanceof LlmError) return err;
  if (timedOut || err instanceof OpenAI.APIConnectionTimeoutError) {
    return new LlmError('llm_timeout', `The LLM endpoint ${baseUrl} did not answer in time.`, true);
  }
  if (err instanceof OpenAI.APIError && err.status) {
    const detail = apiMessage(err);
    const s = err.status;
    if (s === 401 || s === 403)
      return new LlmError('llm_auth', `The LLM endpoint ${baseUrl} refused the API key (HTTP ${s}): ${detail}. Set a valid LLM_API_KEY.`, false, s);
    if (s === 429) return new LlmError('llm_rate_limited', `The LLM endpoint ${baseUrl} is rate limiting requests (HTTP 429): ${detail}.`, true, s);
    if (s >= 500) return new LlmError('llm_unavailable', `The LLM endpoint ${baseUrl} failed (HTTP ${s}): ${detail}.`, true, s);
    if (s === 408) return new LlmError('llm_timeout', `The LLM endpoint ${baseUrl} timed out (HTTP 408).`, true, s);
    return new LlmError('llm_bad_request', `The LLM endpoint ${baseUrl} refused the request (HTTP ${s}): ${detail}. Check LLM_MODEL and the model settings.`, false, s);
  }
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = String((err as { cause?: unknown }).cause ?? err.message);
    return new LlmError('llm_unreachable', `Could not connect to the LLM endpoint ${baseUrl} (${cause.replace(/^.*?: /, '')}). Is it running? Check LLM_BASE_URL.`, true);
  }
  // A stream that breaks mid-way surfaces as a plain error from the SSE reader.
  return new LlmError('llm_stream_failed', `The LLM stream from ${baseUrl} failed: ${String((err as Error)?.message ?? err)}`, true);
}

function apiMessage(err: InstanceType<typeof OpenAI.APIError>): string {
  const e = err.error as { message?: string } | undefined;
  return (e?.message ?? err.message ?? '').slice(0, 300) || 'no details';
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

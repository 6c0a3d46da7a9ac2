/**
 * STT through any OpenAI-compatible `POST /v1/audio/transcriptions` endpoint: OpenAI's hosted Whisper or a
 * local Whisper server (faster-whisper-server, whisper.cpp server, LocalAI, …). Each utterance is uploaded
 * as a 16-bit mono WAV; vocabulary (character names) goes into the `prompt`, which is how Whisper is biased
 * toward spellings it would not otherwise pick.
 */
import OpenAI, { toFile } from 'openai';
import { encodeWav } from '@chorus/audio';
import { apiMessage, describeCause } from '@chorus/runtime';
import { SttError, type SttEngine, type SttTranscribeOptions } from './engine.js';

export const DEFAULT_OPENAI_STT_MODEL = 'whisper-1';

export interface OpenAiSttEngineOptions {
  /** Base URL including `/v1`, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  /** Sent as the bearer token; local servers usually take none (then the dummy `none` is sent). */
  apiKey?: string;
  /** Default `whisper-1`. */
  model?: string;
  /** ISO-639-1 code (e.g. `en`); unset lets the server detect the language. */
  language?: string;
  /** Per attempt, until the response headers. Default 15000. */
  timeoutMs?: number;
  /** Client retries on connection errors, 408/409/429 and 5xx. Default 1. */
  maxRetries?: number;
  /** Rate of the PCM given to `transcribe` (the rate the engine asks for). Default 16000. */
  sampleRate?: number;
  /** Words every call should recognise (merged with the per-call `vocabulary`). */
  vocabulary?: string[];
}

/** Whisper rejects audio shorter than 0.1 s. */
const MIN_SECONDS = 0.1;
/** Whisper only uses the last ~224 tokens of a prompt; this keeps the request small and well inside that. */
const MAX_PROMPT_CHARS = 600;

/**
 * The Whisper prompt for a vocabulary: `Names: Alice, Bob.`; undefined when there is none. Duplicates
 * (ignoring case) are dropped; entries are kept in the given order until the prompt would get too long.
 */
export function vocabularyPrompt(words: readonly string[]): string | undefined {
  const seen = new Set<string>();
  const names: string[] = [];
  let length = 'Names: .'.length;
  for (const raw of words) {
    const w = raw.replace(/\s+/g, ' ').trim();
    const key = w.toLowerCase();
    if (!w || seen.has(key)) continue;
    if (length + w.length + 2 > MAX_PROMPT_CHARS) break;
    seen.add(key);
    names.push(w);
    length += w.length + 2;
  }
  return names.length > 0 ? `Names: ${names.join(', ')}.` : undefined;
}

export function createOpenAiSttEngine(options: OpenAiSttEngineOptions): SttEngine {
  const baseUrl = options.baseUrl?.trim();
  if (!baseUrl) throw new SttError('engine_unavailable', 'The openai STT engine needs a base URL (none configured).');
  const model = options.model?.trim() || DEFAULT_OPENAI_STT_MODEL;
  const language = options.language?.trim() || undefined;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const sampleRate = options.sampleRate ?? 16_000;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new SttError('engine_unavailable', `The openai STT engine needs a positive integer sample rate, not ${sampleRate}.`);
  }
  const engineVocabulary = options.vocabulary ?? [];
  const apiKey = options.apiKey || undefined;
  // An explicit key: the client would otherwise fall back to OPENAI_API_KEY and send it to a local server.
  const client = new OpenAI({ baseURL: baseUrl, apiKey: apiKey ?? 'none', timeout: timeoutMs, maxRetries: options.maxRetries ?? 1 });

  let closed = false;
  const active = new Set<AbortController>();
  const who = `The transcription endpoint ${baseUrl}`;
  const redact = (s: string) => (apiKey ? s.split(apiKey).join('***') : s);

  function classify(err: unknown): SttError {
    if (err instanceof SttError) return err;
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return new SttError('engine_failed', `${who} did not answer within ${timeoutMs} ms.`);
    }
    if (err instanceof OpenAI.APIError && err.status) {
      const s = err.status;
      const detail = redact(apiMessage(err));
      if (s === 401 || s === 403) {
        return new SttError('engine_unavailable', `${who} refused the API key (HTTP ${s}: ${detail}). Check the configured key.`);
      }
      return new SttError('engine_failed', `${who} failed (HTTP ${s}: ${detail}).`);
    }
    if (err instanceof OpenAI.APIConnectionError) {
      const cause = redact(describeCause((err as { cause?: unknown }).cause) ?? err.message);
      return new SttError('engine_unavailable', `${who} cannot be reached (${cause}). Is the server running?`);
    }
    return new SttError('engine_failed', `${who} failed: ${redact(describeCause(err) ?? String(err))}.`);
  }

  async function transcribe(pcm: Int16Array, opts: SttTranscribeOptions = {}): Promise<string> {
    const { signal } = opts;
    if (closed) throw new SttError('engine_failed', 'openai STT engine is closed');
    signal?.throwIfAborted();
    if (pcm.length < sampleRate * MIN_SECONDS) return '';

    const prompt = vocabularyPrompt(opts.vocabulary?.length ? [...engineVocabulary, ...opts.vocabulary] : engineVocabulary);
    // Our own controller, so that close() can cut in-flight requests too.
    const ctl = new AbortController();
    active.add(ctl);
    // Rejects as soon as the caller aborts, whatever the client is doing at that moment.
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        ctl.abort();
        reject(abortReason(signal!));
      };
    });
    aborted.catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const file = await toFile(encodeWav(pcm, sampleRate), 'speech.wav', { type: 'audio/wav' });
      signal?.throwIfAborted();
      if (closed) throw new SttError('engine_failed', 'openai STT engine was closed during transcription');
      const request = client.audio.transcriptions.create(
        {
          file,
          model,
          response_format: 'json',
          ...(language ? { language } : {}),
          ...(prompt ? { prompt } : {}),
        },
        { signal: ctl.signal },
      );
      request.catch(() => {}); // it may settle after the race below is over
      const result: unknown = await Promise.race([request, aborted]);
      // Some servers answer plain text even when asked for JSON; the client then hands back the string.
      const text = typeof result === 'string' ? result : (result as { text?: unknown } | null)?.text;
      if (typeof text !== 'string') throw new SttError('engine_failed', `${who} answered without a transcript text.`);
      return text.trim();
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      if (closed && !(err instanceof SttError)) {
        throw new SttError('engine_failed', 'openai STT engine was closed during transcription', { cause: err });
      }
      throw classify(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      active.delete(ctl);
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    for (const ctl of active) ctl.abort();
    active.clear();
  }

  return { name: 'openai', sampleRate, transcribe, close };
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}


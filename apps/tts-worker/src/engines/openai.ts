import OpenAI from 'openai';
import { numberIn, type NumberRange } from '@chorus/contracts';
import { apiMessage, describeCause } from '@chorus/runtime';
import { z } from 'zod';
import { TtsError, type EngineInfo, type SynthesisRequest, type TtsEngine, type TtsEngineKind, type TtsEngineOptions, type VoiceSpec } from './engine.js';

/** OpenAI's `pcm` response format is raw 24 kHz s16le mono; other servers may differ (params.sample_rate). */
const DEFAULT_SAMPLE_RATE = 24_000;

/** OpenAI's built-in voices (other servers, e.g. Kokoro-FastAPI, take their own names in `voice`). */
const OPENAI_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse'];

/** Bounds that validation and the description both read. */
const SPEED = { min: 0.25, max: 4 } as const satisfies NumberRange;
const SAMPLE_RATE = { min: 8_000, max: 192_000, integer: true } as const satisfies NumberRange;

const Params = z.object({
  voice: z.string().trim().min(1, 'must be a non-empty string (e.g. "alloy", "af_heart")'),
  model: z.string().trim().min(1).optional(),
  speed: numberIn(SPEED).optional(),
  instructions: z.string().optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  sample_rate: numberIn(SAMPLE_RATE).optional(),
});
type Params = z.infer<typeof Params>;

export interface OpenAiSpeechTuning {
  /**
   * Time allowed until the response headers (the client's own timeout) and, separately, between two
   * body reads (the client's timeout stops at the headers). Default 30 s.
   */
  timeoutMs?: number;
  /** Client retries on connection errors, 408/409/429 and 5xx; each costs first-byte latency. Default 1. */
  maxRetries?: number;
}

export const openaiSpeechEngine: TtsEngineKind = { create: createOpenAiSpeechEngine, describe: describeEngine };

/** Any OpenAI-compatible `/v1/audio/speech` endpoint (OpenAI, Kokoro-FastAPI, LocalAI, …), streamed as PCM. */
export function createOpenAiSpeechEngine(options: TtsEngineOptions, tuning: OpenAiSpeechTuning = {}): TtsEngine {
  const timeoutMs = tuning.timeoutMs ?? 30_000;
  const maxRetries = tuning.maxRetries ?? 1;
  const clients = new Map<string, OpenAI>();

  const clientFor = (baseURL: string): OpenAI => {
    let client = clients.get(baseURL);
    if (!client) {
      // Local servers take no key, but the client refuses to start without one.
      // The key goes only to the configured endpoint: anyone who can create a voice can set its base_url.
      const trusted = options.openaiBaseUrl !== undefined && sameOrigin(baseURL, options.openaiBaseUrl);
      const apiKey = (trusted && options.openaiApiKey) || 'none';
      client = new OpenAI({ baseURL, apiKey, timeout: timeoutMs, maxRetries });
      clients.set(baseURL, client);
    }
    return client;
  };

  return {
    name: 'openai',

    sampleRate(voice) {
      const rate = voice.params?.sample_rate;
      return typeof rate === 'number' && Number.isInteger(rate) && rate > 0 ? rate : DEFAULT_SAMPLE_RATE;
    },

    validate(voice) {
      parseParams(voice);
    },

    async *synthesize({ text, voice, signal }: SynthesisRequest): AsyncGenerator<Int16Array> {
      const p = parseParams(voice);
      const baseUrl = p.base_url ?? options.openaiBaseUrl;
      if (!baseUrl) {
        throw new TtsError(
          'engine_unavailable',
          `Voice ${label(voice)} uses the openai engine but TTS_OPENAI_BASE_URL is not set (nor a base_url in the voice's params).`,
        );
      }
      if (signal?.aborted) return;
      const model = p.model ?? options.openaiModel;
      const client = clientFor(baseUrl);

      // One controller for the caller's abort, our idle timer and an early `return()` by the consumer:
      // the client ties it to the fetch, so aborting it also errors the body stream and closes the socket.
      const ctl = new AbortController();
      const onAbort = () => ctl.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      let idleTimedOut = false;
      let timer: NodeJS.Timeout | undefined;
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      let done = false;
      try {
        const response = await client.audio.speech.create(
          {
            model,
            voice: p.voice,
            input: text,
            response_format: 'pcm',
            ...(p.speed !== undefined ? { speed: p.speed } : {}),
            ...(p.instructions ? { instructions: p.instructions } : {}),
          },
          { signal: ctl.signal },
        );
        if (!response.body) throw new TtsError('engine_failed', `Voice ${label(voice)}: the speech endpoint ${baseUrl} returned no audio.`);
        reader = response.body.getReader();
        let carry: number | undefined; // a sample's low byte whose high byte is in the next chunk
        for (;;) {
          timer = setTimeout(() => ((idleTimedOut = true), ctl.abort()), timeoutMs);
          const next = await reader.read();
          clearTimeout(timer);
          if (next.done) break;
          const { samples, rest } = toSamples(next.value, carry);
          carry = rest;
          if (samples.length > 0) yield samples;
        }
        done = true;
        // A trailing odd byte is half a sample: nothing playable, so it is dropped.
      } catch (err) {
        if (signal?.aborted) return; // interrupted: end quietly, whatever the client threw
        throw classify(err, voice, baseUrl, model, p, idleTimedOut);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!done) {
          // Consumer stopped early, we were aborted or failed: drop the HTTP request.
          ctl.abort();
          reader?.cancel().catch(() => {});
        }
      }
    },

    async close() {
      clients.clear();
    },
  };
}

async function describeEngine(options: TtsEngineOptions): Promise<EngineInfo> {
  const configured = Boolean(options.openaiBaseUrl);
  return {
    available: configured,
    ...(configured
      ? {}
      : { reason: "TTS_OPENAI_BASE_URL is not set: set it to an OpenAI-compatible /v1 endpoint, or give each voice a base_url param." }),
    voices: OPENAI_VOICES.map((id) => ({ id, name: id[0]!.toUpperCase() + id.slice(1) })),
    params: [
      { key: 'voice', type: 'string', description: "Voice name of the endpoint (OpenAI: alloy, nova…; Kokoro-FastAPI: af_heart…).", required: true },
      { key: 'model', type: 'string', description: 'Speech model.', default: options.openaiModel },
      { key: 'speed', type: 'number', description: 'Speaking rate: above 1 is faster.', default: 1, min: SPEED.min, max: SPEED.max },
      { key: 'instructions', type: 'string', description: 'How to speak (models that take instructions, e.g. gpt-4o-mini-tts).' },
      { key: 'base_url', type: 'string', description: 'Another OpenAI-compatible /v1 endpoint for this voice (the API key goes only to TTS_OPENAI_BASE_URL).' },
      { key: 'sample_rate', type: 'number', description: "Rate of the endpoint's PCM (Hz).", default: DEFAULT_SAMPLE_RATE, min: SAMPLE_RATE.min, max: SAMPLE_RATE.max },
    ],
  };
}

function parseParams(voice: VoiceSpec): Params {
  const r = Params.safeParse(voice.params ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ');
  throw new TtsError('voice_invalid', `Voice ${label(voice)} has invalid openai engine params: ${problems}.`);
}

function label(voice: VoiceSpec): string {
  return voice.name && voice.name !== voice.id ? `"${voice.name}" (${voice.id})` : `"${voice.id}"`;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** s16le bytes → samples; an odd byte count leaves one byte over for the next chunk. */
function toSamples(chunk: Uint8Array, carry: number | undefined): { samples: Int16Array; rest: number | undefined } {
  let bytes = chunk;
  if (carry !== undefined) {
    bytes = new Uint8Array(chunk.length + 1);
    bytes[0] = carry;
    bytes.set(chunk, 1);
  }
  const n = bytes.length >> 1;
  const samples = new Int16Array(n);
  if (LITTLE_ENDIAN) {
    // Copy rather than view: the chunk's byteOffset may be odd, and the caller may keep the array.
    new Uint8Array(samples.buffer).set(bytes.subarray(0, n * 2));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) samples[i] = view.getInt16(i * 2, true);
  }
  return { samples, rest: bytes.length & 1 ? bytes[bytes.length - 1] : undefined };
}

function classify(err: unknown, voice: VoiceSpec, baseUrl: string, model: string, p: Params, idleTimedOut: boolean): TtsError {
  if (err instanceof TtsError) return err;
  const who = `Voice ${label(voice)}: the speech endpoint ${baseUrl}`;
  if (idleTimedOut) return new TtsError('engine_failed', `${who} stopped sending audio (nothing for a while); the stream was cut.`);
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new TtsError('engine_failed', `${who} did not answer in time.`);
  }
  if (err instanceof OpenAI.APIError && err.status) {
    const s = err.status;
    const detail = apiMessage(err);
    if (s === 401 || s === 403)
      return new TtsError('engine_failed', `${who} rejected the API key (HTTP ${s}: ${detail}). Set TTS_OPENAI_API_KEY to a valid key.`);
    if (s === 404)
      return new TtsError(
        'engine_failed',
        `${who} does not know model "${model}" or voice "${p.voice}" (HTTP 404: ${detail}). Check the voice's model/voice params (or TTS_OPENAI_MODEL) and the base URL.`,
      );
    if (s === 429) return new TtsError('engine_failed', `${who} is rate limiting requests (HTTP 429: ${detail}).`);
    if (s >= 500) return new TtsError('engine_failed', `${who} failed (HTTP ${s}: ${detail}).`);
    return new TtsError(
      'engine_failed',
      `${who} refused the request (HTTP ${s}: ${detail}). Check the voice's params (model "${model}", voice "${p.voice}", speed, instructions).`,
    );
  }
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = describeCause((err as { cause?: unknown }).cause) ?? err.message;
    return new TtsError('engine_unavailable', `${who} cannot be reached (${cause}). Is the server running? Check TTS_OPENAI_BASE_URL / base_url.`);
  }
  // After the headers, a broken body surfaces as a plain error from the stream reader.
  return new TtsError('engine_failed', `${who} broke off the audio stream: ${describeCause(err) ?? String(err)}.`);
}


function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

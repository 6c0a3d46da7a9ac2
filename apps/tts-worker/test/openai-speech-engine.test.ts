import {
  scriptedSpeechPcm,
  scriptedSpeechSampleCount,
  startScriptedSpeech,
  unusedUrl,
  type ScriptedSpeech,
  collectPcm,
  concatPcm,
} from '@chorus/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TtsError, type TtsEngine, type TtsEngineOptions, type VoiceSpec } from '../src/engines/engine.js';
import { createOpenAiSpeechEngine, type OpenAiSpeechTuning } from '../src/engines/openai.js';

let speech: ScriptedSpeech;
let engines: TtsEngine[] = [];

beforeEach(async () => {
  speech = await startScriptedSpeech();
});

afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await speech.close();
});

function engine(o: Partial<TtsEngineOptions> = {}, tuning: OpenAiSpeechTuning = {}): TtsEngine {
  const e = createOpenAiSpeechEngine(
    { threads: 1, onnxProviders: ['cpu'], openaiBaseUrl: speech.url, openaiApiKey: 'test-key', openaiModel: 'tts-1', ...o },
    tuning,
  );
  engines.push(e);
  return e;
}

function voice(params: Record<string, unknown> = { voice: 'alloy' }): VoiceSpec {
  return { id: 'v1', name: 'Ada', engine: 'openai', params };
}

const collect = collectPcm;
const concat = concatPcm;

async function failure(p: Promise<unknown>): Promise<TtsError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TtsError);
  return err as TtsError;
}

describe('openai speech engine', () => {
  it('streams the PCM the server sends, sample for sample, across odd chunk boundaries', async () => {
    const text = 'Hello there, how are you today?';
    const chunks = await collect(engine().synthesize({ text, voice: voice() }));

    // The scripted server cut the bytes into ~6 odd-sized chunks, so half samples were carried over.
    expect(chunks.length).toBeGreaterThan(1);
    const pcm = concat(chunks);
    expect(pcm.length).toBe(scriptedSpeechSampleCount(text));
    expect(pcm).toEqual(scriptedSpeechPcm(text));
    expect(Math.max(...pcm.map(Math.abs))).toBeGreaterThan(1000);
  });

  it('reassembles samples when every chunk is a single byte', async () => {
    speech.enqueue({ chunkBytes: [1, 2, 3], chunkDelayMs: 0 });
    const text = 'Hi';
    const pcm = concat(await collect(engine().synthesize({ text, voice: voice() })));
    expect(pcm).toEqual(scriptedSpeechPcm(text));
  });

  it('sends model, voice, input, speed, instructions, response_format pcm and the bearer key', async () => {
    const e = engine();
    const text = 'Speak slowly.';
    const v = voice({ voice: 'af_heart', model: 'kokoro', speed: 0.5, instructions: 'calm' });
    const pcm = concat(await collect(e.synthesize({ text, voice: v })));
    expect(pcm.length).toBe(scriptedSpeechSampleCount(text, 0.5));

    const [req] = speech.requests;
    expect(req.body).toEqual({
      model: 'kokoro',
      voice: 'af_heart',
      input: text,
      speed: 0.5,
      instructions: 'calm',
      response_format: 'pcm',
    });
    expect(req.headers.authorization).toBe('Bearer test-key');

    // Defaults: the engine's model, no speed or instructions fields.
    await collect(e.synthesize({ text, voice: voice() }));
    expect(speech.requests[1].body).toEqual({ model: 'tts-1', voice: 'alloy', input: text, response_format: 'pcm' });
  });

  it('sends a placeholder key when none is configured (local servers)', async () => {
    await collect(engine({ openaiApiKey: undefined }).synthesize({ text: 'Hi', voice: voice() }));
    expect(speech.requests[0].headers.authorization).toBe('Bearer none');
  });

  it('uses a per-voice base_url over the engine default, without sending it the configured API key', async () => {
    const other = await startScriptedSpeech();
    try {
      await collect(engine().synthesize({ text: 'Hi', voice: voice({ voice: 'alloy', base_url: other.url }) }));
      expect(other.requests).toHaveLength(1);
      expect(speech.requests).toHaveLength(0);
      expect(other.requests[0]!.headers.authorization).toBe('Bearer none');
    } finally {
      await other.close();
    }
  });

  it('yields the first chunk before the server has finished sending', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    speech.enqueue({ beforeChunk: (i) => (i === 1 ? released : undefined) });

    const it = engine().synthesize({ text: 'A sentence long enough for several chunks.', voice: voice() })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(first.value.length).toBeGreaterThan(0);
    // The server is still parked before chunk 2: the engine did not wait for the whole body.
    expect(speech.requests[0].chunksSent).toBe(1);
    expect(speech.requests[0].finished).toBe(false);

    release();
    const rest: Int16Array[] = [first.value];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(concat(rest).length).toBe(scriptedSpeechSampleCount('A sentence long enough for several chunks.'));
    expect(speech.requests[0].finished).toBe(true);
  });

  it('reports a rejected key as engine_failed, naming TTS_OPENAI_API_KEY', async () => {
    speech.enqueue({
      status: 401,
      body: { error: { message: 'Incorrect API key provided: sk-bad', type: 'invalid_request_error', code: 'invalid_api_key' } },
    });
    const err = await failure(collect(engine().synthesize({ text: 'Hi', voice: voice() })));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/rejected the API key/);
    expect(err.message).toMatch(/TTS_OPENAI_API_KEY/);
    expect(err.message).toMatch(/Incorrect API key provided/);
    expect(err.message).toMatch(/"Ada"/);
    expect(speech.requests).toHaveLength(1); // auth errors are not retried
  });

  it('reports an unknown model or voice (404) readably', async () => {
    speech.enqueue({ status: 404, errorMessage: 'Voice nope not found' });
    const err = await failure(collect(engine().synthesize({ text: 'Hi', voice: voice({ voice: 'nope' }) })));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/does not know model "tts-1" or voice "nope"/);
    expect(err.message).toMatch(/Voice nope not found/);
  });

  it('retries a 500 once, then reports the server failure', async () => {
    speech.enqueue(
      { status: 500, errorMessage: 'model crashed', headers: { 'retry-after-ms': '0' } },
      { status: 500, errorMessage: 'model crashed again', headers: { 'retry-after-ms': '0' } },
    );
    const err = await failure(collect(engine().synthesize({ text: 'Hi', voice: voice() })));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/failed \(HTTP 500: model crashed again\)/);
    expect(speech.requests).toHaveLength(2);
  });

  it('reports a refused connection as engine_unavailable with the reason', async () => {
    const url = await unusedUrl();
    const err = await failure(collect(engine({ openaiBaseUrl: url }, { maxRetries: 0 }).synthesize({ text: 'Hi', voice: voice() })));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).toMatch(/Is the server running\?/);
  });

  it('reports a server that never answers as a timeout', async () => {
    speech.enqueue({ hang: true });
    const err = await failure(collect(engine({}, { timeoutMs: 300, maxRetries: 0 }).synthesize({ text: 'Hi', voice: voice() })));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/did not answer in time/);
  });

  it('cuts a stream that stalls mid-way', async () => {
    speech.enqueue({ hangAfterChunks: 1 });
    const chunks: Int16Array[] = [];
    const err = await failure(
      (async () => {
        for await (const c of engine({}, { timeoutMs: 300 }).synthesize({ text: 'Hello there', voice: voice() })) chunks.push(c);
      })(),
    );
    expect(chunks.length).toBeGreaterThan(0); // chunk 1 (TCP may deliver it in pieces)
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/stopped sending audio/);
    await speech.requests[0].closed;
  });

  it('reports a stream broken off by the server', async () => {
    speech.enqueue({ dropAfterChunks: 2 });
    const err = await failure(collect(engine().synthesize({ text: 'Hello there', voice: voice() })));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/broke off the audio stream/);
  });

  it('reports a missing base URL as engine_unavailable', async () => {
    const e = engine({ openaiBaseUrl: undefined });
    expect(() => e.validate(voice())).not.toThrow();
    const err = await failure(collect(e.synthesize({ text: 'Hi', voice: voice() })));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toMatch(/Voice "Ada" \(v1\) uses the openai engine but TTS_OPENAI_BASE_URL is not set/);
    expect(speech.requests).toHaveLength(0);
  });

  it('rejects bad params as voice_invalid, naming the voice', async () => {
    const e = engine();
    const bad: Record<string, unknown>[] = [
      {},
      { voice: '' },
      { voice: 42 },
      { voice: 'alloy', speed: 9 },
      { voice: 'alloy', speed: '1.2' },
      { voice: 'alloy', model: 7 },
      { voice: 'alloy', instructions: false },
      { voice: 'alloy', base_url: 'not a url' },
      { voice: 'alloy', sample_rate: 22050.5 },
    ];
    for (const params of bad) {
      let thrown: unknown;
      try {
        e.validate(voice(params));
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(params)).toBeInstanceOf(TtsError);
      expect((thrown as TtsError).code).toBe('voice_invalid');
      expect((thrown as TtsError).message).toMatch(/Voice "Ada" \(v1\)/);
    }
    const err = await failure(collect(e.synthesize({ text: 'Hi', voice: voice({ voice: 'alloy', speed: 0 }) })));
    expect(err.code).toBe('voice_invalid');
    expect(err.message).toMatch(/speed/);
    expect(speech.requests).toHaveLength(0);

    expect(() => e.validate(voice({ voice: 'alloy', model: 'gpt-4o-mini-tts', speed: 1.25, instructions: 'warm', base_url: speech.url, sample_rate: 22050 }))).not.toThrow();
  });

  it('announces 24 kHz unless the voice sets sample_rate', () => {
    const e = engine();
    expect(e.sampleRate(voice())).toBe(24_000);
    expect(e.sampleRate(voice({ voice: 'af_heart', sample_rate: 22_050 }))).toBe(22_050);
  });

  it('ends quietly when aborted mid-stream, closing the connection', async () => {
    speech.enqueue({ hangAfterChunks: 1 });
    const ctl = new AbortController();
    const chunks: Int16Array[] = [];
    // The server hangs after one chunk: the loop only ends because the abort ends it.
    for await (const c of engine().synthesize({ text: 'Hello there', voice: voice(), signal: ctl.signal })) {
      chunks.push(c);
      setTimeout(() => ctl.abort(), 20);
    }
    expect(chunks.length).toBeGreaterThan(0);
    await speech.requests[0].closed;
    expect(speech.requests[0].aborted).toBe(true);
  });

  it('closes the connection when the consumer stops reading early', async () => {
    speech.enqueue({ chunkDelayMs: 50 });
    for await (const c of engine().synthesize({ text: 'Hello there, how are you?', voice: voice() })) {
      expect(c.length).toBeGreaterThan(0);
      break;
    }
    await speech.requests[0].closed;
    expect(speech.requests[0].aborted).toBe(true);
    expect(speech.requests[0].finished).toBe(false);
  });

  it('does not send a request when already aborted', async () => {
    const ctl = new AbortController();
    ctl.abort();
    expect(await collect(engine().synthesize({ text: 'Hi', voice: voice(), signal: ctl.signal }))).toEqual([]);
    expect(speech.requests).toHaveLength(0);
  });
});

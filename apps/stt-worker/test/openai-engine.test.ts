import { startScriptedTranscription, unusedUrl, type ScriptedTranscription } from '@chorus/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SttError, type SttEngine } from '../src/engines/engine.js';
import { createOpenAiSttEngine, vocabularyPrompt, type OpenAiSttEngineOptions } from '../src/engines/openai.js';

const KEY = 'sk-test-secret-key-123';

let stt: ScriptedTranscription;
let engines: SttEngine[] = [];

beforeEach(async () => {
  stt = await startScriptedTranscription();
});

afterEach(async () => {
  await Promise.all(engines.map((e) => e.close()));
  engines = [];
  await stt.close();
});

function engine(o: Partial<OpenAiSttEngineOptions> = {}): SttEngine {
  const e = createOpenAiSttEngine({ baseUrl: stt.url, apiKey: KEY, ...o });
  engines.push(e);
  return e;
}

/** A 440 Hz tone: stands in for speech (the scripted server does not listen to it). */
function tone(seconds: number, rate = 16_000): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return out;
}

async function failure(p: Promise<unknown>): Promise<SttError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SttError);
  return err as SttError;
}

describe('openai stt engine', () => {
  it('is named openai and asks for 16 kHz PCM by default', () => {
    const e = engine();
    expect(e.name).toBe('openai');
    expect(e.sampleRate).toBe(16_000);
  });

  it('returns the transcript the server sends, trimmed', async () => {
    stt.enqueue('  Hello there, Alice.  ');
    expect(await engine().transcribe(tone(0.5))).toBe('Hello there, Alice.');
  });

  it('returns an empty string when the server recognised nothing', async () => {
    stt.enqueue('   ');
    expect(await engine().transcribe(tone(0.5))).toBe('');
  });

  it('uploads the PCM as a mono 16-bit WAV at the engine rate, with model, language and json format', async () => {
    const pcm = tone(0.7);
    await engine({ model: 'large-v3', language: 'en' }).transcribe(pcm);

    const [req] = stt.requests;
    expect(req.wavError).toBeUndefined();
    expect(req.file?.type).toBe('audio/wav');
    expect(req.file?.name).toBe('speech.wav');
    expect(req.sampleRate).toBe(16_000);
    expect(req.channels).toBe(1);
    expect(req.sampleCount).toBe(pcm.length);
    expect(req.pcm).toEqual(pcm);
    expect(req.model).toBe('large-v3');
    expect(req.language).toBe('en');
    expect(req.responseFormat).toBe('json');
  });

  it('uses whisper-1, no language and no prompt when none are configured', async () => {
    await engine().transcribe(tone(0.3));
    const [req] = stt.requests;
    expect(req.model).toBe('whisper-1');
    expect(req.language).toBeUndefined();
    expect(req.prompt).toBeUndefined();
  });

  it('labels the WAV with a configured sample rate', async () => {
    const e = engine({ sampleRate: 24_000 });
    expect(e.sampleRate).toBe(24_000);
    const pcm = tone(0.3, 24_000);
    await e.transcribe(pcm);
    expect(stt.requests[0].sampleRate).toBe(24_000);
    expect(stt.requests[0].sampleCount).toBe(pcm.length);
  });

  it('puts the engine and per-call vocabulary into the prompt', async () => {
    await engine({ vocabulary: ['Zorblax', 'Captain Mira'] }).transcribe(tone(0.5), { vocabulary: ['Quillon', 'zorblax'] });
    const { prompt } = stt.requests[0];
    expect(prompt).toBe('Names: Zorblax, Captain Mira, Quillon.');
  });

  it('builds a bounded, de-duplicated names prompt', () => {
    expect(vocabularyPrompt([])).toBeUndefined();
    expect(vocabularyPrompt([' ', ''])).toBeUndefined();
    expect(vocabularyPrompt(['Alice', ' Bob ', 'alice'])).toBe('Names: Alice, Bob.');
    const many = Array.from({ length: 500 }, (_, i) => `Name${i}`);
    const long = vocabularyPrompt(many)!;
    expect(long.length).toBeLessThanOrEqual(600);
    expect(long).toMatch(/^Names: Name0, Name1, .*\.$/);
  });

  it('sends the API key as a bearer token', async () => {
    await engine().transcribe(tone(0.3));
    expect(stt.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('sends a dummy key when none is configured, never OPENAI_API_KEY from the environment', async () => {
    const saved = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-from-environment';
    try {
      await engine({ apiKey: undefined }).transcribe(tone(0.3));
    } finally {
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
    }
    expect(stt.requests[0].headers.authorization).toBe('Bearer none');
  });

  it('accepts a server that answers plain text to a json request', async () => {
    stt.enqueue({ body: ' plain words \n' });
    expect(await engine().transcribe(tone(0.3))).toBe('plain words');
  });

  it('reports a refused key (401) as engine_unavailable without revealing the key', async () => {
    stt.enqueue({ status: 401, errorMessage: `Incorrect API key provided: ${KEY}` });
    const err = await failure(engine().transcribe(tone(0.3)));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toMatch(/refused the API key \(HTTP 401/);
    expect(err.message).toContain(stt.url);
    expect(err.message).not.toContain(KEY);
  });

  it('reports a forbidden key (403) as engine_unavailable', async () => {
    stt.enqueue({ status: 403, errorMessage: 'no access to this model' });
    const err = await failure(engine().transcribe(tone(0.3)));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toMatch(/HTTP 403: no access to this model/);
  });

  it('reports a server error as engine_failed with the status and message, after its retry', async () => {
    stt.enqueue(
      { status: 500, errorMessage: 'model crashed', headers: { 'retry-after-ms': '0' } },
      { status: 500, errorMessage: 'model crashed again', headers: { 'retry-after-ms': '0' } },
    );
    const err = await failure(engine().transcribe(tone(0.3)));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/HTTP 500: model crashed again/);
    expect(stt.requests).toHaveLength(2);
  });

  it('reports other refusals (400) as engine_failed', async () => {
    stt.enqueue({ status: 400, errorMessage: 'audio too short' });
    const err = await failure(engine().transcribe(tone(0.3)));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/HTTP 400: audio too short/);
  });

  it('reports a server that is not listening as engine_unavailable, naming the URL', async () => {
    const url = await unusedUrl();
    const err = await failure(engine({ baseUrl: url, maxRetries: 0 }).transcribe(tone(0.3)));
    expect(err.code).toBe('engine_unavailable');
    expect(err.message).toContain(url);
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).not.toContain(KEY);
  });

  it('reports a server that never answers as engine_failed', async () => {
    stt.enqueue({ hang: true });
    const err = await failure(engine({ timeoutMs: 300, maxRetries: 0 }).transcribe(tone(0.3)));
    expect(err.code).toBe('engine_failed');
    expect(err.message).toMatch(/did not answer within 300 ms/);
  });

  it('rejects with the abort reason when aborted mid-request, and drops the connection', async () => {
    stt.enqueue({ hang: true });
    const ctl = new AbortController();
    const reason = new Error('barge-in');
    const p = engine().transcribe(tone(0.5), { signal: ctl.signal });
    await stt.waitForRequests(1);
    ctl.abort(reason);
    await expect(p).rejects.toBe(reason);
    await stt.requests[0].closed;
    expect(stt.requests[0].aborted).toBe(true);
  });

  it('rejects with an AbortError when aborted without a reason during a slow reply', async () => {
    stt.enqueue({ delayMs: 60_000, text: 'too late' });
    const ctl = new AbortController();
    const p = engine().transcribe(tone(0.5), { signal: ctl.signal });
    await stt.waitForRequests(1);
    ctl.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('sends no request when already aborted', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('gone'));
    await expect(engine().transcribe(tone(0.5), { signal: ctl.signal })).rejects.toThrow('gone');
    expect(stt.requests).toHaveLength(0);
  });

  it('returns an empty string for audio shorter than 0.1 s without a request', async () => {
    expect(await engine().transcribe(tone(0.05))).toBe('');
    expect(await engine().transcribe(new Int16Array(0))).toBe('');
    expect(stt.requests).toHaveLength(0);
  });

  it('fails with engine_failed after close, and close is idempotent', async () => {
    const e = engine();
    await e.close();
    await e.close();
    const err = await failure(e.transcribe(tone(0.5)));
    expect(err.code).toBe('engine_failed');
    expect(stt.requests).toHaveLength(0);
  });

  it('cuts an in-flight request on close with engine_failed', async () => {
    stt.enqueue({ hang: true });
    const e = engine();
    const p = e.transcribe(tone(0.5));
    await stt.waitForRequests(1);
    await e.close();
    const err = await failure(p);
    expect(err.code).toBe('engine_failed');
    await stt.requests[0].closed;
    expect(stt.requests[0].aborted).toBe(true);
  });

  it('refuses to start without a base URL', () => {
    expect(() => createOpenAiSttEngine({ baseUrl: '' })).toThrow(SttError);
  });
});

import { boolEnv, commonEnv, intEnv, loadConfig } from '@chorus/runtime';
import { z } from 'zod';

/** tts-worker settings from the environment; every default is documented in README's config table. */
export const ttsWorkerEnv = {
  ...commonEnv,
  /** Messages one worker speaks at once (many conversations in parallel). */
  TTS_CONCURRENCY: intEnv(16, 1, 1000),
  /** Worker threads for CPU-bound engines (flite, onnx). */
  TTS_THREADS: intEnv(1, 1, 64),
  /** Output rate of every message (Hz); 0 = the voice engine's own rate (flite 16000, onnx/openai 24000). */
  TTS_SAMPLE_RATE: intEnv(0, 0, 192_000),
  /** Longest audio chunk written (ms); the first chunk of a sentence is TTS_FIRST_CHUNK_MS. */
  TTS_CHUNK_MS: intEnv(200, 10, 2000),
  TTS_FIRST_CHUNK_MS: intEnv(40, 10, 2000),
  /** Seconds a message's audio stream stays readable after its last chunk. */
  AUDIO_TTL_SEC: intEnv(900, 10, 86_400),
  /** A message whose sentences stop coming for this long is ended (ms). */
  TTS_SENTENCE_WAIT_MS: intEnv(120_000, 1000),
  /** A message whose worker stops heartbeating for this long is taken over by another worker (ms). */
  TTS_CLAIM_IDLE_MS: intEnv(3000, 200),
  /** Default for characters that do not choose: skip `*smiles*`-style stage directions (true) or speak them. */
  TTS_SKIP_STAGE_DIRECTIONS: boolEnv(true),
  /** onnx engine: Kokoro-style model file and voices directory (`<name>.bin` style vectors). */
  ONNX_TTS_MODEL: z.string().optional(),
  ONNX_TTS_VOICES_DIR: z.string().optional(),
  /** onnx engine: execution providers in order of preference; CPU is always the fallback. */
  ONNX_TTS_PROVIDERS: z
    .string()
    .default('cuda,cpu')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
  /** openai engine: any OpenAI-compatible /v1/audio/speech endpoint (Kokoro-FastAPI, OpenAI, LocalAI…). */
  TTS_OPENAI_BASE_URL: z.string().url().optional(),
  TTS_OPENAI_API_KEY: z.string().optional(),
  TTS_OPENAI_MODEL: z.string().min(1).default('tts-1'),
  /** Optional port for Prometheus /metrics of this worker. */
  METRICS_PORT: intEnv(0, 0, 65535),
};

export type TtsWorkerConfig = ReturnType<typeof loadTtsWorkerConfig>;

export function loadTtsWorkerConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(ttsWorkerEnv, env);
}

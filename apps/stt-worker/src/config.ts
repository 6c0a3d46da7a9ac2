import { commonEnv, intEnv, loadConfig } from '@chorus/runtime';
import { z } from 'zod';

const probability = (def: number) =>
  z
    .string()
    .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a number from 0 to 1')
    .transform(Number)
    .default(def);

/** stt-worker settings from the environment; every default is documented in README's config table. */
export const sttWorkerEnv = {
  ...commonEnv,
  /** Speech-to-text engine: `pocketsphinx` (embedded, Debian packages) or `openai` (any /v1/audio/transcriptions). */
  STT_ENGINE: z.string().min(1).default('pocketsphinx'),
  /** Listening sessions one worker serves at once. */
  STT_CONCURRENCY: intEnv(32, 1, 10_000),
  /** A session whose worker stops heartbeating for this long moves to another worker (ms). */
  STT_CLAIM_IDLE_MS: intEnv(3000, 200),
  /** A session with no frame at all for this long (its edge is gone) is ended (ms). */
  STT_IDLE_MS: intEnv(30_000, 1000),
  /** Speech over a character's audio must last this long to interrupt it — shorter sounds are clicks and coughs (ms). */
  STT_BARGE_IN_MS: intEnv(300, 0, 10_000),
  /** Engines without incremental recognition re-transcribe the utterance this often for live partials (ms; 0 = off). */
  STT_PARTIAL_MS: intEnv(1000, 0, 60_000),
  /** Silero VAD: a frame is speech at or above this probability… */
  VAD_POSITIVE_THRESHOLD: probability(0.5),
  /** …and silence below this one. */
  VAD_NEGATIVE_THRESHOLD: probability(0.35),
  /** Speech shorter than this is ignored (ms). */
  VAD_MIN_SPEECH_MS: intEnv(250, 0, 10_000),
  /** Silence that ends the user's turn (ms). */
  VAD_END_SILENCE_MS: intEnv(550, 100, 10_000),
  /**
   * Silence that ends the turn early once the engine has fixed the text of everything said (pocketsphinx
   * does at its own ~500 ms endpoint), instead of waiting for VAD_END_SILENCE_MS (ms; 0 = off).
   */
  VAD_EARLY_END_MS: intEnv(400, 0, 10_000),
  /** Audio kept from before the speech started (ms). */
  VAD_PRE_SPEECH_PAD_MS: intEnv(300, 0, 5000),
  /** Longest utterance; longer speech is cut into several turns (ms). */
  VAD_MAX_SPEECH_MS: intEnv(30_000, 1000, 600_000),
  /** pocketsphinx engine: binary and model directory (Debian's by default). */
  POCKETSPHINX_BIN: z.string().min(1).default('pocketsphinx_continuous'),
  POCKETSPHINX_MODEL_DIR: z.string().min(1).default('/usr/share/pocketsphinx/model/en-us'),
  /** pocketsphinx engine: silence after which it closes a phrase and fixes its text (ms). */
  POCKETSPHINX_ENDPOINT_MS: intEnv(300, 50, 5000),
  /** openai engine: any OpenAI-compatible /v1/audio/transcriptions endpoint (OpenAI, a local Whisper server…). */
  STT_OPENAI_BASE_URL: z.string().url().optional(),
  STT_OPENAI_API_KEY: z.string().optional(),
  STT_OPENAI_MODEL: z.string().min(1).default('whisper-1'),
  /** Language hint (ISO-639-1) for engines that take one. */
  STT_LANGUAGE: z.string().regex(/^[a-z]{2}$/, 'must be a two-letter language code').optional(),
  /** Optional port for Prometheus /metrics of this worker. */
  METRICS_PORT: intEnv(0, 0, 65535),
};

export type SttWorkerConfig = ReturnType<typeof loadSttWorkerConfig>;

export function loadSttWorkerConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(sttWorkerEnv, env);
  if (c.VAD_NEGATIVE_THRESHOLD > c.VAD_POSITIVE_THRESHOLD) {
    loadConfig({ VAD_NEGATIVE_THRESHOLD: z.never({ message: 'must not be above VAD_POSITIVE_THRESHOLD' }) }, { VAD_NEGATIVE_THRESHOLD: String(c.VAD_NEGATIVE_THRESHOLD) });
  }
  return c;
}

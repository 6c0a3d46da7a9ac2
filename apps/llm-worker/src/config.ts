import { commonEnv, intEnv, loadConfig } from '@chorus/runtime';
import { z } from 'zod';

/** llm-worker settings from the environment; every default is documented in README's config table. */
export const llmWorkerEnv = {
  ...commonEnv,
  /** LLM engine adapter (engines/index.ts). */
  LLM_ENGINE: z.string().default('openai'),
  /** Any OpenAI-compatible endpoint. */
  LLM_BASE_URL: z.string().url().default('https://openrouter.ai/api/v1'),
  LLM_API_KEY: z.string().optional(),
  OPENROUTER_API_KEY: z.string().optional(),
  OPENAI_API_KEY: z.string().optional(),
  /** Default model; a conversation's model_settings.model overrides it. */
  LLM_MODEL: z.string().min(1).default('openai/gpt-4o-mini'),
  LLM_MAX_TOKENS: intEnv(0, 0, 1_000_000),
  /** A reply is cut at this many characters even if the endpoint goes on (e.g. a local model in a loop). */
  LLM_MAX_REPLY_CHARS: intEnv(32_000, 100, 10_000_000),
  /** Time to the first token, and the longest gap between tokens (ms). */
  LLM_TIMEOUT_MS: intEnv(30_000, 100),
  /** Retries while no token has been sent (429/5xx/timeout/refused). */
  LLM_MAX_RETRIES: intEnv(2, 0, 10),
  LLM_RETRY_BASE_MS: intEnv(300, 0),
  /** Turns one worker runs at once (many conversations in parallel). */
  LLM_CONCURRENCY: intEnv(32, 1, 10_000),
  /** A turn whose worker stops heartbeating for this long is taken over by another worker (ms). */
  TURN_CLAIM_IDLE_MS: intEnv(5000, 200),
  /** Turns that waited longer than this get an error instead of a reply (ms). */
  TURN_MAX_AGE_MS: intEnv(300_000, 1000),
  /** Messages kept in Redis per conversation as LLM context. */
  HISTORY_MAX: intEnv(100, 1, 10_000),
  /** A finished turn's messages wait this long for other turns' to share one persistence job (ms; 0 = a job per turn). */
  PERSIST_GATHER_MS: intEnv(100, 0, 10_000),
  /** Optional port for Prometheus /metrics of this worker. */
  METRICS_PORT: intEnv(0, 0, 65535),
};

export type LlmWorkerConfig = ReturnType<typeof loadLlmWorkerConfig>;

export function loadLlmWorkerConfig(env: NodeJS.ProcessEnv = process.env) {
  const c = loadConfig(llmWorkerEnv, env);
  return { ...c, apiKey: c.LLM_API_KEY ?? c.OPENROUTER_API_KEY ?? c.OPENAI_API_KEY };
}

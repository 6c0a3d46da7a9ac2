import { EVENTS_STREAM, GROUPS, STREAMS, TranscribeEntry } from '@chorus/contracts';
import {
  CancelWatch,
  connectRedis,
  createLogger,
  defaultWorkerId,
  startPresence,
  StreamConsumer,
  serviceMetrics,
  type Logger,
} from '@chorus/runtime';
import type { LlmWorkerConfig } from './config.js';
import { LLM_ENGINES } from './engines/index.js';
import { Persister } from './persist.js';
import { TurnSequencer } from './sequencer.js';
import { ConversationState } from './state.js';
import { abandonTurn, handleTurn } from './turn.js';

export interface LlmWorker {
  id: string;
  stop(): Promise<void>;
}

/** Wires the llm-worker: a consumer group on `transcribe` whose handler runs turns. */
export async function startLlmWorker(config: LlmWorkerConfig, logger: Logger = createLogger('llm-worker')): Promise<LlmWorker> {
  const id = config.WORKER_ID ?? defaultWorkerId('llm');
  const makeEngine = LLM_ENGINES[config.LLM_ENGINE];
  if (!makeEngine) throw new Error(`LLM_ENGINE: unknown engine "${config.LLM_ENGINE}" (known: ${Object.keys(LLM_ENGINES).join(', ')})`);
  const engine = makeEngine({
    baseUrl: config.LLM_BASE_URL,
    apiKey: config.apiKey,
    model: config.LLM_MODEL,
    firstTokenTimeoutMs: config.LLM_TIMEOUT_MS,
    idleTimeoutMs: config.LLM_TIMEOUT_MS,
    maxTokens: config.LLM_MAX_TOKENS || undefined,
  });
  const redis = connectRedis(config.REDIS_URL, id);
  const { metrics, close: closeMetrics } = serviceMetrics('llm-worker', config.METRICS_PORT);
  const persist = new Persister(redis, logger, metrics, { gatherMs: config.PERSIST_GATHER_MS });
  const cancels = new CancelWatch(redis, logger);
  const deps = {
    redis,
    engine,
    retry: { retries: config.LLM_MAX_RETRIES, baseDelayMs: config.LLM_RETRY_BASE_MS },
    // A queued turn older than TURN_MAX_AGE_MS would only be told it waited too long: no need to keep it at the head.
    sequencer: new TurnSequencer(redis, id, { lockTtlMs: config.TURN_CLAIM_IDLE_MS, staleMs: config.TURN_MAX_AGE_MS }),
    cancels,
    state: new ConversationState(redis, { historyMax: config.HISTORY_MAX, ttlSec: 86_400 }),
    persist,
    metrics,
    logger,
    limits: { eventsMaxLen: EVENTS_STREAM.maxLen, sentencesMaxLen: 2000, ttlSec: EVENTS_STREAM.ttlSec, speakMaxLen: 10_000, replyMaxChars: config.LLM_MAX_REPLY_CHARS },
    maxTurnAgeMs: config.TURN_MAX_AGE_MS,
  };
  const consumer = new StreamConsumer({
    redis,
    stream: STREAMS.transcribe,
    group: GROUPS.llm,
    consumer: id,
    schema: TranscribeEntry,
    concurrency: config.LLM_CONCURRENCY,
    claimIdleMs: config.TURN_CLAIM_IDLE_MS,
    logger,
    handler: (entry, meta) => handleTurn(deps, entry, meta),
    onDeadLetter: (entry, entryId) => abandonTurn(deps, entry, entryId),
    onOutcome: (outcome, stream) => metrics.emit({ kind: 'stream_entry', stream, outcome }),
  });
  await consumer.start();
  const presence = startPresence(redis, 'llm', id);
  logger.info({ id, engine: engine.name, base_url: config.LLM_BASE_URL, model: config.LLM_MODEL, key: config.apiKey ? 'set' : 'none' }, 'llm-worker ready');
  return {
    id,
    async stop() {
      await consumer.stop();
      await presence.stop();
      await cancels.stop();
      await persist.close();
      closeMetrics();
      redis.disconnect();
    },
  };
}

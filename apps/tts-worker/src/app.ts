import { GROUPS, KEYS, PreviewEntry, SpeakEntry, STREAMS } from '@chorus/contracts';
import {
  CancelWatch,
  connectRedis,
  createLogger,
  defaultWorkerId,
  ReaderPool,
  startPresence,
  StreamConsumer,
  serviceMetrics,
  type Logger,
} from '@chorus/runtime';
import { Catalog } from './catalog.js';
import type { TtsWorkerConfig } from './config.js';
import { EngineSet } from './engines/index.js';
import { speakPreview } from './preview.js';
import { speakMessage } from './speak.js';

/** Previews one worker speaks at once: a user action, next to the conversations' speech. */
const PREVIEW_CONCURRENCY = 4;

export interface TtsWorker {
  id: string;
  stop(): Promise<void>;
}

/**
 * Wires the tts-worker: a consumer group on `speak` whose handler speaks one message at a time per slot,
 * another on `preview` (voice previews), and the engine catalog it publishes.
 */
export async function startTtsWorker(config: TtsWorkerConfig, logger: Logger = createLogger('tts-worker')): Promise<TtsWorker> {
  const id = config.WORKER_ID ?? defaultWorkerId('tts');
  const redis = connectRedis(config.REDIS_URL, id);
  const { metrics, close: closeMetrics } = serviceMetrics('tts-worker', config.METRICS_PORT);
  const engines = new EngineSet({
    threads: config.TTS_THREADS,
    onnxModelPath: config.ONNX_TTS_MODEL,
    onnxVoicesDir: config.ONNX_TTS_VOICES_DIR,
    onnxProviders: config.ONNX_TTS_PROVIDERS,
    openaiBaseUrl: config.TTS_OPENAI_BASE_URL,
    openaiApiKey: config.TTS_OPENAI_API_KEY,
    openaiModel: config.TTS_OPENAI_MODEL,
    log: (msg, fields) => logger.info(fields ?? {}, msg),
  });
  const readers = new ReaderPool(redis, id);
  const cancels = new CancelWatch(redis, logger);
  const deps = {
    redis,
    readers,
    engines,
    catalog: new Catalog(redis),
    cancels,
    metrics,
    logger,
    o: {
      sampleRate: config.TTS_SAMPLE_RATE,
      chunkMs: config.TTS_CHUNK_MS,
      firstChunkMs: config.TTS_FIRST_CHUNK_MS,
      audioTtlSec: config.AUDIO_TTL_SEC,
      sentenceWaitMs: config.TTS_SENTENCE_WAIT_MS,
      skipStageDirections: config.TTS_SKIP_STAGE_DIRECTIONS,
    },
  };
  const consumer = new StreamConsumer({
    redis,
    stream: STREAMS.speak,
    group: GROUPS.tts,
    consumer: id,
    schema: SpeakEntry,
    concurrency: config.TTS_CONCURRENCY,
    claimIdleMs: config.TTS_CLAIM_IDLE_MS,
    logger,
    handler: (entry, meta) => speakMessage(deps, entry, meta),
    onOutcome: (outcome, stream) => metrics.emit({ kind: 'stream_entry', stream, outcome }),
  });
  const previews = new StreamConsumer({
    redis,
    stream: STREAMS.preview,
    group: GROUPS.tts,
    consumer: id,
    schema: PreviewEntry,
    concurrency: PREVIEW_CONCURRENCY,
    claimIdleMs: config.TTS_CLAIM_IDLE_MS,
    logger,
    handler: (entry, meta) => speakPreview(deps, entry, meta),
    onOutcome: (outcome, stream) => metrics.emit({ kind: 'stream_entry', stream, outcome }),
  });
  await Promise.all([consumer.start(), previews.start()]);
  // What the engines offer (`get_tts_engines`) follows from the settings: described once, kept with presence.
  const card = { key: KEYS.ttsEngines(id), value: JSON.stringify(await engines.describe()) };
  const presence = startPresence(redis, 'tts', id, { card });
  logger.info({ id, concurrency: config.TTS_CONCURRENCY, threads: config.TTS_THREADS, sample_rate: config.TTS_SAMPLE_RATE || 'engine' }, 'tts-worker ready');
  return {
    id,
    async stop() {
      await Promise.all([consumer.stop(), previews.stop()]);
      await presence.stop();
      await cancels.stop();
      readers.close();
      await engines.close();
      closeMetrics();
      redis.disconnect();
    },
  };
}

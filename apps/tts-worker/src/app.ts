import { GROUPS, SpeakEntry, STREAMS } from '@chorus/contracts';
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
import { speakMessage } from './speak.js';

export interface TtsWorker {
  id: string;
  stop(): Promise<void>;
}

/** Wires the tts-worker: a consumer group on `speak` whose handler speaks one message at a time per slot. */
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
  await consumer.start();
  const presence = startPresence(redis, 'tts', id);
  logger.info({ id, concurrency: config.TTS_CONCURRENCY, threads: config.TTS_THREADS, sample_rate: config.TTS_SAMPLE_RATE || 'engine' }, 'tts-worker ready');
  return {
    id,
    async stop() {
      await consumer.stop();
      await presence.stop();
      await cancels.stop();
      readers.close();
      await engines.close();
      closeMetrics();
      redis.disconnect();
    },
  };
}

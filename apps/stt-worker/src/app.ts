import { EVENTS_STREAM, GROUPS, ListenEntry, STREAMS } from '@chorus/contracts';
import {
  connectRedis,
  createLogger,
  defaultWorkerId,
  ReaderPool,
  serviceMetrics,
  startPresence,
  StreamConsumer,
  type Logger,
} from '@chorus/runtime';
import type { SttWorkerConfig } from './config.js';
import { createSttEngine } from './engines/index.js';
import { listenSession } from './listen.js';
import { SileroVad } from './vad.js';
import { Vocabulary } from './vocabulary.js';

export interface SttWorker {
  id: string;
  stop(): Promise<void>;
}

/** Wires the stt-worker: a consumer group on `listen`; each entry is one listening session, served to its end. */
export async function startSttWorker(config: SttWorkerConfig, logger: Logger = createLogger('stt-worker')): Promise<SttWorker> {
  const id = config.WORKER_ID ?? defaultWorkerId('stt');
  const engine = createSttEngine(config); // throws a clear SttError when the engine cannot run here
  await SileroVad.create(); // loads the VAD model once, before sessions arrive
  const redis = connectRedis(config.REDIS_URL, id);
  const { metrics, close: closeMetrics } = serviceMetrics('stt-worker', config.METRICS_PORT);
  const readers = new ReaderPool(redis, id);
  const deps = {
    redis,
    readers,
    engine,
    vocabulary: new Vocabulary(redis),
    metrics,
    logger,
    limits: { eventsMaxLen: EVENTS_STREAM.maxLen, transcribeMaxLen: 10_000, ttlSec: EVENTS_STREAM.ttlSec },
    o: {
      vad: {
        positiveThreshold: config.VAD_POSITIVE_THRESHOLD,
        negativeThreshold: config.VAD_NEGATIVE_THRESHOLD,
        minSpeechMs: config.VAD_MIN_SPEECH_MS,
        endSilenceMs: config.VAD_END_SILENCE_MS,
        preSpeechPadMs: config.VAD_PRE_SPEECH_PAD_MS,
        maxSpeechMs: config.VAD_MAX_SPEECH_MS,
      },
      idleMs: config.STT_IDLE_MS,
      bargeInMs: config.STT_BARGE_IN_MS,
      partialMs: config.STT_PARTIAL_MS,
      earlyEndMs: config.VAD_EARLY_END_MS,
    },
  };
  const consumer = new StreamConsumer({
    redis,
    stream: STREAMS.listen,
    group: GROUPS.stt,
    consumer: id,
    schema: ListenEntry,
    concurrency: config.STT_CONCURRENCY,
    claimIdleMs: config.STT_CLAIM_IDLE_MS,
    // Sessions run until the user stops listening: on shutdown they are handed back at once, not awaited.
    shutdownGraceMs: 0,
    logger,
    handler: (entry, meta) => listenSession(deps, entry, meta),
    onOutcome: (outcome, stream) => metrics.emit({ kind: 'stream_entry', stream, outcome }),
  });
  await consumer.start();
  const presence = startPresence(redis, 'stt', id);
  logger.info({ id, engine: engine.name, concurrency: config.STT_CONCURRENCY }, 'stt-worker ready');
  return {
    id,
    async stop() {
      await consumer.stop();
      await presence.stop();
      readers.close();
      await engine.close();
      closeMetrics();
      redis.disconnect();
    },
  };
}

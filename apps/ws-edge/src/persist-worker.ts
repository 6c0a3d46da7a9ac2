import { BULL_PREFIX, PERSIST_QUEUE, PersistJob } from '@chorus/contracts';
import type { Logger, MetricsBus } from '@chorus/runtime';
import type { Store } from '@chorus/store';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { MessageBatcher, type MessageBatchOptions } from './persist-batch.js';

export interface PersistWorkerOptions extends MessageBatchOptions {
  /** Jobs held at once (default 256): how many turns can share one write. */
  concurrency: number;
}

const DEFAULTS: PersistWorkerOptions = { concurrency: 256, windowMs: 200, maxMessages: 500 };

/** Consumes write-behind jobs (a turn's messages each) into the database this edge owns, in batches. */
export function startPersistWorker(redis: Redis, store: Store, logger: Logger, metrics: MetricsBus, o: Partial<PersistWorkerOptions> = {}): Worker {
  const opts = { ...DEFAULTS, ...o };
  const batcher = new MessageBatcher((messages) => store.saveMessages(messages), opts);
  const worker = new Worker(
    PERSIST_QUEUE,
    async (job) => {
      const data = PersistJob.parse(job.data);
      await batcher.add(data.kind === 'messages' ? data.messages : [data.message]);
    },
    // BullMQ needs its own blocking connection.
    { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix: BULL_PREFIX, concurrency: opts.concurrency },
  );
  worker.on('completed', () => metrics.emit({ kind: 'persist_job', outcome: 'done' }));
  worker.on('failed', (job, err) => {
    metrics.emit({ kind: 'persist_job', outcome: 'failed' });
    logger.warn({ err, job: job?.id, attempts: job?.attemptsMade }, 'persistence job failed (will retry)');
  });
  worker.on('error', (err) => logger.warn({ err }, 'persistence worker error'));
  return worker;
}

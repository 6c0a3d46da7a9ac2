import { BULL_PREFIX, PERSIST_QUEUE, PersistJob } from '@chorus/contracts';
import type { Logger, MetricsBus } from '@chorus/runtime';
import type { Store } from '@chorus/store';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';

/** Consumes write-behind jobs (messages) into the database this edge owns. */
export function startPersistWorker(redis: Redis, store: Store, logger: Logger, metrics: MetricsBus): Worker {
  const worker = new Worker(
    PERSIST_QUEUE,
    async (job) => {
      const data = PersistJob.parse(job.data);
      await store.saveMessage(data.message);
    },
    // BullMQ needs its own blocking connection.
    { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix: BULL_PREFIX, concurrency: 4 },
  );
  worker.on('completed', () => metrics.emit({ kind: 'persist_job', outcome: 'done' }));
  worker.on('failed', (job, err) => {
    metrics.emit({ kind: 'persist_job', outcome: 'failed' });
    logger.warn({ err, job: job?.id, attempts: job?.attemptsMade }, 'persistence job failed (will retry)');
  });
  worker.on('error', (err) => logger.warn({ err }, 'persistence worker error'));
  return worker;
}

import { BULL_PREFIX, PERSIST_QUEUE, type PersistJob } from '@chorus/contracts';
import type { Logger } from '@chorus/runtime';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** Write-behind persistence: jobs for the database owner (the edge), retried with backoff, off the hot path. */
export class Persister {
  private readonly queue: Queue;
  private readonly connection: Redis;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
  ) {
    this.connection = redis.duplicate({ connectionName: 'persist' });
    this.queue = new Queue(PERSIST_QUEUE, {
      // Its own connection: BullMQ's many scripts stay off the turn's hot connection.
      connection: this.connection,
      prefix: BULL_PREFIX,
      defaultJobOptions: {
        attempts: 10,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: 1000,
        removeOnFail: 5000,
      },
    });
  }

  /** Queues a message upsert; never awaited by the turn. */
  message(message: Extract<PersistJob, { kind: 'message' }>['message']): void {
    const job: PersistJob = { kind: 'message', message };
    this.queue.add('message', job).catch((err) => this.logger.error({ err, id: message.id }, 'could not queue message persistence'));
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

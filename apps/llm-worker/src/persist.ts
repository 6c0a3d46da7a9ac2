import { BULL_PREFIX, PERSIST_QUEUE, type Message, type PersistJob } from '@chorus/contracts';
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

  /** Queues a turn's message upserts as one job; never awaited by the turn. */
  messages(messages: Message[]): void {
    if (!messages.length) return;
    const data: PersistJob = { kind: 'messages', messages };
    this.queue.add('messages', data).catch((err) => this.logger.error({ err, ids: messages.map((m) => m.id) }, 'could not queue message persistence'));
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

import { BULL_PREFIX, PERSIST_JOB_MAX_MESSAGES, PERSIST_QUEUE, type Message, type PersistJob } from '@chorus/contracts';
import { sleep, TickBatch, type Logger, type MetricsBus } from '@chorus/runtime';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface PersisterOptions {
  /**
   * A finished turn's messages wait this long for other turns' to share their job (ms, default 100;
   * PERSIST_GATHER_MS). Each job costs Redis several BullMQ scripts here and at the edge, whatever its size,
   * which a job per turn pays on every turn. 0: a job per turn, queued at once.
   */
  gatherMs: number;
  /** Messages in one job at most; a gathering that reaches it is queued at once (default 500). */
  maxMessages: number;
  /** How long close() waits for the jobs it queues (ms, default 5000). */
  closeTimeoutMs: number;
}

const DEFAULTS: PersisterOptions = { gatherMs: 100, maxMessages: 500, closeTimeoutMs: 5000 };

/** What a turn does once its messages are in the queue, or could not be queued. */
export interface AfterQueued {
  /** They are queued: writes to send together (e.g. the turn's ack) go on `via`. */
  queued(via: TickBatch): void;
  /** Their job could not be queued. */
  failed(): void;
}

/**
 * Write-behind persistence: jobs for the database owner (the edge), retried with backoff there, never awaited
 * by a turn. The messages of the turns that finish within `gatherMs` go in one job; each turn's `then` hears
 * once that job is queued, or that it could not be (logged): the caller keeps what it needs to queue them
 * again (see handleTurn).
 */
export class Persister {
  private readonly queue: Queue;
  private readonly connection: Redis;
  private readonly o: PersisterOptions;
  private gathered: Message[] = [];
  private after: AfterQueued[] = [];
  private timer?: NodeJS.Timeout;
  /** Jobs being queued, and their `then` writes. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly metrics: MetricsBus,
    o: Partial<PersisterOptions> = {},
  ) {
    this.o = { ...DEFAULTS, ...o, maxMessages: Math.min(o.maxMessages ?? DEFAULTS.maxMessages, PERSIST_JOB_MAX_MESSAGES) };
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

  /** Queues a turn's message upserts, with other turns' that finish meanwhile; `then` runs once they are queued. */
  messages(messages: Message[], then?: AfterQueued): void {
    if (!messages.length && !then) return;
    if (this.gathered.length + messages.length > this.o.maxMessages) this.send();
    this.gathered.push(...messages);
    if (then) this.after.push(then);
    if (this.o.gatherMs === 0 || this.gathered.length >= this.o.maxMessages) this.send();
    else this.timer ??= setTimeout(() => this.send(), this.o.gatherMs);
  }

  /** Queues what is gathered now, as one job. */
  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const messages = this.gathered;
    const after = this.after;
    this.gathered = [];
    this.after = [];
    if (!messages.length && !after.length) return;
    const sent = this.queueJob(messages, after).catch((err) => this.logger.error({ err }, 'message persistence failed'));
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  private async queueJob(messages: Message[], after: AfterQueued[]): Promise<void> {
    try {
      if (messages.length) await this.queue.add('messages', { kind: 'messages', messages } satisfies PersistJob);
    } catch (err) {
      this.metrics.emit({ kind: 'persist_queued', outcome: 'failed', messages: messages.length });
      this.logger.error({ err, ids: messages.map((m) => m.id) }, 'could not queue message persistence');
      for (const then of after) then.failed();
      return;
    }
    this.metrics.emit({ kind: 'persist_queued', outcome: 'queued', messages: messages.length });
    if (!after.length) return;
    const batch = new TickBatch(this.redis);
    for (const then of after) then.queued(batch);
    await batch.flush().catch((err) => this.logger.warn({ err }, 'writes after queueing message persistence failed'));
  }

  /** Queues what is gathered and waits (up to closeTimeoutMs) for every job still being queued. */
  async close(): Promise<void> {
    this.send();
    await Promise.race([Promise.all(this.inFlight), sleep(this.o.closeTimeoutMs)]);
    if (this.inFlight.size) this.logger.warn({ jobs: this.inFlight.size }, 'message persistence still being queued at shutdown; its turns are taken over');
    await this.queue.close();
    this.connection.disconnect();
  }
}

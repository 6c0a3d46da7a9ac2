import { randomUUID } from 'node:crypto';
import { BULL_PREFIX, PERSIST_QUEUE, PersistJob, type Message } from '@chorus/contracts';
import type { Logger, MetricsBus } from '@chorus/runtime';
import { StoreError, type Store } from '@chorus/store';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { byConversation, forgetUnsaved } from './unsaved.js';

export interface PersistWorkerOptions {
  /** After the first job arrives, others gather this long before the batch is taken (ms, default 1000; PERSIST_BATCH_MS). */
  windowMs: number;
  /** Jobs taken into one batch at most (default 1000). */
  maxJobs: number;
  /**
   * A taken job's lock lasts this long unless renewed (ms, default 30000). Held jobs are renewed every quarter
   * of it, however long the window and the save take; a job whose lock expires is taken again as stalled.
   */
  lockDurationMs: number;
}

const DEFAULTS: PersistWorkerOptions = { windowMs: 1000, maxJobs: 1000, lockDurationMs: 30_000 };

type Taken = { job: Job; messages: Message[] };

/**
 * Consumes write-behind jobs (the messages of the turns an llm-worker finished within its PERSIST_GATHER_MS
 * each, or one edit) into the database this edge owns, in batches: it waits for a job, lets others gather for
 * `windowMs`, takes them all and saves their messages in one transaction. Jobs are fetched by hand (BullMQ's
 * manual processing) rather than by a processor, so the database thread wakes once per batch, not once per
 * turn while the next turn is being answered. When a batch fails, its jobs are saved one by one (and a job's
 * conversations one by one), so a bad job fails alone and is retried with the producer's backoff (messages
 * whose conversation was deleted are not: they never could be saved); the others complete. Saved messages (and
 * those that never will be) are dropped from the unsaved ones (KEYS.unsaved) that reads show until then.
 * Reads of messages call `flush()` first, so the database has what this edge holds (the conversation list
 * counts it too).
 */
export class PersistWorker {
  private readonly worker: Worker;
  private readonly connection: Redis;
  private readonly token = randomUUID();
  private readonly o: PersistWorkerOptions;
  private running = true;
  private waiting = false;
  private wake?: () => void;
  /** Taken and not yet settled: their locks are renewed. */
  private readonly held = new Set<Job>();
  private renewing = false;
  /** The batch being gathered and saved (resolved when there is none). */
  private current: Promise<void> = Promise.resolve();
  private readonly loop: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly metrics: MetricsBus,
    o: Partial<PersistWorkerOptions> = {},
  ) {
    this.o = { ...DEFAULTS, ...o };
    // BullMQ needs its own blocking connection.
    this.connection = redis.duplicate({ maxRetriesPerRequest: null });
    this.worker = new Worker(PERSIST_QUEUE, null, {
      connection: this.connection,
      prefix: BULL_PREFIX,
      autorun: false,
      lockDuration: this.o.lockDurationMs,
    });
    this.worker.on('error', (err) => logger.warn({ err }, 'persistence worker error'));
    // Jobs of an edge that died while holding them go back to the queue.
    void this.worker.startStalledCheckTimer().catch((err) => logger.warn({ err }, 'persistence stalled-job check failed'));
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        this.waiting = true;
        // A blocking wait ends when a job is queued but may hand back nothing: then the job is fetched now.
        let first = await this.worker.getNextJob(this.token, { block: true });
        this.waiting = false;
        if (!this.running) break;
        first ??= await this.worker.getNextJob(this.token, { block: false });
        if (!first) continue;
        this.current = this.batch(first);
        await this.current;
      } catch (err) {
        this.waiting = false;
        if (!this.running) break;
        this.logger.warn({ err }, 'persistence batch failed; retrying');
        await this.pause(1000);
      }
    }
  }

  private async batch(first: Job): Promise<void> {
    this.held.add(first);
    // BullMQ renews locks only for jobs its own run() loop processes, so jobs taken by hand are renewed here:
    // otherwise a window or a save longer than the lock loses them (they could not be completed, and would be
    // taken again as stalled and saved twice).
    const renewal = setInterval(() => void this.renewLocks(), this.o.lockDurationMs / 4);
    try {
      await this.pause(this.o.windowMs);
      const jobs = [first];
      while (jobs.length < this.o.maxJobs) {
        const next = await this.worker.getNextJob(this.token, { block: false });
        if (!next) break;
        this.held.add(next);
        jobs.push(next);
      }
      await this.save(jobs);
    } finally {
      clearInterval(renewal);
      this.held.clear(); // jobs left unsettled by a failure go back to the queue as stalled
    }
  }

  private async renewLocks(): Promise<void> {
    if (this.renewing || !this.held.size) return; // a slow Redis must not pile up renewals
    this.renewing = true;
    try {
      const jobs = [...this.held];
      const failed = await this.worker.extendJobLocks(jobs.map((j) => j.id!), jobs.map(() => this.token), this.o.lockDurationMs);
      // Jobs settled meanwhile have no lock left to renew; only those still held are lost.
      const lost = jobs.filter((j) => this.held.has(j) && failed.includes(j.id!)).map((j) => j.id);
      if (lost.length) this.logger.warn({ jobs: lost }, 'persistence job locks lost; those jobs will be saved again');
    } catch (err) {
      this.logger.warn({ err }, 'could not renew persistence job locks');
    } finally {
      this.renewing = false;
    }
  }

  /** Saves the batch being gathered now, without waiting out its window. */
  async flush(): Promise<void> {
    this.wake?.();
    await this.current.catch(() => undefined);
  }

  private async save(jobs: Job[]): Promise<void> {
    const taken: Taken[] = [];
    for (const job of jobs) {
      const data = PersistJob.safeParse(job.data);
      if (data.success) taken.push({ job, messages: data.data.kind === 'messages' ? data.data.messages : [data.data.message] });
      else await this.settle(job, new UnrecoverableError(`invalid persistence job: ${data.error.message}`));
    }
    if (!taken.length) return;
    const all = taken.flatMap((t) => t.messages);
    try {
      await this.store.saveMessages(all);
    } catch (err) {
      if (taken.length === 1) return this.failed(taken[0]!, err);
      for (const t of taken) {
        await this.store.saveMessages(t.messages).then(
          () => this.unshow(t.messages).then(() => this.settle(t.job)),
          (e: unknown) => this.failed(t, e),
        );
      }
      return;
    }
    await this.unshow(all);
    await Promise.all(taken.map((t) => this.settle(t.job)));
  }

  /**
   * Messages saved, or never to be saved, stop showing as unsaved (KEYS.unsaved). If that fails, saved ones
   * still show once (reads prefer the database's copy).
   */
  private async unshow(messages: Message[]): Promise<void> {
    await forgetUnsaved(this.redis, messages).catch((err: unknown) => this.logger.warn({ err }, 'could not drop messages from the unsaved ones'));
  }

  /** Whether failing `job` with `err` is its last attempt: its messages will not be saved. */
  private static final(job: Job, err: unknown): boolean {
    return err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  }

  /**
   * Settles a job whose save failed with `err`. A job of several conversations (an llm-worker gathers the turns
   * that finish together into one job) is saved again conversation by conversation, so the messages of one
   * deleted since are dropped alone: the job completes if the rest is saved, and fails (retried) if any of it
   * fails otherwise.
   */
  private async failed(t: Taken, err: unknown): Promise<void> {
    const groups = byConversation(t.messages);
    if (groups.size === 1) {
      const e = await this.failure(t.messages, err);
      if (PersistWorker.final(t.job, e)) await this.unshow(t.messages);
      return this.settle(t.job, e);
    }
    let retried: unknown;
    const dropped: string[] = [];
    for (const group of groups.values()) {
      const e = await this.store.saveMessages(group).then(() => undefined, (x: unknown) => this.failure(group, x));
      if (e === undefined || PersistWorker.final(t.job, e)) await this.unshow(group);
      if (e instanceof UnrecoverableError) dropped.push(e.message);
      else if (e !== undefined) retried ??= e;
    }
    if (retried === undefined && dropped.length === groups.size) return this.settle(t.job, new UnrecoverableError(dropped.join('; ')));
    if (dropped.length) this.logger.warn({ job: t.job.id, dropped }, "dropped deleted conversations' messages from a persistence job (not retried)");
    return this.settle(t.job, retried);
  }

  /**
   * Why a job's save failed. A save the store refuses ('invalid') may be of a conversation deleted since the
   * turn: its messages can never be saved, so the job is not retried. Anything else (or when the check itself
   * fails) is retried as it is.
   */
  private async failure(messages: Message[], err: unknown): Promise<unknown> {
    if (!(err instanceof StoreError) || err.code !== 'invalid') return err;
    const ids = [...new Set(messages.map((m) => m.conversation_id))];
    const found = await Promise.all(ids.map((id) => this.store.getConversation(id))).catch(() => undefined);
    const gone = found ? ids.filter((_, i) => !found[i]) : [];
    if (!gone.length) return err;
    return new UnrecoverableError(`conversation ${gone.map((id) => `"${id}"`).join(', ')} was deleted: ${err.message}`);
  }

  /**
   * Completes the job, or fails it (BullMQ retries it with the producer's attempts and backoff, unless `err` is
   * an UnrecoverableError). Never throws: one job that cannot be settled must not leave the rest of its batch
   * unsettled.
   */
  private async settle(job: Job, err?: unknown): Promise<void> {
    try {
      if (err === undefined) {
        await job.moveToCompleted(undefined, this.token, false);
        this.metrics.emit({ kind: 'persist_job', outcome: 'done' });
        return;
      }
      const error = err instanceof Error ? err : new Error(String(err));
      const last = PersistWorker.final(job, error); // before moveToFailed counts this attempt
      await job.moveToFailed(error, this.token, false);
      this.metrics.emit({ kind: 'persist_job', outcome: 'failed' });
      if (last) this.logger.error({ err: error, job: job.id, attempts: job.attemptsMade }, 'persistence job failed (not retried): its messages are not saved');
      else this.logger.warn({ err: error, job: job.id, attempts: job.attemptsMade }, 'persistence job failed (will retry)');
    } catch (e) {
      // E.g. its lock was lost: BullMQ hands it out again as stalled, and saving its messages twice is harmless.
      this.logger.warn({ err: e, job: job.id }, 'could not settle persistence job');
    } finally {
      this.held.delete(job);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** Saves the batch in hand (without waiting out its window); jobs still queued wait in Redis for the next start. */
  async close(): Promise<void> {
    this.running = false;
    this.wake?.();
    // A loop blocked waiting for a job holds no job: the worker is closed at once (a plain close would wait
    // out the block, up to 5 s). One saving a batch finishes it first.
    if (this.waiting) await this.worker.close(true);
    await this.loop;
    await this.worker.close();
    this.connection.disconnect(); // BullMQ leaves a connection it was given open
  }
}

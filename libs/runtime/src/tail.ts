import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RawEntry } from './redis.js';
import { sleep } from './consumer.js';

export interface StreamTailOptions {
  /** Command connection; the tail makes its own blocking connection from it. */
  redis: Redis;
  logger: Logger;
  /** Called in stream order for each batch of new entries of one stream. */
  onEntries: (stream: string, entries: RawEntry[]) => void;
  /** XREAD BLOCK time (default 5000 ms); changes of the stream set wake the read at once. */
  blockMs?: number;
  /** Entries per stream per read (default 500). */
  count?: number;
}

/**
 * Follows a changing set of streams with one blocking XREAD (no consumer group: every tail sees every
 * entry). Adding or removing a stream interrupts the blocked read with CLIENT UNBLOCK, so a new stream is
 * followed immediately rather than after the block times out.
 */
export class StreamTail {
  private readonly blocking: Redis;
  private readonly positions = new Map<string, string>();
  private running = false;
  private loop?: Promise<void>;
  private blockingId?: number;
  private reading = false;
  private readNo = 0;
  private wake?: () => void;

  constructor(private readonly o: StreamTailOptions) {
    this.blocking = o.redis.duplicate({ connectionName: 'tail' });
    // A reconnect gets a new client id; it is fetched again before the next read.
    this.blocking.on('close', () => (this.blockingId = undefined));
  }

  get size(): number {
    return this.positions.size;
  }

  has(stream: string): boolean {
    return this.positions.has(stream);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Follows `stream` from after `fromId` (default: entries added from now on). */
  async add(stream: string, fromId?: string): Promise<void> {
    if (this.positions.has(stream)) return;
    this.positions.set(stream, fromId ?? (await lastId(this.o.redis, stream)));
    this.interrupt();
  }

  remove(stream: string): void {
    if (this.positions.delete(stream)) this.interrupt();
  }

  private interrupt(): void {
    this.wake?.();
    if (this.reading) void this.unblock(this.readNo);
  }

  /** CLIENT UNBLOCK can reach Redis just before the XREAD blocks; retry briefly until it takes. */
  private async unblock(readNo: number): Promise<void> {
    for (let i = 0; i < 40 && this.reading && this.readNo === readNo && this.blockingId !== undefined; i++) {
      const done = await this.o.redis.client('UNBLOCK', this.blockingId).catch(() => 0);
      if (done === 1) return;
      await sleep(5);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.positions.size === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        this.blockingId ??= Number(await this.blocking.client('ID'));
        // The streams are taken after that await and right before the read: a stream added meanwhile is in it
        // (interrupt() could not unblock a read that had not begun).
        const keys = [...this.positions.keys()];
        if (!keys.length) continue;
        const ids = keys.map((k) => this.positions.get(k)!);
        this.readNo++;
        this.reading = true;
        const res = (await this.blocking.xread(
          'COUNT', this.o.count ?? 500,
          'BLOCK', this.o.blockMs ?? 5000,
          'STREAMS', ...keys, ...ids,
        )) as Array<[string, RawEntry[]]> | null;
        this.reading = false;
        for (const [stream, entries] of res ?? []) {
          if (!this.positions.has(stream) || entries.length === 0) continue;
          this.positions.set(stream, entries[entries.length - 1]![0]);
          try {
            this.o.onEntries(stream, entries);
          } catch (err) {
            this.o.logger.error({ err, stream }, 'stream tail handler failed');
          }
        }
      } catch (err) {
        this.reading = false;
        if (!this.running) break;
        this.o.logger.warn({ err }, 'stream tail read failed; retrying');
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.blocking.disconnect();
    await this.loop?.catch(() => undefined);
  }
}

/** Id of the newest entry of a stream, or `0-0` when it is empty or missing. */
export async function lastId(redis: Redis, stream: string): Promise<string> {
  const last = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as RawEntry[];
  return last[0]?.[0] ?? '0-0';
}

import type { ChainableCommander, Redis } from 'ioredis';

/**
 * Sends `name` (a Redis command, or one made with `defineCommand`) on `target` and resolves with its own
 * reply. `target` is a connection, or a pipeline that its owner sends: the command then shares that write.
 */
export function command<T = unknown>(target: Redis | ChainableCommander, name: string, args: unknown[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = (target as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
    if (!fn) return reject(new Error(`unknown Redis command ${name}`));
    fn.call(target, ...args, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * Redis writes that go out without waiting for replies: the commands of one tick become one pipeline
 * (one socket write instead of one per command — most of a small write's cost), one connection keeps
 * them in order, and `flush()` waits for everything and surfaces the first failure.
 */
export class TickBatch {
  private batch: ChainableCommander | null = null;
  private pending: Promise<unknown>[] = [];

  constructor(private readonly redis: Redis) {}

  /** The pipeline of the current tick; it is sent when the tick's synchronous work is done. */
  commands(): ChainableCommander {
    if (!this.batch) {
      this.batch = this.redis.pipeline();
      queueMicrotask(() => this.send());
    }
    return this.batch;
  }

  /** A write made elsewhere whose failure should surface at the next `flush()`. */
  track(write: Promise<unknown>): void {
    write.catch(() => undefined); // reported by flush(), not as an unhandled rejection
    this.pending.push(write);
  }

  async flush(): Promise<void> {
    this.send();
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
  }

  private send(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    this.track(
      batch.exec().then((res) => {
        for (const [err] of res ?? []) if (err) throw err;
      }),
    );
  }
}

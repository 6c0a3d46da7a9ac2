import type { Redis } from 'ioredis';

/** Where a command goes: a connection, or a TickBatch whose write it then shares. */
export type CommandTarget = Redis | TickBatch;

/**
 * Sends `name` (a Redis command, or one made with `defineCommand`) on `target` and resolves with its own
 * reply.
 */
export function command<T = unknown>(target: CommandTarget, name: string, args: unknown[]): Promise<T> {
  if (target instanceof TickBatch) return target.send<T>(name, args);
  // ioredis makes a promise for every command anyway: return that one rather than wrap it in another.
  const fn = (target as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[name];
  return fn ? fn.apply(target, args) : Promise.reject(new Error(`unknown Redis command ${name}`));
}

type Socket = Redis['stream'];
const held = new WeakMap<Redis, Socket>();

/**
 * Holds the connection's writes (its socket is corked) until `releaseWrites`, at the latest at the end of
 * this event-loop turn (setImmediate, as ioredis's auto-pipelining does): every command sent meanwhile,
 * from any caller, leaves in one socket write — most of a small write's cost is the write itself.
 *
 * Why not an ioredis pipeline: each Pipeline defines an accessor on itself, which gives every instance its
 * own hidden class; V8's minor GC then keeps the pipeline and everything it reaches (commands, replies, the
 * caller's promises) alive until the next full GC. One pipeline per turn made every minor GC pause of the
 * llm-worker ≈ 3 ms (≈ 1.9 MB promoted each time); corking keeps them short.
 */
export function holdWrites(redis: Redis): void {
  if (held.has(redis) || redis.status !== 'ready') return; // not connected: commands wait in ioredis's queue
  const socket = redis.stream;
  socket.cork();
  held.set(redis, socket);
  setImmediate(releaseWrites, redis);
}

/** Writes what `holdWrites` held, now. */
function releaseWrites(redis: Redis): void {
  const socket = held.get(redis);
  if (!socket) return;
  held.delete(redis);
  socket.uncork();
}

/**
 * Redis writes that go out without waiting for replies: the commands of one event-loop turn share one
 * socket write (see `holdWrites`), the connection keeps them in order, and `flush()` waits for every one
 * of them and surfaces the first failure.
 */
export class TickBatch {
  private pending: Promise<unknown>[] = [];

  constructor(private readonly redis: Redis) {}

  /** Sends a command whose write is held to the end of the loop turn; its failure also surfaces at `flush()`. */
  send<T = unknown>(name: string, args: unknown[]): Promise<T> {
    holdWrites(this.redis);
    const sent = command<T>(this.redis, name, args);
    this.track(sent);
    return sent;
  }

  /** Writes what is held now rather than at the end of the loop turn (a write a reader is waiting for). */
  sendNow(): void {
    releaseWrites(this.redis);
  }

  /** A write made elsewhere whose failure should surface at the next `flush()`. */
  track(write: Promise<unknown>): void {
    write.catch(() => undefined); // reported by flush(), not as an unhandled rejection
    this.pending.push(write);
  }

  async flush(): Promise<void> {
    releaseWrites(this.redis);
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
  }
}

import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { decodeEntry, STREAMS } from '@chorus/contracts';
import { command, type CommandTarget } from './batch.js';
import type { RawEntry } from './redis.js';

export interface EntryMeta {
  id: string;
  /** 1 on first delivery; higher after a crash recovery or a failed attempt. */
  deliveries: number;
  /** Aborted when the worker shuts down and can no longer finish this entry. */
  signal: AbortSignal;
  /**
   * Acknowledges the entry now, on `via` (a batch of writes whose owner checks them) when given, so the ack shares the
   * handler's last write; the consumer then does not ack it again. Without a call (or a `handOff`) the consumer
   * acks once the handler has succeeded.
   */
  ack(via?: CommandTarget): Promise<void>;
  /**
   * Hands the entry's ack to the caller, for work that outlives the handler (e.g. a write gathered with other
   * entries'): the consumer does not ack it, and once the handler ends it no longer counts against
   * `concurrency`, but it keeps the entry's heartbeat until `ack` or `release`. An entry released, or whose
   * process dies first, is taken over after `claimIdleMs`, so its handler must then find the work done and
   * finish only what is left.
   */
  handOff(): HandOff;
  /**
   * Waits for `wait` (e.g. for the entry's turn to come) without holding a slot of the consumer's concurrency,
   * so entries waiting for others do not keep it from reading entries that could run now. At most
   * `maxWaiting` entries of the process wait so at once; beyond that, a waiting entry keeps its slot.
   */
  waiting<R>(wait: Promise<R>): Promise<R>;
}

/** An entry's ack, handed to the code that finishes its work (`EntryMeta.handOff`). */
export interface HandOff {
  /** Acks the entry (on `via` when given). */
  ack(via?: CommandTarget): Promise<void>;
  /** Gives up on it: its heartbeat stops, and after `claimIdleMs` a consumer takes it over. */
  release(): void;
}

export interface StreamConsumerOptions<T> {
  redis: Redis;
  stream: string;
  group: string;
  consumer: string;
  schema: z.ZodType<T>;
  handler: (entry: T, meta: EntryMeta) => Promise<void>;
  logger: Logger;
  /**
   * Entries processed at once by this process (default 16). Entries that waited without a slot (see
   * `maxWaiting`) carry on when their wait ends, so up to `concurrency + maxWaiting` may run at once for a while.
   */
  concurrency?: number;
  /** Entries that may wait (see `EntryMeta.waiting`) without holding a slot (default: `concurrency`). */
  maxWaiting?: number;
  /** XREADGROUP BLOCK time (default 2000 ms); bounds how long an idle loop takes to notice a stop. */
  blockMs?: number;
  /** A pending entry idle this long belongs to a dead consumer and is taken over (default 5000 ms). */
  claimIdleMs?: number;
  /** Attempts before an entry is moved to `dead:<stream>` and acknowledged (default 5). */
  maxDeliveries?: number;
  /** How long stop() waits for in-flight entries before handing them back (default 10000 ms). */
  shutdownGraceMs?: number;
  /** Observer of consumer outcomes (metrics). */
  onOutcome?: (outcome: 'acked' | 'failed' | 'dead' | 'claimed' | 'invalid' | 'lost', stream: string) => void;
  /**
   * Called for a valid entry given up after too many deliveries, once it is in `dead:<stream>`: the place
   * to tell whoever waits for it (no handler will). Its failure is logged. Default none.
   */
  onDeadLetter?: (entry: T, id: string) => Promise<void>;
}

interface InFlight {
  controller: AbortController;
  done: Promise<void>;
  /** Set once the entry's ack is sent: no longer ours to heartbeat. */
  acked: boolean;
}

/** The reason a handler's signal gives when another consumer has taken its entry over (this one stalled). */
export class EntryLost extends Error {
  override name = 'EntryLost';
}

// KEYS: stream. ARGV: group, consumer, ids… → the ids this consumer no longer holds (taken over, or acked).
// XCLAIM alone would take an entry back from the consumer that took it over while this one stalled.
const TOUCH = `
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`;

/**
 * A consumer-group reader: XREADGROUP … BLOCK, bounded concurrency, ack after the handler succeeds,
 * XAUTOCLAIM of entries whose consumer died, heartbeats (XCLAIM JUSTID) that keep long-running entries
 * from being stolen, dead-lettering of poison entries and a graceful stop that hands work back.
 */
export class StreamConsumer<T> {
  private readonly blocking: Redis;
  private readonly inflight = new Map<string, InFlight>();
  /** Entries whose handler ended with their ack handed off and not yet sent: still heartbeated. */
  private readonly handedOff = new Set<string>();
  private running = false;
  private loop?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;
  private slotFreed?: () => void;
  private lastClaimAt = 0;
  /** Where the next XAUTOCLAIM scan resumes: each call looks at a bounded window of the pending list. */
  private claimCursor = '0-0';
  private readonly concurrency: number;
  private readonly maxWaiting: number;
  /** In-flight entries that wait without holding a slot. */
  private waitingCount = 0;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly maxDeliveries: number;

  constructor(private readonly o: StreamConsumerOptions<T>) {
    this.blocking = o.redis.duplicate({ connectionName: `${o.consumer}:read` });
    this.concurrency = o.concurrency ?? 16;
    this.maxWaiting = o.maxWaiting ?? this.concurrency;
    this.blockMs = o.blockMs ?? 2000;
    this.claimIdleMs = o.claimIdleMs ?? 5000;
    this.maxDeliveries = o.maxDeliveries ?? 5;
    o.redis.defineCommand('consumerTouch', { numberOfKeys: 1, lua: TOUCH });
  }

  get inFlightCount(): number {
    return this.inflight.size;
  }

  /** Slots not taken by an in-flight entry (waiting entries excepted). */
  private get free(): number {
    return this.concurrency - (this.inflight.size - this.waitingCount);
  }

  private wakeReader(): void {
    this.slotFreed?.();
    this.slotFreed = undefined;
  }

  private waiting<R>(wait: Promise<R>): Promise<R> {
    if (this.waitingCount >= this.maxWaiting) return wait;
    this.waitingCount++;
    this.wakeReader();
    return wait.finally(() => this.waitingCount--);
  }

  async start(): Promise<void> {
    await ensureGroup(this.o.redis, this.o.stream, this.o.group);
    this.running = true;
    const beatMs = Math.max(100, Math.floor(this.claimIdleMs / 3));
    this.heartbeat = setInterval(() => void this.touchInFlight(), beatMs);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const free = this.free;
        if (free <= 0) {
          await new Promise<void>((resolve) => (this.slotFreed = resolve));
          continue;
        }
        if (Date.now() - this.lastClaimAt >= this.claimIdleMs / 2) {
          this.lastClaimAt = Date.now();
          await this.claimAbandoned(free);
          if (this.free <= 0) continue;
        }
        const res = (await this.blocking.xreadgroup(
          'GROUP', this.o.group, this.o.consumer,
          'COUNT', this.free,
          'BLOCK', Math.min(this.blockMs, this.claimIdleMs / 2),
          'STREAMS', this.o.stream, '>',
        )) as Array<[string, RawEntry[]]> | null;
        for (const [, entries] of res ?? []) for (const [id, fields] of entries) this.dispatch(id, fields, 1);
      } catch (err) {
        if (!this.running) break;
        if (String(err).includes('NOGROUP')) await ensureGroup(this.o.redis, this.o.stream, this.o.group).catch(() => undefined);
        else this.o.logger.warn({ err, stream: this.o.stream }, 'stream read failed; retrying');
        await sleep(250);
      }
    }
  }

  private async claimAbandoned(count: number): Promise<void> {
    const [next, entries] = (await this.o.redis.xautoclaim(
      this.o.stream, this.o.group, this.o.consumer, this.claimIdleMs, this.claimCursor, 'COUNT', count,
    )) as [string, Array<RawEntry | null>, string[]];
    this.claimCursor = next; // '0-0' once the scan has reached the end
    for (const entry of entries) {
      if (!entry || this.inflight.has(entry[0]) || this.handedOff.has(entry[0])) continue;
      const [id, fields] = entry;
      const pending = (await this.o.redis.xpending(this.o.stream, this.o.group, id, id, 1)) as Array<[string, string, number, number]>;
      const deliveries = pending[0]?.[3] ?? 2;
      this.o.onOutcome?.('claimed', this.o.stream);
      this.o.logger.info({ id, deliveries, stream: this.o.stream }, 'took over an abandoned entry');
      if (deliveries > this.maxDeliveries) await this.giveUp(id, fields);
      else this.dispatch(id, fields, deliveries);
    }
  }

  private dispatch(id: string, fields: string[], deliveries: number): void {
    let entry: T;
    try {
      entry = decodeEntry(this.o.schema, fields);
    } catch (err) {
      this.o.onOutcome?.('invalid', this.o.stream);
      this.deadLetter(id, fields, `invalid entry: ${String(err)}`).catch((e) => this.o.logger.error({ err: e, id }, 'dead-lettering failed'));
      return;
    }
    // In the map before the handler runs: it may ack before its first await.
    const f: InFlight = { controller: new AbortController(), done: Promise.resolve(), acked: false };
    this.inflight.set(id, f);
    let acked: Promise<void> | undefined;
    const ack = (via?: CommandTarget) => {
      f.acked = true;
      return (acked ??= command(via ?? this.o.redis, 'xack', [this.o.stream, this.o.group, id]).then(() => undefined));
    };
    let handed = false;
    const countAcked = () => this.o.onOutcome?.('acked', this.o.stream);
    const handOff = (): HandOff => {
      handed = true;
      this.handedOff.add(id);
      return {
        ack: (via?: CommandTarget) => {
          this.handedOff.delete(id);
          const sent = ack(via);
          sent.then(countAcked, () => undefined); // a failure is the caller's to see
          return sent;
        },
        release: () => void this.handedOff.delete(id),
      };
    };
    let handled: Promise<void>;
    try {
      handled = this.o.handler(entry, { id, deliveries, signal: f.controller.signal, ack, handOff, waiting: (w) => this.waiting(w) });
    } catch (err) {
      handled = Promise.reject(err); // a handler that throws at once fails like one that rejects
    }
    f.done = handled
      .then(() => (handed ? undefined : ack().then(countAcked)))
      .then(
        () => undefined,
        (err) => {
          // Left pending: after claimIdleMs some consumer (maybe this one) retries it.
          this.o.onOutcome?.('failed', this.o.stream);
          this.o.logger.error({ err, id, stream: this.o.stream }, 'entry handler failed');
        },
      )
      .finally(() => {
        this.inflight.delete(id);
        this.wakeReader();
      });
  }

  /** An entry delivered too often: dead-lettered, then `onDeadLetter` tells whoever waits for it. */
  private async giveUp(id: string, fields: string[]): Promise<void> {
    await this.deadLetter(id, fields, 'too many deliveries');
    let entry: T;
    try {
      entry = decodeEntry(this.o.schema, fields);
    } catch {
      return; // an invalid entry has nobody waiting for it
    }
    await this.o.onDeadLetter?.(entry, id).catch((err) => this.o.logger.error({ err, id, stream: this.o.stream }, 'dead-letter hook failed'));
  }

  private async deadLetter(id: string, fields: string[], reason: string): Promise<void> {
    this.o.logger.error({ id, reason, stream: this.o.stream }, 'moving entry to the dead-letter stream');
    this.o.onOutcome?.('dead', this.o.stream);
    await this.o.redis
      .multi()
      .xadd(STREAMS.dead(this.o.stream), 'MAXLEN', '~', 1000, '*', ...fields, 'reason', reason, 'source_id', id)
      .xack(this.o.stream, this.o.group, id)
      .exec();
  }

  /**
   * Resets the idle time of in-flight entries so other consumers do not take them over. An entry another
   * consumer took over meanwhile (this process stalled past claimIdleMs) is no longer this one's: its
   * handler is stopped, so the turn is not worked on twice.
   */
  private async touchInFlight(): Promise<void> {
    const ids = [...this.inflight].filter(([, f]) => !f.acked).map(([id]) => id);
    for (const id of this.handedOff) if (!this.inflight.has(id)) ids.push(id);
    if (!ids.length) return;
    try {
      const lost = await command<string[]>(this.o.redis, 'consumerTouch', [this.o.stream, this.o.group, this.o.consumer, ...ids]);
      for (const id of lost) {
        this.handedOff.delete(id); // acked meanwhile, or another consumer's now
        const f = this.inflight.get(id);
        if (!f || f.acked || f.controller.signal.aborted) continue;
        this.o.onOutcome?.('lost', this.o.stream);
        this.o.logger.warn({ id, stream: this.o.stream }, 'another consumer took this entry over (this one stalled); stopping it here');
        f.controller.abort(new EntryLost(`entry ${id} was taken over by another consumer`));
      }
    } catch (err) {
      this.o.logger.warn({ err }, 'heartbeat failed');
    }
  }

  /** Stops reading, waits for in-flight entries (up to the grace time), then aborts and hands back the rest. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeReader();
    this.blocking.disconnect();
    await this.loop?.catch(() => undefined);
    const grace = this.o.shutdownGraceMs ?? 10_000;
    const all = Promise.all([...this.inflight.values()].map((f) => f.done));
    await Promise.race([all, sleep(grace)]);
    clearInterval(this.heartbeat);
    const left = [...this.inflight.keys()];
    if (left.length) {
      for (const f of this.inflight.values()) f.controller.abort();
      // A large IDLE makes the entries immediately claimable by the other consumers' XAUTOCLAIM.
      await this.o.redis
        .xclaim(this.o.stream, this.o.group, this.o.consumer, 0, ...left, 'IDLE', this.claimIdleMs * 100, 'JUSTID')
        .catch(() => undefined);
      this.o.logger.info({ count: left.length }, 'handed unfinished entries back to the group');
      await Promise.race([all, sleep(1000)]);
    }
  }
}

export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '$', 'MKSTREAM');
  } catch (err) {
    if (!String(err).includes('BUSYGROUP')) throw err;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

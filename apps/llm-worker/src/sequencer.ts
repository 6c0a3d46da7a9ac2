import { HISTORY_LUA, KEYS } from '@chorus/contracts';
import { command, type CommandTarget } from '@chorus/runtime';
import type { Redis } from 'ioredis';

/** Sortable member for a stream id (`ms-seq`), so the queue orders turns as Redis ordered them. */
export const seqMember = (streamId: string) => {
  const [ms, n = '0'] = streamId.split('-');
  return `${ms!.padStart(15, '0')}-${n.padStart(10, '0')}`;
};

// KEYS: queue, lock, done[, turn state, history, cancel, settings, history meta]
// ARGV: member, token, ttlMs, staleBeforeMember, maxQueued[, user item json, historyMax, ttlSec, known gen, known n]
// → {2} already done, {3} refused (the queue is full), {0} must wait, {1} acquired; with the start keys, once
// acquired it also records the user message (once per turn) and returns {1, cut, settings, history read
// (see HISTORY_LUA: what the caller's copy lacks), turn state fields}.
const ACQUIRE = `${HISTORY_LUA}
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return {2} end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return {3} end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return {0} end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
while head ~= ARGV[1] and head < ARGV[4] do
  -- a turn stuck at the head that nobody runs (its entry was lost) must not block the conversation forever
  redis.call('ZREM', KEYS[1], head)
  head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
end
if head ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if #KEYS == 3 then return {1} end
if redis.call('HSETNX', KEYS[4], 'user', '1') == 1 then
  redis.call('EXPIRE', KEYS[4], 86400)
  history_append(KEYS[5], KEYS[8], ARGV[6], ARGV[7], ARGV[8])
end
return {1, redis.call('GET', KEYS[6]), redis.call('GET', KEYS[7]),
  history_read(KEYS[5], KEYS[8], ARGV[7], ARGV[9], ARGV[10]), redis.call('HGETALL', KEYS[4])}
`;
// KEYS: queue, lock, done. ARGV: member, token, completed(1|0)
const RELEASE = `
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
end
if redis.call('ZCARD', KEYS[3]) > 500 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -501) end
redis.call('PEXPIRE', KEYS[3], 86400000)
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
`;
// KEYS: lock. ARGV: token, ttlMs → 0 only when another turn holds the lock. One that lapsed (a late
// renewal) is taken again: nobody else can have it, the turn is still at the head of its queue.
const RENEW = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`;

export interface SequencerOptions {
  /** Lock lifetime without renewal: a crashed holder blocks its conversation at most this long (ms). */
  lockTtlMs: number;
  /** A queued turn older than this that never got a worker is dropped from the head (ms, default 10 min). */
  staleMs?: number;
  /** First poll interval while another turn of the conversation runs (ms, default 25); it grows to 4× while the wait lasts. */
  pollMs?: number;
  /**
   * Turns of one conversation queued at once (the running one included, default 16): a client that floods one
   * conversation is refused rather than filling the workers' share of waiting turns.
   */
  maxQueued?: number;
}

/**
 * What the winner of the lock does first, in the same step (one round trip before the LLM request):
 * record the user message in the history and read what the turn needs.
 */
export interface TurnStartRequest {
  stateKey: string;
  historyKey: string;
  cancelKey: string;
  settingsKey: string;
  historyMetaKey: string;
  userItem: string;
  historyMax: number;
  ttlSec: number;
  /** The caller's copy of the history, as (gen, n) of HISTORY_LUA: only newer items come back. None: the whole list. */
  known?: { gen: string; n: number };
}

/**
 * `release(true)` marks the turn done; `release(false)` (shutdown hand-back) keeps its place in the queue.
 * With `via`, the release goes out with that batch's writes (whose owner checks it) instead of alone.
 * `done`: the turn already completed (a redelivery); `full`: refused, the conversation has `maxQueued` turns.
 */
export type Acquired =
  | {
      status: 'run';
      /** Set when acquired with a TurnStartRequest: `[cut, settings, history read, state fields]`. */
      start?: unknown[];
      /** True when the turn had to wait for an earlier one. */
      waited: boolean;
      /**
       * Aborted when the lock turns out to be someone else's (this process stalled past its lifetime and
       * another worker took the turn over): stop at once, without writing or releasing anything.
       */
      lost: AbortSignal;
      release(completed: boolean, via?: CommandTarget): Promise<void>;
    }
  | { status: 'done' }
  | { status: 'full' };

export interface AcquireOptions {
  /** Aborted when the worker stops: the wait ends (the entry is handed back). */
  signal: AbortSignal;
  /** Done by the winner of the lock in the same step. */
  start?: TurnStartRequest;
  /** The first attempt goes out with this batch's writes. */
  via?: CommandTarget;
  /** Wraps a wait for earlier turns (the consumer's `EntryMeta.waiting`). */
  waiting?: <R>(wait: Promise<R>) => Promise<R>;
}

const same = <R>(p: Promise<R>) => p;

/** A token no lock holder has: releases a turn's queue place without touching the lock. */
const NOBODY = '-';

/**
 * Runs the turns of one conversation one at a time and in submission order, across all workers:
 * a per-conversation queue ordered by transcribe id plus a lock held (and renewed) by the running turn.
 */
export class TurnSequencer {
  constructor(
    private readonly redis: Redis,
    private readonly workerId: string,
    private readonly o: SequencerOptions,
  ) {
    redis.defineCommand('turnAcquire', { lua: ACQUIRE }); // key count varies: with or without the turn start
    redis.defineCommand('turnRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('turnRenew', { numberOfKeys: 1, lua: RENEW });
  }

  /**
   * Waits until `seq` is the conversation's next turn. `done` when it already completed (a redelivery).
   * With `via`, the first attempt goes out with that batch's writes, sharing their socket write. A turn that
   * has to wait does so inside `waiting` (the consumer's: it frees the worker's slot meanwhile).
   */
  async acquire(conversationId: string, seq: string, o: AcquireOptions): Promise<Acquired> {
    const { signal, start } = o;
    const keys = [KEYS.turnQueue(conversationId), KEYS.turnLock(conversationId), KEYS.turnDone(conversationId)];
    const member = seqMember(seq);
    const token = `${this.workerId}/${seq}`;
    const startKeys = start ? [start.stateKey, start.historyKey, start.cancelKey, start.settingsKey, start.historyMetaKey] : [];
    const startArgs = start ? [start.userItem, start.historyMax, start.ttlSec, start.known?.gen ?? '', start.known?.n ?? 0] : [];
    const attempt = (via?: CommandTarget) => {
      const staleBefore = seqMember(`${Date.now() - (this.o.staleMs ?? 600_000)}-0`);
      const args = [keys.length + startKeys.length, ...keys, ...startKeys, member, token, this.o.lockTtlMs, staleBefore, this.o.maxQueued ?? 16, ...startArgs];
      return command<unknown[]>(via ?? this.redis, 'turnAcquire', args);
    };
    let res = await attempt(o.via);
    const waited = res[0] === 0;
    if (waited) res = await (o.waiting ?? same)(this.poll(attempt, signal));
    if (res[0] === 2) return { status: 'done' };
    if (res[0] === 3) return { status: 'full' };
    if (signal.aborted) {
      // Stopping: the entry is being handed back, so the turn is someone else's to run.
      await command(this.redis, 'turnRelease', [...keys, member, token, '0']).catch(() => undefined);
      throw new Error('stopped while waiting for the conversation');
    }
    const lost = new AbortController();
    const renew = setInterval(() => {
      command<number>(this.redis, 'turnRenew', [keys[1], token, this.o.lockTtlMs]).then(
        (renewed) => {
          if (renewed === 0 && !lost.signal.aborted) {
            clearInterval(renew);
            lost.abort(new Error(`the turn's lock of conversation ${conversationId} is held by another turn`));
          }
        },
        () => undefined, // Redis unreachable: the turn's own writes fail and say so
      );
    }, Math.max(50, Math.floor(this.o.lockTtlMs / 3)));
    return {
      status: 'run',
      start: start ? res.slice(1) : undefined,
      waited,
      lost: lost.signal,
      release: async (completed: boolean, via?: CommandTarget) => {
        clearInterval(renew);
        const sent = command(via ?? this.redis, 'turnRelease', [...keys, member, token, completed ? '1' : '0']);
        if (via) sent.catch(() => undefined); // the batch's owner reports a failure
        else await sent;
      },
    };
  }

  /** Attempts again, less often as the wait lasts, until the turn runs, is done or is refused. */
  private async poll(attempt: () => Promise<unknown[]>, signal: AbortSignal): Promise<unknown[]> {
    const pollMs = this.o.pollMs ?? 25;
    for (let polls = 0; ; polls++) {
      if (signal.aborted) throw new Error('stopped while waiting for the conversation');
      // Polls grow while the wait lasts: many waiting turns would otherwise each write 40 times a second.
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs * 4, pollMs * 1.5 ** polls)));
      const res = await attempt();
      if (res[0] !== 0) return res;
    }
  }

  /** Marks a turn that will never run (given up) done, so its conversation's later turns stop waiting for it. */
  async abandon(conversationId: string, seq: string): Promise<void> {
    const keys = [KEYS.turnQueue(conversationId), KEYS.turnLock(conversationId), KEYS.turnDone(conversationId)];
    await command(this.redis, 'turnRelease', [...keys, seqMember(seq), NOBODY, '1']);
  }
}

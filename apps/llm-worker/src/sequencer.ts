import { KEYS } from '@chorus/contracts';
import { command, type CommandTarget } from '@chorus/runtime';
import type { Redis } from 'ioredis';

/** Sortable member for a stream id (`ms-seq`), so the queue orders turns as Redis ordered them. */
export const seqMember = (streamId: string) => {
  const [ms, n = '0'] = streamId.split('-');
  return `${ms!.padStart(15, '0')}-${n.padStart(10, '0')}`;
};

// KEYS: queue, lock, done[, turn state, history, cancel, settings]
// ARGV: member, token, ttlMs, staleBeforeMember[, user item json, historyMax, ttlSec]
// → {2} already done, {0} must wait, {1} acquired; with the start keys, once acquired it also records the
// user message (once per turn) and returns {1, cut, settings, history, turn state fields}.
const ACQUIRE = `
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return {2} end
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
  redis.call('RPUSH', KEYS[5], ARGV[5])
  redis.call('LTRIM', KEYS[5], -tonumber(ARGV[6]), -1)
  redis.call('EXPIRE', KEYS[5], ARGV[7])
end
return {1, redis.call('GET', KEYS[6]), redis.call('GET', KEYS[7]),
  redis.call('LRANGE', KEYS[5], -tonumber(ARGV[6]), -1), redis.call('HGETALL', KEYS[4])}
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
// KEYS: lock. ARGV: token, ttlMs
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

export interface SequencerOptions {
  /** Lock lifetime without renewal: a crashed holder blocks its conversation at most this long (ms). */
  lockTtlMs: number;
  /** A queued turn older than this that never got a worker is dropped from the head (ms, default 10 min). */
  staleMs?: number;
  /** Poll interval while another turn of the conversation runs (ms, default 25). */
  pollMs?: number;
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
  userItem: string;
  historyMax: number;
  ttlSec: number;
}

/**
 * `release(true)` marks the turn done; `release(false)` (shutdown hand-back) keeps its place in the queue.
 * With `via`, the release goes out with that batch's writes (whose owner checks it) instead of alone.
 */
export type Acquired =
  | {
      status: 'run';
      /** Set when acquired with a TurnStartRequest: `[cut, settings, history, state fields]`. */
      start?: unknown[];
      /** True when the turn had to wait for an earlier one. */
      waited: boolean;
      release(completed: boolean, via?: CommandTarget): Promise<void>;
    }
  | { status: 'done' };

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
   * With `via`, the first attempt goes out with that batch's writes, sharing their socket write.
   */
  async acquire(conversationId: string, seq: string, signal: AbortSignal, start?: TurnStartRequest, via?: CommandTarget): Promise<Acquired> {
    const keys = [KEYS.turnQueue(conversationId), KEYS.turnLock(conversationId), KEYS.turnDone(conversationId)];
    const member = seqMember(seq);
    const token = `${this.workerId}/${seq}`;
    const startKeys = start ? [start.stateKey, start.historyKey, start.cancelKey, start.settingsKey] : [];
    const startArgs = start ? [start.userItem, start.historyMax, start.ttlSec] : [];
    let res: unknown[];
    let waited = false;
    for (;;) {
      const staleBefore = seqMember(`${Date.now() - (this.o.staleMs ?? 600_000)}-0`);
      const args = [keys.length + startKeys.length, ...keys, ...startKeys, member, token, this.o.lockTtlMs, staleBefore, ...startArgs];
      res = await command<unknown[]>(via ?? this.redis, 'turnAcquire', args);
      via = undefined;
      if (res[0] === 2) return { status: 'done' };
      if (res[0] === 1) break;
      if (signal.aborted) throw new Error('stopped while waiting for the conversation');
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, this.o.pollMs ?? 25));
    }
    const renew = setInterval(
      () => void command(this.redis, 'turnRenew', [keys[1], token, this.o.lockTtlMs]).catch(() => undefined),
      Math.max(50, Math.floor(this.o.lockTtlMs / 3)),
    );
    return {
      status: 'run',
      start: start ? res.slice(1) : undefined,
      waited,
      release: async (completed: boolean, via?: CommandTarget) => {
        clearInterval(renew);
        const sent = command(via ?? this.redis, 'turnRelease', [...keys, member, token, completed ? '1' : '0']);
        if (via) sent.catch(() => undefined); // the batch's owner reports a failure
        else await sent;
      },
    };
  }
}

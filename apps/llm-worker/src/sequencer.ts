import { KEYS } from '@chorus/contracts';
import type { Redis } from 'ioredis';

/** Sortable member for a stream id (`ms-seq`), so the queue orders turns as Redis ordered them. */
export const seqMember = (streamId: string) => {
  const [ms, n = '0'] = streamId.split('-');
  return `${ms!.padStart(15, '0')}-${n.padStart(10, '0')}`;
};

// KEYS: queue, lock, done. ARGV: member, token, ttlMs, staleBeforeMember
// → 2 already done, 1 acquired, 0 must wait
const ACQUIRE = `
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 2 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
while head ~= ARGV[1] and head < ARGV[4] do
  -- a turn stuck at the head that nobody runs (its entry was lost) must not block the conversation forever
  redis.call('ZREM', KEYS[1], head)
  head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
end
if head ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
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

/** `release(true)` marks the turn done; `release(false)` (shutdown hand-back) keeps its place in the queue. */
export type Acquired = { status: 'run'; release(completed: boolean): Promise<void> } | { status: 'done' };

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
    redis.defineCommand('turnAcquire', { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand('turnRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('turnRenew', { numberOfKeys: 1, lua: RENEW });
  }

  /** Waits until `seq` is the conversation's next turn. `done` when it already completed (a redelivery). */
  async acquire(conversationId: string, seq: string, signal: AbortSignal): Promise<Acquired> {
    const keys = [KEYS.turnQueue(conversationId), KEYS.turnLock(conversationId), KEYS.turnDone(conversationId)];
    const member = seqMember(seq);
    const token = `${this.workerId}/${seq}`;
    const r = this.redis as Redis & Record<string, (...a: unknown[]) => Promise<number>>;
    for (;;) {
      const staleBefore = seqMember(`${Date.now() - (this.o.staleMs ?? 600_000)}-0`);
      const res = await r.turnAcquire!(...keys, member, token, this.o.lockTtlMs, staleBefore);
      if (res === 2) return { status: 'done' };
      if (res === 1) break;
      if (signal.aborted) throw new Error('stopped while waiting for the conversation');
      await new Promise((resolve) => setTimeout(resolve, this.o.pollMs ?? 25));
    }
    const renew = setInterval(
      () => void r.turnRenew!(keys[1], token, this.o.lockTtlMs).catch(() => undefined),
      Math.max(50, Math.floor(this.o.lockTtlMs / 3)),
    );
    return {
      status: 'run',
      release: async (completed: boolean) => {
        clearInterval(renew);
        await r.turnRelease!(...keys, member, token, completed ? '1' : '0');
      },
    };
  }
}

import { Character, HistoryItem, KEYS, ModelSettings } from '@chorus/contracts';
import type { ChainableCommander, Redis } from 'ioredis';
import { z } from 'zod';

export interface TurnStart {
  /** False when an earlier attempt of this turn already recorded the user message. */
  userRecorded: boolean;
  /** Stream id of the conversation's latest interrupt, if any. */
  cancelCut: string | null;
  characters: Character[];
  settings: ModelSettings;
}

/** Results of a pipeline, throwing the first command error. */
function values(res: Array<[Error | null, unknown]> | null): unknown[] {
  return (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

export interface PlannedMessage {
  character_id: string;
  character_name: string;
  voice_id: string | null;
  message_id: string;
}

// KEYS: turn state, history. ARGV: field, item json, maxItems, ttlSec → 1 when newly recorded
const RECORD_ONCE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
`;
// KEYS: turn state. ARGV: plan json → the plan that wins (an earlier attempt's, after a crash)
const PLAN_ONCE = `
redis.call('HSETNX', KEYS[1], 'plan', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return redis.call('HGET', KEYS[1], 'plan')
`;

const Characters = z.array(Character);
const Plan = z.array(z.object({ character_id: z.string(), character_name: z.string(), voice_id: z.string().nullable(), message_id: z.string() }));

export interface StateOptions {
  /** Messages kept in Redis per conversation as LLM context (default 100). */
  historyMax: number;
  /** Idle conversations' Redis state expires after this (default 1 day). */
  ttlSec: number;
}

/**
 * What the llm-worker knows of a conversation, all from Redis (the edge owns the database and keeps the
 * character snapshot and a conversation's history/settings here). Writes are idempotent per turn so a
 * recovered turn never records a message twice.
 */
export class ConversationState {
  constructor(
    private readonly redis: Redis,
    private readonly o: StateOptions,
  ) {
    redis.defineCommand('recordOnce', { numberOfKeys: 2, lua: RECORD_ONCE });
    redis.defineCommand('planOnce', { numberOfKeys: 1, lua: PLAN_ONCE });
  }

  private get r() {
    return this.redis as Redis & Record<string, (...a: unknown[]) => Promise<unknown>>;
  }

  /**
   * Everything a turn needs before it picks responders, in one round trip: records the user message
   * (once per turn) and reads the interrupt cut, the characters and the model settings.
   */
  async begin(conversationId: string, turnId: string, user: HistoryItem): Promise<TurnStart> {
    type WithScripts = ChainableCommander & { recordOnce(...a: unknown[]): ChainableCommander };
    const res = await (this.redis.pipeline() as WithScripts)
      .recordOnce(KEYS.turnState(conversationId, turnId), KEYS.history(conversationId), 'user', JSON.stringify(user), this.o.historyMax, this.o.ttlSec)
      .get(KEYS.cancel(conversationId))
      .get(KEYS.characters)
      .get(KEYS.settings(conversationId))
      .exec();
    const [recorded, cut, characters, settings] = values(res);
    return {
      userRecorded: recorded === 1,
      cancelCut: (cut as string | null) ?? null,
      characters: characters ? Characters.parse(JSON.parse(characters as string)) : [],
      settings: settings ? ModelSettings.parse(JSON.parse(settings as string)) : {},
    };
  }

  /** Whether a message of the turn already finished (before a crash), and the history it replies to. */
  async messageContext(conversationId: string, turnId: string, messageId: string): Promise<{ done: boolean; history: HistoryItem[] }> {
    const res = await this.redis
      .pipeline()
      .hexists(KEYS.turnState(conversationId, turnId), `done:${messageId}`)
      .lrange(KEYS.history(conversationId), -this.o.historyMax, -1)
      .exec();
    const [done, history] = values(res);
    return { done: done === 1, history: (history as string[]).map((s) => HistoryItem.parse(JSON.parse(s))) };
  }

  /** Appends to the history once per (turn, field); true when this call recorded it. */
  async recordOnce(conversationId: string, turnId: string, field: string, item: HistoryItem): Promise<boolean> {
    const res = await this.r.recordOnce!(
      KEYS.turnState(conversationId, turnId),
      KEYS.history(conversationId),
      field,
      JSON.stringify(item),
      this.o.historyMax,
      this.o.ttlSec,
    );
    return res === 1;
  }

  /** Stores the turn's responders and message ids, or returns the ones an earlier attempt stored. */
  async plan(conversationId: string, turnId: string, plan: PlannedMessage[]): Promise<PlannedMessage[]> {
    const raw = (await this.r.planOnce!(KEYS.turnState(conversationId, turnId), JSON.stringify(plan))) as string;
    return Plan.parse(JSON.parse(raw));
  }
}

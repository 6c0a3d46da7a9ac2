import { Character, HistoryItem, KEYS, ModelSettings } from '@chorus/contracts';
import type { Redis } from 'ioredis';
import { command, type CommandTarget } from '@chorus/runtime';
import type { TurnStartRequest } from './sequencer.js';
import { z } from 'zod';

export interface TurnStart {
  /** Stream id of the conversation's latest interrupt, if any. */
  cancelCut: string | null;
  characters: Character[];
  settings: ModelSettings;
  /** The conversation's recent history, ending with this turn's user message. */
  history: HistoryItem[];
  /** Responders and message ids stored by an earlier attempt of this turn (crash takeover). */
  plan: PlannedMessage[] | null;
  /** Message ids of the turn that an earlier attempt finished. */
  done: Set<string>;
}

export interface PlannedMessage {
  character_id: string;
  character_name: string;
  voice_id: string | null;
  message_id: string;
}

// KEYS: turn state, history, heard. ARGV: field, item json, maxItems, ttlSec → 1 when newly recorded
// (a reply the user interrupted is recorded as far as it was heard: the edge may have noted that first)
const RECORD_ONCE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], 86400)
local item = ARGV[2]
local decoded = cjson.decode(item)
local heard = redis.call('HGET', KEYS[3], decoded.id)
if heard then
  decoded.content = cjson.decode(heard).content
  item = cjson.encode(decoded)
end
redis.call('RPUSH', KEYS[2], item)
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
  /** Parsed history items kept by their stored JSON, oldest dropped first (default 10000: 100 full conversations). */
  parsedItemsMax?: number;
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
    redis.defineCommand('recordOnce', { numberOfKeys: 3, lua: RECORD_ONCE });
    redis.defineCommand('planOnce', { numberOfKeys: 1, lua: PLAN_ONCE });
  }

  /** What the turn sequencer's acquire step should do for this turn (see TurnStartRequest). */
  startRequest(conversationId: string, turnId: string, user: HistoryItem): TurnStartRequest {
    return {
      stateKey: KEYS.turnState(conversationId, turnId),
      historyKey: KEYS.history(conversationId),
      cancelKey: KEYS.cancel(conversationId),
      settingsKey: KEYS.settings(conversationId),
      userItem: JSON.stringify(user),
      historyMax: this.o.historyMax,
      ttlSec: this.o.ttlSec,
    };
  }

  /** The character snapshot the edge publishes (read on `via`, a batch of writes, when given: it shares their write). */
  async characters(via?: CommandTarget): Promise<Character[]> {
    const raw = await command<string | null>(via ?? this.redis, 'get', [KEYS.characters]);
    if (raw === this.lastCharacters?.raw) return this.lastCharacters.parsed;
    const parsed = raw ? Characters.parse(JSON.parse(raw)) : [];
    this.lastCharacters = { raw, parsed };
    return parsed;
  }
  private lastCharacters?: { raw: string | null; parsed: Character[] };

  /** Reads the acquire step's reply (`Acquired.start`). */
  parseStart(start: unknown[], characters: Character[]): TurnStart {
    const [cut, settings, history, fields] = start as [string | null, string | null, string[], string[]];
    const state = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) state.set(fields[i]!, fields[i + 1]!);
    const plan = state.get('plan');
    return {
      cancelCut: cut ?? null,
      characters,
      settings: settings ? ModelSettings.parse(JSON.parse(settings)) : {},
      history: history.map((h) => this.historyItem(h)),
      plan: plan ? Plan.parse(JSON.parse(plan)) : null,
      done: new Set([...state.keys()].filter((k) => k.startsWith('done:')).map((k) => k.slice(5))),
    };
  }

  /**
   * A stored history item, parsed once: each turn of a conversation reads its whole recent history again,
   * and all but the newest items are the same strings as last time. Parsing up to HISTORY_MAX items anew
   * (JSON and schema) on every turn cost ≈ 0.1–0.2 ms of the worker's CPU and most of its allocation per
   * turn. Items are frozen, as turns share them.
   */
  private historyItem(raw: string): HistoryItem {
    let item = this.parsedItems.get(raw);
    if (item) return item;
    item = Object.freeze(HistoryItem.parse(JSON.parse(raw)));
    if (this.parsedItems.size >= (this.o.parsedItemsMax ?? 10_000)) this.parsedItems.delete(this.parsedItems.keys().next().value!);
    this.parsedItems.set(raw, item);
    return item;
  }
  private readonly parsedItems = new Map<string, HistoryItem>();

  /** Appends to the history once per (turn, field); true when this call recorded it. `via`: see characters(). */
  async recordOnce(conversationId: string, turnId: string, field: string, item: HistoryItem, via?: CommandTarget): Promise<boolean> {
    const args = [
      KEYS.turnState(conversationId, turnId),
      KEYS.history(conversationId),
      KEYS.heard(conversationId),
      field,
      JSON.stringify(item),
      this.o.historyMax,
      this.o.ttlSec,
    ];
    const res = await command(via ?? this.redis, 'recordOnce', args);
    return res === 1;
  }

  /** Stores the turn's responders and message ids, or returns the ones an earlier attempt stored. `via`: see characters(). */
  async plan(conversationId: string, turnId: string, plan: PlannedMessage[], via?: CommandTarget): Promise<PlannedMessage[]> {
    const args = [KEYS.turnState(conversationId, turnId), JSON.stringify(plan)];
    const raw = await command<string>(via ?? this.redis, 'planOnce', args);
    return Plan.parse(JSON.parse(raw));
  }
}

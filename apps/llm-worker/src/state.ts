import { Character, decodeUnsaved, encodeUnsaved, HISTORY_LUA, HistoryItem, KEYS, ModelSettings, type Message } from '@chorus/contracts';
import type { Redis } from 'ioredis';
import { command, type CommandTarget, type TickBatch } from '@chorus/runtime';
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
  /** Greetings an earlier attempt put before the user message (see greet()). */
  greetings: HistoryItem[] | null;
}

export interface PlannedMessage {
  character_id: string;
  character_name: string;
  voice_id: string | null;
  message_id: string;
}

// KEYS: turn state, history, heard, history meta. ARGV: field, item json, maxItems, ttlSec → 1 when newly
// recorded (a reply the user interrupted is recorded as far as it was heard: the edge may have noted that first)
const RECORD_ONCE = `${HISTORY_LUA}
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], 86400)
local item = ARGV[2]
local decoded = cjson.decode(item)
local heard = redis.call('HGET', KEYS[3], decoded.id)
if heard then
  decoded.content = cjson.decode(heard).content
  item = cjson.encode(decoded)
end
history_append(KEYS[2], KEYS[4], item, ARGV[3], ARGV[4])
return 1
`;
// KEYS: turn state. ARGV: plan json → the plan that wins (an earlier attempt's, after a crash)
const PLAN_ONCE = `
redis.call('HSETNX', KEYS[1], 'plan', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return redis.call('HGET', KEYS[1], 'plan')
`;

// KEYS: greet flag, history, history meta, turn state. ARGV: items json (array), items… → 1 when this call took
// the flag and put the greetings before the turn's user message (the list's only item then)
const GREET = `${HISTORY_LUA}
if redis.call('DEL', KEYS[1]) == 0 or redis.call('LLEN', KEYS[2]) ~= 1 then return 0 end
for i = #ARGV, 2, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
history_changed(KEYS[2], KEYS[3])
redis.call('HSET', KEYS[4], 'greetings', ARGV[1])
return 1
`;

const Characters = z.array(Character);
const Plan = z.array(z.object({ character_id: z.string(), character_name: z.string(), voice_id: z.string().nullable(), message_id: z.string() }));

/** A worker's copy of a conversation's history as of (gen, n) of HISTORY_LUA. */
interface KnownHistory {
  gen: string;
  n: number;
  items: readonly HistoryItem[];
}

/** HISTORY_LUA's `history_read` reply: gen, n, from (-1: the whole list), list length, items (JSON). */
type HistoryRead = [string, number, number, number, string[]];

/** The acquire step's start request, with the copy of the history it was made against. */
export interface StartRequest extends TurnStartRequest {
  conversationId: string;
  known?: KnownHistory;
}

export interface StateOptions {
  /** Messages kept in Redis per conversation as LLM context (default 100). */
  historyMax: number;
  /** Idle conversations' Redis state expires after this (default 1 day). */
  ttlSec: number;
  /** Conversations whose history this worker keeps a copy of, least recently used dropped first (default 200). */
  cachedConversations?: number;
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
    redis.defineCommand('recordOnce', { numberOfKeys: 4, lua: RECORD_ONCE });
    redis.defineCommand('planOnce', { numberOfKeys: 1, lua: PLAN_ONCE });
    redis.defineCommand('greet', { numberOfKeys: 4, lua: GREET });
  }

  /**
   * Puts `greetings` before the user message of a conversation's first turn, once: true when the conversation
   * was still flagged as new (KEYS.greet) and its history held only that message.
   */
  async greet(conversationId: string, turnId: string, greetings: HistoryItem[]): Promise<boolean> {
    const items = greetings.map((g) => JSON.stringify(g));
    const keys = [KEYS.greet(conversationId), KEYS.history(conversationId), KEYS.historyMeta(conversationId), KEYS.turnState(conversationId, turnId)];
    return (await command(this.redis, 'greet', [...keys, JSON.stringify(greetings), ...items])) === 1;
  }

  /** What the turn sequencer's acquire step should do for this turn (see TurnStartRequest). */
  startRequest(conversationId: string, turnId: string, user: HistoryItem): StartRequest {
    const known = this.histories.get(conversationId);
    return {
      conversationId,
      known,
      stateKey: KEYS.turnState(conversationId, turnId),
      historyKey: KEYS.history(conversationId),
      cancelKey: KEYS.cancel(conversationId),
      settingsKey: KEYS.settings(conversationId),
      historyMetaKey: KEYS.historyMeta(conversationId),
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

  /** Reads the acquire step's reply (`Acquired.start`) to `request`. */
  parseStart(request: StartRequest, start: unknown[], characters: Character[]): TurnStart {
    const [cut, settings, read, fields] = start as [string | null, string | null, HistoryRead, string[]];
    const state = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) state.set(fields[i]!, fields[i + 1]!);
    const plan = state.get('plan');
    return {
      cancelCut: cut ?? null,
      characters,
      settings: settings ? ModelSettings.parse(JSON.parse(settings)) : {},
      history: this.history(request, read),
      plan: plan ? Plan.parse(JSON.parse(plan)) : null,
      done: new Set([...state.keys()].filter((k) => k.startsWith('done:')).map((k) => k.slice(5))),
      greetings: state.has('greetings') ? z.array(HistoryItem).parse(JSON.parse(state.get('greetings')!)) : null,
    };
  }

  /**
   * The history as of `read` (HISTORY_LUA's reply): the request's copy plus the items appended since, or the
   * whole list when the copy was stale or missing. Kept as this worker's copy for the conversation's next turn,
   * so each turn reads and parses only its new items rather than up to HISTORY_MAX of them. Items are frozen
   * (turns share them); the array returned is the turn's own.
   */
  private history(request: StartRequest, read: HistoryRead): HistoryItem[] {
    const [gen, n, from, llen, raw] = read;
    const fresh = raw.map((h) => Object.freeze(HistoryItem.parse(JSON.parse(h))) as HistoryItem);
    const all = from === -1 ? fresh : request.known!.items.concat(fresh);
    const keep = Math.min(llen, this.o.historyMax);
    const items = all.length > keep ? all.slice(all.length - keep) : all;
    const c = request.conversationId;
    const held = this.histories.get(c);
    // A turn that waited may bring an older read than the copy a later turn of this worker left: keep the newer.
    if (!held || held.gen !== gen || held.n <= n) {
      this.histories.delete(c); // re-inserted: the most recently used is last
      this.histories.set(c, { gen, n, items });
      if (this.histories.size > (this.o.cachedConversations ?? 200)) this.histories.delete(this.histories.keys().next().value!);
    }
    return items.slice();
  }
  private readonly histories = new Map<string, KnownHistory>();

  /** Appends to the history once per (turn, field); true when this call recorded it. `via`: see characters(). */
  async recordOnce(conversationId: string, turnId: string, field: string, item: HistoryItem, via?: CommandTarget): Promise<boolean> {
    const args = [
      KEYS.turnState(conversationId, turnId),
      KEYS.history(conversationId),
      KEYS.heard(conversationId),
      KEYS.historyMeta(conversationId),
      field,
      JSON.stringify(item),
      this.o.historyMax,
      this.o.ttlSec,
    ];
    const res = await command(via ?? this.redis, 'recordOnce', args);
    return res === 1;
  }

  /**
   * Shows messages of a turn as unsaved (KEYS.unsaved, on `via`, with the turn's writes) until the database owner
   * has saved them: reads of the conversation include them meanwhile, and a turn redelivered after it was answered
   * (its worker died before queueing them for the database) finds them there.
   */
  holdUnsaved(conversationId: string, messages: Message[], via: TickBatch): void {
    if (!messages.length) return;
    const key = KEYS.unsaved(conversationId);
    void via.send('hset', [key, ...encodeUnsaved(messages)]);
    void via.send('expire', [key, this.o.ttlSec]);
  }

  /** The turn's messages that holdUnsaved() showed and the database owner has not saved yet (unreadable ones skipped). */
  async unsaved(conversationId: string, turnId: string): Promise<Message[]> {
    return decodeUnsaved(await this.redis.hvals(KEYS.unsaved(conversationId))).filter((m) => m.turn_id === turnId);
  }

  /** Stops showing a turn's messages as unsaved (a turn given up: they will not be saved). */
  async forgetUnsaved(conversationId: string, turnId: string): Promise<void> {
    const ids = (await this.unsaved(conversationId, turnId)).map((m) => m.id);
    if (ids.length) await this.redis.hdel(KEYS.unsaved(conversationId), ...ids);
  }

  /** Stores the turn's responders and message ids, or returns the ones an earlier attempt stored. `via`: see characters(). */
  async plan(conversationId: string, turnId: string, plan: PlannedMessage[], via?: CommandTarget): Promise<PlannedMessage[]> {
    const args = [KEYS.turnState(conversationId, turnId), JSON.stringify(plan)];
    const raw = await command<string>(via ?? this.redis, 'planOnce', args);
    return Plan.parse(JSON.parse(raw));
  }
}

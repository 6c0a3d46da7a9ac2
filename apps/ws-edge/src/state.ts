import { encodeEntry, HISTORY_LUA, KEYS, nowMs, STREAMS, type ControlEntry, type HistoryItem, type Message, type ModelSettings, type TranscribeEntry } from '@chorus/contracts';
import type { Store } from '@chorus/store';
import type { Redis } from 'ioredis';
import { readUnsaved } from './unsaved.js';

// KEYS: control stream, cancel key. ARGV: entry json, cut ('' : the entry's own id, or `floor` if later), floor
// → the cut. The cancel key only moves forward: a later interrupt that stops less does not bring back what an
// earlier one cancelled.
const CONTROL = `
local function parts(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function after(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am > bm or (am == bm and as > bs)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', 100, '*', 'e', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
local cut = ARGV[2]
if cut == '' then
  cut = id
  if ARGV[3] ~= '' and after(ARGV[3], id) then cut = ARGV[3] end
end
local cur = redis.call('GET', KEYS[2])
if not cur or after(cut, cur) then redis.call('SET', KEYS[2], cut, 'PX', 86400000) end
return cut
`;

// KEYS: history, history meta, greet flag. ARGV: ttlSec, items… → loads the history only when Redis has none;
// a conversation without any message is flagged so that its first turn begins with the greetings
const LOAD_HISTORY = `${HISTORY_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if #ARGV > 1 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  history_changed(KEYS[1], KEYS[2])
else
  redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
end
return 1
`;

// KEYS: heard hash, history, history meta. ARGV: message id, content, heard json → stores what was heard and,
// when the reply is already in the history, cuts it there too (the llm-worker applies it to a reply recorded later)
const RECORD_HEARD = `${HISTORY_LUA}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], 86400)
local items = redis.call('LRANGE', KEYS[2], -50, -1)
for i = #items, 1, -1 do
  local item = cjson.decode(items[i])
  if item.id == ARGV[1] then
    item.content = ARGV[2]
    redis.call('LSET', KEYS[2], i - #items - 1, cjson.encode(item))
    history_changed(KEYS[2], KEYS[3])
    return 1
  end
end
return 0
`;

/**
 * The edge owns the database; it keeps in Redis what the workers need (characters, a conversation's
 * recent history and settings) and writes the user's turns and interrupts to the streams.
 */
export class EdgeState {
  constructor(
    private readonly redis: Redis,
    private readonly store: Store,
    private readonly o: { historyMax: number; transcribeMaxLen: number },
  ) {
    redis.defineCommand('recordControl', { numberOfKeys: 2, lua: CONTROL });
    redis.defineCommand('loadHistory', { numberOfKeys: 3, lua: LOAD_HISTORY });
    redis.defineCommand('recordHeard', { numberOfKeys: 3, lua: RECORD_HEARD });
  }

  private get r() {
    return this.redis as Redis & Record<string, (...a: unknown[]) => Promise<unknown>>;
  }

  /** Publishes the character and voice snapshot the workers read. */
  async publishCatalog(): Promise<void> {
    const [characters, voices] = await Promise.all([this.store.listCharacters(), this.store.listVoices()]);
    await this.redis.mset(KEYS.characters, JSON.stringify(characters), KEYS.voices, JSON.stringify(voices));
  }

  /** Makes a conversation's history and settings available to the workers. */
  async prepareConversation(conversationId: string, settings: ModelSettings): Promise<void> {
    await this.setSettings(conversationId, settings);
    // Redis already holds the live history (newer than the write-behind database) when it exists.
    if (await this.redis.exists(KEYS.history(conversationId))) return;
    const messages = await this.store.listMessages(conversationId, { limit: this.o.historyMax });
    const items = messages.map((m): string =>
      JSON.stringify({ id: m.id, role: m.role, name: m.name, character_id: m.character_id, content: m.content } satisfies HistoryItem),
    );
    // The script still checks: another edge may have loaded it meanwhile.
    await this.r.loadHistory!(KEYS.history(conversationId), KEYS.historyMeta(conversationId), KEYS.greet(conversationId), 86_400, ...items);
  }

  async setSettings(conversationId: string, settings: ModelSettings): Promise<void> {
    await this.redis.set(KEYS.settings(conversationId), JSON.stringify(settings), 'EX', 86_400);
  }

  /** Drops a deleted conversation's context. Its control stream stays: other edges still read the deletion there. */
  async forgetConversation(conversationId: string): Promise<void> {
    await this.redis.del(KEYS.history(conversationId), KEYS.historyMeta(conversationId), KEYS.settings(conversationId), KEYS.unsaved(conversationId), KEYS.greet(conversationId));
  }

  /** The conversation's messages not yet in the database (see withUnsaved). */
  unsavedMessages(conversationId: string): Promise<Message[]> {
    return readUnsaved(this.redis, conversationId);
  }

  /** Queues a user turn on `transcribe`; returns its stream id (the turn's place in order). */
  async submitTurn(entry: Omit<TranscribeEntry, 'ts'>): Promise<string> {
    const full: TranscribeEntry = { ...entry, ts: nowMs() };
    return (await this.redis.xadd(STREAMS.transcribe, 'MAXLEN', '~', this.o.transcribeMaxLen, '*', ...encodeEntry(full)))!;
  }

  /** The characters' context keeps only what the user heard of an interrupted reply. */
  async recordHeard(conversationId: string, messageId: string, content: string, audioEndMs: number): Promise<void> {
    await this.r.recordHeard!(KEYS.heard(conversationId), KEYS.history(conversationId), KEYS.historyMeta(conversationId), messageId, content, JSON.stringify({ content, audio_end_ms: audioEndMs }));
  }

  /**
   * Records an interrupt or the deletion of the conversation on its control stream: it cancels the turns of the
   * conversation submitted before its cut (ControlEntry: `cut`, else the entry's own id or `floor` if later).
   * Returns the cut.
   */
  async control(type: ControlEntry['type'], entry: Omit<ControlEntry, 'ts' | 'type'>): Promise<string> {
    const full: ControlEntry = { ...entry, type, ts: nowMs() };
    return (await this.r.recordControl!(STREAMS.control(entry.conversation_id), KEYS.cancel(entry.conversation_id), JSON.stringify(full), entry.cut ?? '', entry.floor ?? '')) as string;
  }
}

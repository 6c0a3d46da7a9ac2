import { randomUUID } from 'node:crypto';
import type { Character, HistoryItem, Message, TranscribeEntry } from '@chorus/contracts';
import type { ConversationState, TurnStart } from './state.js';

/** The active characters' greetings (Character Card `first_mes`), in speaking order, as the web app shows them. */
export function greetingsOf(characters: Character[]): HistoryItem[] {
  return characters
    .filter((c) => c.active && c.greeting?.trim())
    .sort((a, b) => a.order - b.order)
    .map((c) => ({ id: randomUUID(), role: 'assistant', name: c.name, character_id: c.id, content: c.greeting!.trim() }));
}

/**
 * A conversation's first turn begins with the greetings its page showed: they go before the user's message in the
 * characters' context (`begun.history`, and the history in Redis for later turns) and are stored just before it.
 * Returns the messages to store: none unless this is the first turn of a conversation new at its opening (or the
 * retry of one, whose earlier attempt put them there).
 */
export async function greet(state: ConversationState, entry: TranscribeEntry, begun: TurnStart, user: Message): Promise<Message[]> {
  let items = begun.greetings;
  if (!items) {
    // Only the user's message in the history: maybe the first turn (the edge flagged the conversation if so).
    if (begun.history.length !== 1 || begun.history[0]!.id !== entry.message_id) return [];
    items = greetingsOf(begun.characters);
    if (!items.length || !(await state.greet(entry.conversation_id, entry.turn_id, items))) return [];
    begun.history.unshift(...items);
  }
  // Dated just before the user's message, so they are listed first.
  const at = Date.parse(user.created_at);
  return items.map((g, i) => ({
    ...g,
    conversation_id: entry.conversation_id,
    turn_id: entry.turn_id,
    interrupted: false,
    audio_end_ms: null,
    created_at: new Date(at - (items.length - i)).toISOString(),
  }));
}

import { decodeUnsaved, KEYS, type Message } from '@chorus/contracts';
import type { Redis } from 'ioredis';

/**
 * Messages the llm-workers have shown as not yet in the database (KEYS.unsaved): a turn's user message while it
 * runs, and all its messages until write-behind saves them. Unreadable entries are skipped.
 */
export async function readUnsaved(redis: Redis, conversationId: string): Promise<Message[]> {
  return decodeUnsaved(await redis.hvals(KEYS.unsaved(conversationId))).filter((m) => m.conversation_id === conversationId);
}

/** Messages saved (or never to be saved) stop showing as unsaved. */
export async function forgetUnsaved(redis: Redis, messages: readonly Message[]): Promise<void> {
  const ids = new Map<string, string[]>();
  for (const m of messages) {
    const list = ids.get(m.conversation_id);
    if (list) list.push(m.id);
    else ids.set(m.conversation_id, [m.id]);
  }
  // One command per conversation: each key may live on its own node of a cluster.
  await Promise.all([...ids].map(([conversationId, list]) => redis.hdel(KEYS.unsaved(conversationId), ...list)));
}

const order = (a: Message, b: Message) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * A conversation's messages: the database's `rows` with the `unsaved` ones added, oldest first as the store
 * orders them (created_at, then id). A message in both is the database's: it may hold only what the user heard
 * of an interrupted reply. Read `unsaved` before `rows`: a message saved in between is then in at least one.
 */
export function withUnsaved(rows: Message[], unsaved: readonly Message[]): Message[] {
  const stored = new Set(rows.map((m) => m.id));
  const added = unsaved.filter((m) => !stored.has(m.id));
  if (!added.length) return rows;
  return [...rows, ...added].sort(order);
}

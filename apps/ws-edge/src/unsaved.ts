import { decodeUnsaved, KEYS, type Message } from '@chorus/contracts';
import type { Redis } from 'ioredis';

/**
 * Messages the llm-workers have shown as not yet in the database (KEYS.unsaved): a turn's user message while it
 * runs, and all its messages until write-behind saves them. Unreadable entries are skipped.
 */
export async function readUnsaved(redis: Redis, conversationId: string): Promise<Message[]> {
  return decodeUnsaved(await redis.hvals(KEYS.unsaved(conversationId))).filter((m) => m.conversation_id === conversationId);
}

/** Messages grouped by their conversation, in order. */
export function byConversation(messages: readonly Message[]): Map<string, Message[]> {
  const groups = new Map<string, Message[]>();
  for (const m of messages) {
    const group = groups.get(m.conversation_id);
    if (group) group.push(m);
    else groups.set(m.conversation_id, [m]);
  }
  return groups;
}

/** Messages saved (or never to be saved) stop showing as unsaved. */
export async function forgetUnsaved(redis: Redis, messages: readonly Message[]): Promise<void> {
  // One command per conversation: each key may live on its own node of a cluster.
  const groups = [...byConversation(messages)];
  await Promise.all(groups.map(([conversationId, group]) => redis.hdel(KEYS.unsaved(conversationId), ...group.map((m) => m.id))));
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

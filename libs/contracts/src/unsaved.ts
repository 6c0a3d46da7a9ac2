import { Message } from './entities.js';

/** The field/value pairs that put `messages` into a conversation's KEYS.unsaved hash (HSET). */
export function encodeUnsaved(messages: readonly Message[]): string[] {
  return messages.flatMap((m) => [m.id, JSON.stringify(m)]);
}

/** The messages of a KEYS.unsaved hash's values (HVALS); unreadable ones are skipped. */
export function decodeUnsaved(values: readonly string[]): Message[] {
  return values.flatMap((json) => {
    try {
      const m = Message.safeParse(JSON.parse(json));
      return m.success ? [m.data] : [];
    } catch {
      return [];
    }
  });
}

import { randomUUID } from 'node:crypto';
import type { Message } from '@chorus/contracts';

/** A valid stored message: a user's, of `conversation_id`, saying `content`, now; `over` changes any field. */
export function testMessage(conversation_id: string, content: string, over: Partial<Message> = {}): Message {
  return {
    id: randomUUID(),
    conversation_id,
    role: 'user',
    name: 'Ann',
    character_id: null,
    content,
    turn_id: null,
    interrupted: false,
    audio_end_ms: null,
    created_at: new Date().toISOString(),
    ...over,
  };
}

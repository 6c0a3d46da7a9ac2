import { KEYS } from '@chorus/contracts';
import { Redis } from 'ioredis';
import { waitUntil } from './wait.js';

/**
 * Resolves once write-behind has saved a conversation's messages: none of them shows as unsaved any more
 * (KEYS.unsaved). Call it after the turns' `turn_finished`, from when all their messages show as unsaved.
 */
export async function waitUntilSaved(redisUrl: string, conversationId: string, timeoutMs = 20_000): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    await waitUntil(async () => (await redis.hlen(KEYS.unsaved(conversationId))) === 0, {
      timeoutMs,
      message: `the messages of conversation ${conversationId} were not saved`,
    });
  } finally {
    redis.disconnect();
  }
}

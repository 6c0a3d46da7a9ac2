import { Character, KEYS, Voice } from '@chorus/contracts';
import type { Redis } from 'ioredis';
import { z } from 'zod';

const Voices = z.array(Voice);
const Characters = z.array(Character);

export interface Casting {
  voice: Voice | null;
  character: Character | null;
}

/**
 * The voices and characters the edge publishes in Redis. Read once per message, so a voice edited in
 * the app is used from the next message on.
 */
export class Catalog {
  constructor(private readonly redis: Redis) {}

  async cast(voiceId: string, characterId: string): Promise<Casting> {
    const [voices, characters] = await this.redis.mget(KEYS.voices, KEYS.characters);
    const voice = voices ? (Voices.parse(JSON.parse(voices)).find((v) => v.id === voiceId) ?? null) : null;
    const character = characters ? (Characters.parse(JSON.parse(characters)).find((c) => c.id === characterId) ?? null) : null;
    return { voice, character };
  }
}

/**
 * Whether a character's `*stage directions*` are spoken: `extensions.chorus.stage_directions` of the
 * character ('skip' | 'speak'), else the worker's default.
 */
export function stageDirections(character: Character | null, skipByDefault: boolean): 'skip' | 'speak' {
  const ext = character?.extensions?.chorus as { stage_directions?: unknown } | undefined;
  if (ext?.stage_directions === 'speak' || ext?.stage_directions === 'skip') return ext.stage_directions;
  return skipByDefault ? 'skip' : 'speak';
}

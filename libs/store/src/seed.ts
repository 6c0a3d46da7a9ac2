import type { CharacterCreate, VoiceCreate } from '@chorus/contracts';

/** Seed data for an empty database (no voices and no characters); ids are stable so seeding twice is harmless. */
export type SeedVoice = VoiceCreate & { id: string; params: Record<string, unknown> };
export type SeedCharacter = CharacterCreate & { id: string };

/** One voice per voice built into flite (the tts-worker's always-available engine). */
export const DEFAULT_VOICES: readonly SeedVoice[] = [
  { id: 'flite-kal16', name: 'Kal (16 kHz)', engine: 'flite', params: { voice: 'kal16' } },
  { id: 'flite-awb', name: 'AWB', engine: 'flite', params: { voice: 'awb' } },
  { id: 'flite-rms', name: 'RMS', engine: 'flite', params: { voice: 'rms' } },
  { id: 'flite-slt', name: 'SLT', engine: 'flite', params: { voice: 'slt' } },
  { id: 'flite-kal', name: 'Kal', engine: 'flite', params: { voice: 'kal' } },
];

/** Two characters with distinct voices, so a fresh install can hold a conversation at once. */
export const DEFAULT_CHARACTERS: readonly SeedCharacter[] = [
  {
    id: 'character-alice',
    name: 'Alice',
    voice_id: 'flite-slt',
    order: 0,
    active: true,
    system_prompt:
      'You are Alice, a warm and curious companion. You speak in short, friendly sentences, ' +
      'ask good follow-up questions and keep your replies to two or three sentences, since they are spoken aloud.',
  },
  {
    id: 'character-bob',
    name: 'Bob',
    voice_id: 'flite-rms',
    order: 1,
    active: true,
    system_prompt:
      'You are Bob, a dry-witted skeptic with a deadpan sense of humour. You are helpful underneath it, ' +
      'but you never gush. Keep your replies short, one or two sentences, since they are spoken aloud.',
  },
];

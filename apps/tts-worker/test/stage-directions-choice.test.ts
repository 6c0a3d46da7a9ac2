import type { Character } from '@chorus/contracts';
import { describe, expect, it } from 'vitest';
import { stageDirections } from '../src/catalog.js';
import { toSpeechText } from '../src/speech-text.js';

const character = (extensions?: Record<string, unknown>): Character => ({
  id: 'c1',
  name: 'Alice',
  system_prompt: '',
  voice_id: null,
  active: true,
  order: 0,
  extensions,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

describe('stage directions are a per-character choice', () => {
  it('follows extensions.chorus.stage_directions, else the worker default', () => {
    expect(stageDirections(character({ chorus: { stage_directions: 'speak' } }), true)).toBe('speak');
    expect(stageDirections(character({ chorus: { stage_directions: 'skip' } }), false)).toBe('skip');
    expect(stageDirections(character({ chorus: { stage_directions: 'loud' } }), true)).toBe('skip');
    expect(stageDirections(character(), false)).toBe('speak');
    expect(stageDirections(null, true)).toBe('skip');
  });

  it('skips or speaks *smiles* accordingly', () => {
    const text = '*smiles warmly* Hello there, traveller.';
    expect(toSpeechText(text, { stageDirections: stageDirections(character(), true) })).not.toMatch(/smiles/);
    expect(toSpeechText(text, { stageDirections: stageDirections(character({ chorus: { stage_directions: 'speak' } }), true) })).toMatch(/smiles warmly/);
  });
});

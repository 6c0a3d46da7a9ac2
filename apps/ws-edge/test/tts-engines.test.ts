import type { TtsEngineInfo } from '@chorus/contracts';
import { describe, expect, it } from 'vitest';
import { mergeEngines } from '../src/tts-engines.js';

const engine = (name: string, available: boolean, voices: string[] = []): TtsEngineInfo => ({
  name,
  available,
  ...(available ? {} : { reason: `${name} is not configured` }),
  voices: voices.map((id) => ({ id, name: id })),
  params: [],
});

describe('merging the engine catalogs of several tts-workers', () => {
  it('keeps one entry per engine, described by a worker that can run it, with the voices of all that can', () => {
    const merged = mergeEngines([
      [engine('flite', true, ['slt', 'rms']), engine('onnx', false)],
      [engine('flite', true, ['rms', 'awb']), engine('onnx', true, ['af_heart'])],
      [engine('onnx', true, ['bf_emma']), engine('openai', false)],
    ]);
    expect(merged.map((e) => e.name)).toEqual(['flite', 'onnx', 'openai']);
    expect(merged[0]!.voices.map((v) => v.id)).toEqual(['slt', 'rms', 'awb']);
    expect(merged[1]).toMatchObject({ available: true, voices: [{ id: 'af_heart' }, { id: 'bf_emma' }] });
    expect(merged[1]!.reason).toBeUndefined();
    expect(merged[2]).toMatchObject({ available: false, reason: 'openai is not configured' });
  });

  it('is empty without workers', () => {
    expect(mergeEngines([])).toEqual([]);
  });
});

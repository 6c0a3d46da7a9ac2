import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as contracts from '../src/index.js';
import * as limits from '../src/limits.js';

const { clientData, CharacterCreate, ListenEntry, ModelSettings, ModelSettingsPatch, PreviewEntry, VoiceCreate } = contracts;
const { DEFAULT_INPUT_SAMPLE_RATE, INPUT_SAMPLE_RATE_RANGE, LIMITS, MAX_FRAME_BYTES, MODEL_SETTINGS_RANGES } = limits;

const ok = (schema: { safeParse(v: unknown): { success: boolean } }, v: unknown) => schema.safeParse(v).success;

describe('@chorus/contracts/limits', () => {
  it('imports nothing, so the browser app can use it without bundling zod', () => {
    const code = readFileSync(new URL('../src/limits.ts', import.meta.url), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/\bimport\b|\bfrom\s*['"]|\brequire\s*\(/);
  });

  it('is a package export with types, next to the main entry', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.exports['./limits']).toEqual({ types: './dist/limits.d.ts', default: './dist/limits.js' });
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
  });

  it('is re-exported unchanged by the main entry', () => {
    expect(contracts.LIMITS).toBe(LIMITS);
    expect(contracts.MODEL_SETTINGS_RANGES).toBe(MODEL_SETTINGS_RANGES);
    expect(contracts.INPUT_SAMPLE_RATE_RANGE).toBe(INPUT_SAMPLE_RATE_RANGE);
    expect(contracts.MAX_FRAME_BYTES).toBe(64 * 1024);
    expect(contracts.DEFAULT_INPUT_SAMPLE_RATE).toBe(DEFAULT_INPUT_SAMPLE_RATE);
  });
});

describe('the schemas enforce the limits exactly', () => {
  const text = (n: number) => 'x'.repeat(n);

  it('text lengths', () => {
    const cases: [string, (n: number) => boolean, number][] = [
      ['user_message.text', (n) => ok(clientData.user_message, { text: text(n) }), LIMITS.userText],
      ['new_conversation.title', (n) => ok(clientData.new_conversation, { title: text(n) }), LIMITS.title],
      ['preview_voice.text', (n) => ok(clientData.preview_voice, { voice_id: 'v', text: text(n) }), LIMITS.previewText],
      ['PreviewEntry.text', (n) => ok(PreviewEntry, { preview_id: 'p', session_id: 's', voice: { id: 'v', name: 'n', engine: 'e', params: {} }, text: text(n), ts: 0 }), LIMITS.previewText],
      ['character name', (n) => ok(CharacterCreate, { name: text(n) }), LIMITS.name],
      ['character system_prompt', (n) => ok(CharacterCreate, { name: 'a', system_prompt: text(n) }), LIMITS.systemPrompt],
      ['character greeting', (n) => ok(CharacterCreate, { name: 'a', greeting: text(n) }), LIMITS.systemPrompt],
      ['voice name', (n) => ok(VoiceCreate, { name: text(n), engine: 'flite' }), LIMITS.name],
      ['model', (n) => ok(ModelSettings, { model: text(n) }), LIMITS.model],
    ];
    for (const [what, accepts, max] of cases) {
      expect(accepts(max), `${what} at ${max}`).toBe(true);
      expect(accepts(max + 1), `${what} at ${max + 1}`).toBe(false);
    }
  });

  it('model settings ranges, in the settings and in a patch', () => {
    for (const [key, r] of Object.entries(MODEL_SETTINGS_RANGES) as [keyof typeof MODEL_SETTINGS_RANGES, limits.NumberRange][]) {
      for (const schema of [ModelSettings, ModelSettingsPatch]) {
        const accepts = (v: number) => ok(schema, { [key]: v });
        expect(accepts(r.max), `${key} = max`).toBe(true);
        expect(accepts(r.max + 0.5), `${key} above max`).toBe(false);
        expect(accepts(r.min), `${key} = min`).toBe(!r.exclusiveMin);
        expect(accepts(r.min - 0.5), `${key} below min`).toBe(false);
        const mid = r.integer ? Math.round((r.min + r.max) / 2) : (r.min + r.max) / 2;
        expect(accepts(mid), `${key} = ${mid}`).toBe(true);
        expect(accepts(mid + 0.25), `${key} = ${mid + 0.25}`).toBe(!r.integer);
      }
    }
  });

  it('microphone sample rates', () => {
    const { min, max } = INPUT_SAMPLE_RATE_RANGE;
    for (const [rate, valid] of [[min, true], [max, true], [DEFAULT_INPUT_SAMPLE_RATE, true], [min - 1, false], [max + 1, false], [16000.5, false]] as const) {
      expect(ok(clientData.start_listening, { sample_rate: rate }), `start_listening ${rate}`).toBe(valid);
      expect(ok(ListenEntry, { conversation_id: 'c', session_id: 's', listen_id: 'l', sample_rate: rate, user_name: 'u', ts: 0 }), `ListenEntry ${rate}`).toBe(valid);
    }
    expect(MAX_FRAME_BYTES).toBe(65536); // PROTOCOL.md: binary frames up to 64 KiB
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TtsEngineInfo } from '@chorus/contracts';
import { buildTinyKokoroModel, type TinyKokoroModel } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineSet, TtsError, type TtsEngineOptions } from '../src/engines/index.js';

let dir: string;
let model: TinyKokoroModel;
const sets: EngineSet[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-catalog-'));
  model = await buildTinyKokoroModel(join(dir, 'model'));
});
afterAll(async () => {
  await Promise.all(sets.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function describeAll(o: Partial<TtsEngineOptions> = {}): Promise<{ set: EngineSet; byName: Record<string, TtsEngineInfo> }> {
  const set = new EngineSet({ threads: 1, onnxProviders: ['cpu'], openaiModel: 'tts-1', ...o });
  sets.push(set);
  const list = await set.describe();
  return { set, byName: Object.fromEntries(list.map((e) => [e.name, e])) };
}

const param = (info: TtsEngineInfo, key: string) => info.params.find((p) => p.key === key)!;

describe('TTS engine catalog', () => {
  it('describes every engine of the table, without loading a model', async () => {
    const { byName } = await describeAll();
    expect(Object.keys(byName).sort()).toEqual(['flite', 'onnx', 'openai']);
    expect(byName.onnx).toMatchObject({ available: false, voices: [] });
    expect(byName.onnx!.reason).toMatch(/ONNX_TTS_MODEL/);
    expect(byName.openai!.available).toBe(false);
    expect(byName.openai!.reason).toMatch(/TTS_OPENAI_BASE_URL/);
    expect(param(byName.openai!, 'model').default).toBe('tts-1');
  });

  it('describing creates no engine: a worker starts only the engines its voices use', async () => {
    const { set, byName } = await describeAll({ onnxModelPath: model.modelPath, onnxVoicesDir: model.voicesDir, openaiBaseUrl: 'http://127.0.0.1:9/v1' });
    expect(Object.values(byName).every((e) => e.available)).toBe(true);
    expect(set.started()).toEqual([]);
    set.get('flite');
    expect(set.started()).toEqual(['flite']);
  });

  it("flite: every described voice and params within the described ranges pass the engine's own validation", async () => {
    const { set, byName } = await describeAll();
    const flite = byName.flite!;
    expect(flite.available).toBe(true);
    const engine = set.get('flite')!;
    const voice = (params: Record<string, unknown>) => ({ id: 'v', name: 'V', engine: 'flite', params });
    expect(param(flite, 'voice').options).toEqual(flite.voices.map((v) => v.id));
    for (const v of flite.voices) expect(() => engine.validate(voice({ voice: v.id }))).not.toThrow();
    for (const key of ['duration_stretch', 'pitch']) {
      const { min, max } = param(flite, key);
      expect(() => engine.validate(voice({ voice: 'kal16', [key]: min }))).not.toThrow();
      expect(() => engine.validate(voice({ voice: 'kal16', [key]: max }))).not.toThrow();
      expect(() => engine.validate(voice({ voice: 'kal16', [key]: max! + 1 }))).toThrow(TtsError);
    }
  });

  it('onnx: the style files of the voices directory are its voices once a model is set', async () => {
    const { set, byName } = await describeAll({ onnxModelPath: model.modelPath, onnxVoicesDir: model.voicesDir });
    const onnx = byName.onnx!;
    expect(onnx.available).toBe(true);
    expect(onnx.reason).toBeUndefined();
    expect(onnx.voices).toEqual([
      { id: 'af_test', name: 'Test (American female)', language: 'en-US' },
      { id: 'bf_test', name: 'Test (British female)', language: 'en-GB' },
    ]);
    expect(param(onnx, 'voice').options).toEqual(['af_test', 'bf_test']);
    expect(() => set.get('onnx')!.validate({ id: 'v', name: 'V', engine: 'onnx', params: { voice: 'bf_test', speed: param(onnx, 'speed').max } })).not.toThrow();

    const missing = await describeAll({ onnxModelPath: join(dir, 'nothing.onnx'), onnxVoicesDir: model.voicesDir });
    expect(missing.byName.onnx).toMatchObject({ available: false });
    expect(missing.byName.onnx!.reason).toMatch(/not found/);
  });

  it('openai: available with a configured endpoint', async () => {
    const { byName } = await describeAll({ openaiBaseUrl: 'http://127.0.0.1:9/v1', openaiModel: 'gpt-4o-mini-tts' });
    expect(byName.openai).toMatchObject({ available: true });
    expect(byName.openai!.voices.map((v) => v.id)).toContain('alloy');
    expect(param(byName.openai!, 'model').default).toBe('gpt-4o-mini-tts');
  });
});

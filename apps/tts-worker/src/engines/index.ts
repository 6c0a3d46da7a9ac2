import type { TtsEngineInfo } from '@chorus/contracts';
import type { TtsEngine, TtsEngineOptions } from './engine.js';
import { createFliteEngine } from './flite.js';
import { createOnnxEngine } from './onnx.js';
import { createOpenAiSpeechEngine } from './openai.js';

export * from './engine.js';

/** TTS engines by the name a voice's `engine` field uses; a new engine is one file plus one line here. */
export const TTS_ENGINES: Record<string, (o: TtsEngineOptions) => TtsEngine> = {
  flite: createFliteEngine,
  onnx: createOnnxEngine,
  openai: createOpenAiSpeechEngine,
};

/** Engines are created on first use or description (neither loads a model) and kept for the process. */
export class EngineSet {
  private readonly live = new Map<string, TtsEngine>();
  constructor(private readonly options: TtsEngineOptions) {}

  /** The engine for a voice's `engine` name, or undefined when no such engine exists. */
  get(name: string): TtsEngine | undefined {
    let engine = this.live.get(name);
    if (!engine && Object.hasOwn(TTS_ENGINES, name)) {
      engine = TTS_ENGINES[name]!(this.options);
      this.live.set(name, engine);
    }
    return engine;
  }

  /** Every engine's description, in table order; an engine that cannot start is listed as unavailable. */
  async describe(): Promise<TtsEngineInfo[]> {
    return Promise.all(
      Object.keys(TTS_ENGINES).map(async (name): Promise<TtsEngineInfo> => {
        try {
          const info = (await this.get(name)!.describe?.()) ?? { available: true, voices: [], params: [] };
          return { name, ...info };
        } catch (err) {
          return { name, available: false, reason: String((err as Error)?.message ?? err), voices: [], params: [] };
        }
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.live.values()].map((e) => e.close()));
    this.live.clear();
  }
}

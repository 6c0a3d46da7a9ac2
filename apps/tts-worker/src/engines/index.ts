import type { TtsEngineInfo } from '@chorus/contracts';
import { TtsError, type TtsEngine, type TtsEngineKind, type TtsEngineOptions, type VoiceSpec } from './engine.js';
import { fliteEngine } from './flite.js';
import { onnxEngine } from './onnx.js';
import { openaiSpeechEngine } from './openai.js';

export * from './engine.js';
export type { OnnxEngine } from './onnx.js';

/** TTS engines by the name a voice's `engine` field uses; a new engine is one file plus one line here. */
export const TTS_ENGINES: Record<string, TtsEngineKind> = {
  flite: fliteEngine,
  onnx: onnxEngine,
  openai: openaiSpeechEngine,
};

/** Engines are created on first use (which loads no model) and kept for the process. */
export class EngineSet {
  private readonly live = new Map<string, TtsEngine>();
  constructor(private readonly options: TtsEngineOptions) {}

  /** The engine for a voice's `engine` name, or undefined when no such engine exists. */
  get(name: string): TtsEngine | undefined {
    let engine = this.live.get(name);
    if (!engine && Object.hasOwn(TTS_ENGINES, name)) {
      engine = TTS_ENGINES[name]!.create(this.options);
      this.live.set(name, engine);
    }
    return engine;
  }

  /** Names of the engines created so far, in order. */
  started(): string[] {
    return [...this.live.keys()];
  }

  /**
   * The engine that speaks `voice`, having accepted it; otherwise throws a TtsError that says why, written
   * for the person who chose the voice (no such engine, params it refuses, an engine that cannot run here).
   */
  forVoice(voice: VoiceSpec): TtsEngine {
    const engine = this.get(voice.engine);
    if (!engine) {
      throw new TtsError(
        'voice_invalid',
        `Voice "${voice.name}" (${voice.id}) uses the TTS engine "${voice.engine}", which the tts-workers do not have: ` +
          `use one of ${Object.keys(TTS_ENGINES).join(', ')} (get_tts_engines describes them).`,
      );
    }
    engine.validate(voice);
    return engine;
  }

  /** Every engine's description, in table order, without creating any; one that cannot run here says why. */
  describe(): Promise<TtsEngineInfo[]> {
    return Promise.all(
      Object.entries(TTS_ENGINES).map(async ([name, kind]): Promise<TtsEngineInfo> => {
        try {
          return { name, ...(await kind.describe(this.options)) };
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

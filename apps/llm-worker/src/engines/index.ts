import type { LlmEngine, LlmEngineOptions } from './engine.js';
import { createOpenAiEngine } from './openai.js';

export * from './engine.js';

/** LLM engines by name (LLM_ENGINE); a new engine is one file plus one line here. */
export const LLM_ENGINES: Record<string, (o: LlmEngineOptions) => LlmEngine> = {
  openai: createOpenAiEngine,
};

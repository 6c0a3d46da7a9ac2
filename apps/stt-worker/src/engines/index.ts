import type { SttWorkerConfig } from '../config.js';
import { SttError, type SttEngine } from './engine.js';
import { createOpenAiSttEngine } from './openai.js';
import { createPocketsphinxEngine } from './pocketsphinx.js';

export * from './engine.js';

/** Engines by the name `STT_ENGINE` selects; a new engine is one file plus one line here. */
export const STT_ENGINES: Record<string, (c: SttWorkerConfig) => SttEngine> = {
  pocketsphinx: (c) => createPocketsphinxEngine({ binary: c.POCKETSPHINX_BIN, modelDir: c.POCKETSPHINX_MODEL_DIR, endpointMs: c.POCKETSPHINX_ENDPOINT_MS }),
  openai: (c) => {
    if (!c.STT_OPENAI_BASE_URL) throw new SttError('engine_unavailable', 'STT_ENGINE=openai needs STT_OPENAI_BASE_URL');
    return createOpenAiSttEngine({ baseUrl: c.STT_OPENAI_BASE_URL, apiKey: c.STT_OPENAI_API_KEY, model: c.STT_OPENAI_MODEL, language: c.STT_LANGUAGE });
  },
};

export function createSttEngine(config: SttWorkerConfig): SttEngine {
  const make = STT_ENGINES[config.STT_ENGINE];
  if (!make) throw new SttError('engine_unavailable', `STT_ENGINE "${config.STT_ENGINE}" is not one of ${Object.keys(STT_ENGINES).join(', ')}`);
  return make(config);
}

import { KEYS, TtsEngineInfo } from '@chorus/contracts';
import { liveWorkers } from '@chorus/runtime';
import type { Redis } from 'ioredis';
import { z } from 'zod';

const Catalog = z.array(TtsEngineInfo);

/** The TTS engines of the live tts-workers, from the catalogs they publish (`ttsengines:<worker>`); [] when none runs. */
export async function readTtsEngines(redis: Redis): Promise<TtsEngineInfo[]> {
  const workers = await liveWorkers(redis, 'tts');
  if (!workers.length) return [];
  const raw = await redis.mget(...workers.map((w) => KEYS.ttsEngines(w)));
  return mergeEngines(raw.flatMap((json) => (json ? parseCatalog(json) : [])));
}

function parseCatalog(json: string): TtsEngineInfo[][] {
  try {
    return [Catalog.parse(JSON.parse(json))];
  } catch {
    return []; // a worker of another version: its engines are left out rather than failing the request
  }
}

/**
 * One entry per engine: described by a worker that can run it (else the first that lists it), with the
 * voices of every worker that can — workers may have different voice files.
 */
export function mergeEngines(catalogs: TtsEngineInfo[][]): TtsEngineInfo[] {
  const merged = new Map<string, TtsEngineInfo>();
  for (const engine of catalogs.flat()) {
    const seen = merged.get(engine.name);
    if (!seen || (engine.available && !seen.available)) merged.set(engine.name, engine);
    else if (engine.available) {
      const ids = new Set(seen.voices.map((v) => v.id));
      merged.set(engine.name, { ...seen, voices: [...seen.voices, ...engine.voices.filter((v) => !ids.has(v.id))] });
    }
  }
  return [...merged.values()];
}

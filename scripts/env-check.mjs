// The .env file, as `npm start` reads it, and the names in it that no app reads. The apps' config loaders
// only look at the names they know, so a misspelt name (LLM_MODLE=…) would otherwise be ignored without a word.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { editDistance } from './edit-distance.mjs';

/** Each app and the export of its dist/config.js that holds its env schema (keys = variable names). */
const APP_ENVS = { 'ws-edge': 'edgeEnv', 'llm-worker': 'llmWorkerEnv', 'stt-worker': 'sttWorkerEnv', 'tts-worker': 'ttsWorkerEnv' };

/** KEY=value lines of a .env text, in order (`export` and quotes allowed; comments and blank lines skipped). */
export function parseDotEnv(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const m = raw.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/);
    if (!m || raw.trim().startsWith('#')) continue;
    out.push([m[1], m[2].replace(/^(['"])(.*)\1$/, '$2')]);
  }
  return out;
}

/** Every variable some app's config reads, from the built apps under `root` (apps not built are skipped). */
export async function knownEnvNames(root) {
  const names = new Set();
  for (const [app, exported] of Object.entries(APP_ENVS)) {
    const file = path.join(root, 'apps', app, 'dist', 'config.js');
    if (!existsSync(file)) continue;
    const mod = await import(pathToFileURL(file).href);
    for (const name of Object.keys(mod[exported] ?? {})) names.add(name);
  }
  return names;
}

/** One line per name that no app reads, with the known name it is probably a typo of, if one is close. */
export function unknownNames(names, known) {
  return names
    .filter((n) => !known.has(n))
    .map((n) => {
      const near = [...known].map((k) => [k, editDistance(n, k)]).sort((a, b) => a[1] - b[1])[0];
      return near && near[1] <= 2 ? `${n} (did you mean ${near[0]}?)` : n;
    });
}

/** Lines for `npm start` to print about `file`: empty when every name in it is one an app reads. */
export async function dotEnvWarnings(root, file) {
  if (!existsSync(file)) return [];
  const unknown = unknownNames(parseDotEnv(readFileSync(file, 'utf8')).map(([k]) => k), await knownEnvNames(root));
  return unknown.map((u) => `warning: ${path.basename(file)} sets ${u}, which no app reads; it has no effect`);
}

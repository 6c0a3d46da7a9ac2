/**
 * `npm start` warns about names in .env that no app reads (the config loaders ignore them, so a typo would
 * pass without a word), and never about a setting that .env.example documents.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dotEnvWarnings, knownEnvNames, parseDotEnv, unknownNames } from '../scripts/env-check.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'env-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('.env checks of npm start', () => {
  it('parses KEY=value lines, skipping comments and blank lines, with export and quotes', () => {
    const text = ['# LLM_MODEL=commented', '', 'export PORT=8081', 'LLM_MODEL="openai/gpt-4o-mini"', "EDGE_TOKEN='s3cret'", 'not a line'].join('\n');
    expect(parseDotEnv(text)).toEqual([
      ['PORT', '8081'],
      ['LLM_MODEL', 'openai/gpt-4o-mini'],
      ['EDGE_TOKEN', 's3cret'],
    ]);
  });

  it('knows every setting .env.example documents, commented out or not', async () => {
    const known: Set<string> = await knownEnvNames(root);
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const documented = [...example.matchAll(/^\s*#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(documented.length).toBeGreaterThan(10);
    expect(documented.filter((n) => !known.has(n))).toEqual([]);
  });

  it('names a misspelt variable with the one it is probably a typo of, and leaves known ones alone', async () => {
    const known: Set<string> = await knownEnvNames(root);
    expect(unknownNames(['LLM_MODLE', 'PORT', 'REDIS_URL', 'COMPLETELY_UNRELATED'], known)).toEqual([
      'LLM_MODLE (did you mean LLM_MODEL?)',
      'COMPLETELY_UNRELATED',
    ]);
  });

  it('warns once per unknown name in the file, and not at all for a clean file', async () => {
    const bad = path.join(dir, 'bad.env');
    writeFileSync(bad, 'PORT=8081\nREDIS_ULR=redis://127.0.0.1:6380\n');
    expect(await dotEnvWarnings(root, bad)).toEqual([
      'warning: bad.env sets REDIS_ULR (did you mean REDIS_URL?), which no app reads; it has no effect',
    ]);
    const good = path.join(dir, 'good.env');
    writeFileSync(good, 'PORT=8081\nLLM_API_KEY=sk-test\n');
    expect(await dotEnvWarnings(root, good)).toEqual([]);
    expect(await dotEnvWarnings(root, path.join(dir, 'missing.env'))).toEqual([]);
  });
});

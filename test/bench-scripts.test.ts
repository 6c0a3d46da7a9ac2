/**
 * The bench scripts are plain JavaScript that no test runs (they take minutes), so they drift silently when an
 * app's API changes: `npm run bench` once stopped at its TTS engine section because the engine table's
 * entries had become objects. Type-checking them (JSDoc, against the built packages' declarations) catches
 * that drift in the test run.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

it('the bench scripts type-check against the current APIs of the apps and the test kit', () => {
  const r = spawnSync(process.execPath, [tsc, '-p', 'bench/tsconfig.json'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});

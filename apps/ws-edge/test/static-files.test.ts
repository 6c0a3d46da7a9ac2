import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStack, type Stack } from '@chorus/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let webDir: string;
let stack: Stack;
beforeAll(async () => {
  webDir = await mkdtemp(path.join(tmpdir(), 'chorus-web-'));
  await writeFile(path.join(webDir, 'index.html'), '<!doctype html><title>chorus</title>');
  // Stats as a file but cannot be read (sparse, over readFile's 2 GiB limit): like a file that vanishes or
  // hits EMFILE between the stat and the read, only deterministic.
  await writeFile(path.join(webDir, 'unreadable.bin'), '');
  await truncate(path.join(webDir, 'unreadable.bin'), 3 * 2 ** 30);
  stack = await startStack({ llmWorkers: 0, env: { WEB_DIR: webDir } });
});
afterAll(async () => {
  await stack?.stop();
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

describe('static files of the web app', () => {
  it('a file that fails to read after its stat answers 500, and the edge keeps serving', async () => {
    const edge = stack.edges[0]!;
    const failed = await fetch(`${edge.url}/unreadable.bin`);
    expect(failed.status).toBe(500);
    await failed.arrayBuffer();

    const page = await fetch(`${edge.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-length')).toBe(String('<!doctype html><title>chorus</title>'.length));
    expect(await page.text()).toContain('<title>chorus</title>');
    expect((await fetch(`${edge.url}/healthz`)).status).toBe(200);
    expect(edge.proc.exitCode).toBeNull();
  });
});

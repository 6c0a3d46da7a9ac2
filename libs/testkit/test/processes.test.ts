import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, spawnApp, spawnScript, stopAll } from '../src/processes.js';

let dir: string;
let script: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'testkit-proc-'));
  script = join(dir, 'app.mjs');
  writeFileSync(
    script,
    `
    if (process.env.MODE === 'graceful') process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
    console.log(JSON.stringify({ level: 30, msg: 'listening', port: Number(process.env.PORT) }));
    console.error('to stderr ' + process.env.GREETING);
    for (let i = 0; i < 2100; i++) console.log('line ' + i);
    console.log('all lines written');
    if (process.env.MODE === 'crash') setTimeout(() => process.exit(3), 10);
    else setInterval(() => {}, 1000);
    `,
  );
});
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('spawnScript / spawnApp', () => {
  it('finds the repo root', () => {
    expect(existsSync(join(repoRoot, 'nx.json'))).toBe(true);
  });

  it('merges env, collects stdout+stderr (bounded), waits for logs, kills with SIGTERM', async () => {
    const p = spawnScript(script, { PORT: '1234', GREETING: 'hi', MODE: 'graceful' }, { name: 'fake' });
    expect(p.name).toBe('fake');
    const line = await p.waitForLog(/"msg":"listening"/);
    expect(JSON.parse(line)).toMatchObject({ msg: 'listening', port: 1234 });
    await p.waitForLog(/^to stderr hi$/);
    await p.waitForLog(/all lines written/g);
    expect(p.logs.length).toBeLessThanOrEqual(2000);
    expect(p.logs).not.toContain('line 0');
    expect(p.logs).toContain('line 2099');
    expect(await p.kill()).toBe(0);
    expect(p.logs).toContain('bye');
    expect(await p.exited).toBe(0);
    expect(await p.kill()).toBe(0); // already exited: same code
  });

  it('reports a crash exit code and rejects waitForLog once the process is gone', async () => {
    const p = spawnScript(script, { MODE: 'crash' });
    expect(await p.exited).toBe(3);
    await expect(p.waitForLog(/never printed/)).rejects.toThrow(/exited \(code 3\)/);
  });

  it('waitForLog times out with the last lines', async () => {
    const p = spawnScript(script, {});
    await p.waitForLog(/all lines written/);
    await expect(p.waitForLog(/never printed/, 300)).rejects.toThrow(/no match after 300 ms[\s\S]*all lines written/);
    expect(await p.kill('SIGKILL')).toBeNull();
  });

  it('stopAll kills every live process', async () => {
    const ps = [spawnScript(script, {}), spawnScript(script, { MODE: 'graceful' })];
    await Promise.all(ps.map((p) => p.waitForLog(/listening/)));
    await stopAll();
    expect(await ps[0].exited).toBeNull(); // default SIGTERM handling
    expect(await ps[1].exited).toBe(0);
    expect(ps.every((p) => p.proc.exitCode !== null || p.proc.signalCode !== null)).toBe(true);
  });

  it('spawnApp runs apps/<app>/dist/main.js and says so when it is not built', () => {
    const main = join(repoRoot, 'apps', 'stt-worker', 'dist', 'main.js');
    if (existsSync(main)) return; // built in this checkout; nothing to check without a full stack
    expect(() => spawnApp('stt-worker', {})).toThrow(/apps\/stt-worker\/dist\/main\.js does not exist/);
  });
});

import { describe, expect, it } from 'vitest';
import { sleep, waitUntil } from '../src/wait.js';
import { freePort } from '../src/ports.js';

describe('wait helpers', () => {
  it('waitUntil resolves once the condition holds (sync or async)', async () => {
    let n = 0;
    await waitUntil(() => ++n >= 3, { intervalMs: 1 });
    expect(n).toBe(3);
    let m = 0;
    await waitUntil(async () => {
      await sleep(1);
      return ++m >= 2;
    });
    expect(m).toBe(2);
  });

  it('waitUntil rejects with the message and the last error', async () => {
    await expect(waitUntil(() => false, { timeoutMs: 30, message: 'never' })).rejects.toThrow(/^never after 30 ms$/);
    await expect(
      waitUntil(
        () => {
          throw new Error('inner');
        },
        { timeoutMs: 30 },
      ),
    ).rejects.toThrow(/last error: inner/);
  });

  it('freePort gives a usable port', async () => {
    const p = await freePort();
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(65536);
  });
});

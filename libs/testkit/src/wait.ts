export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitUntilOptions {
  /** Default 10000. */
  timeoutMs?: number;
  /** Default 25. */
  intervalMs?: number;
  /** Prefix of the error thrown on timeout. */
  message?: string;
}

/**
 * Polls `fn` until it returns (or resolves to) true. A throwing `fn` counts as false; its last error is
 * quoted in the timeout error. Rejects after `timeoutMs`.
 */
export async function waitUntil(fn: () => boolean | Promise<boolean>, opts: WaitUntilOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await fn()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
  const base = opts.message ?? 'waitUntil: condition not met';
  const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`${base} after ${timeoutMs} ms${cause}`);
}

import type { ChatRequest, LlmEngine } from './engines/index.js';
import { LlmError } from './engines/index.js';

export interface RetryPolicy {
  /** Extra attempts after the first (default 2). */
  retries: number;
  /** First backoff; doubles each attempt, with jitter (default 300 ms). */
  baseDelayMs: number;
}

/**
 * Streams a reply, retrying retryable failures with backoff — but only while no token has been sent,
 * because a half-sent reply cannot be taken back from the listener.
 */
export async function* streamWithRetry(
  engine: LlmEngine,
  request: ChatRequest,
  policy: RetryPolicy,
  onRetry?: (err: LlmError, attempt: number) => void,
): AsyncIterable<string> {
  for (let attempt = 0; ; attempt++) {
    let sent = false;
    try {
      for await (const delta of engine.stream(request)) {
        sent = true;
        yield delta;
      }
      return;
    } catch (err) {
      const retryable = err instanceof LlmError && err.retryable;
      if (sent || !retryable || attempt >= policy.retries || request.signal.aborted) throw err;
      onRetry?.(err, attempt + 1);
      const delay = policy.baseDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
      await abortableSleep(delay, request.signal);
      request.signal.throwIfAborted(); // an interrupt during the backoff ends the reply, no new request
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

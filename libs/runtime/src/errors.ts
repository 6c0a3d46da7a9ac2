/** The innermost readable reason of a (fetch) error, e.g. "connect ECONNREFUSED 127.0.0.1:1234". */
export function describeCause(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    const cause = (e as { cause?: unknown }).cause;
    if (!cause || typeof cause !== 'object') break;
    e = cause;
  }
  if (e && typeof e === 'object') {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof message === 'string' && message) return message;
    if (typeof code === 'string') return code;
  }
  return typeof e === 'string' ? e : undefined;
}

/** The server's own message in an HTTP API error (the `openai` client's APIError), shortened. */
export function apiMessage(err: { error?: unknown; message?: string }): string {
  const e = err.error as { message?: string } | string | undefined;
  const msg = typeof e === 'string' ? e : (e?.message ?? err.message ?? '');
  return msg.slice(0, 300) || 'no details';
}

/**
 * A signal aborted when any of `signals` is (with that signal's reason), until `dispose()` detaches it.
 * For per-turn use instead of AbortSignal.any, which registers each composite for finalization: V8's
 * minor GC keeps such objects (and what hangs off them) alive until a full GC, lengthening every minor
 * GC pause of a busy worker.
 */
export function linkedSignal(...signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const listeners = signals.map((s) => {
    const onAbort = () => controller.abort(s.reason);
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener('abort', onAbort, { once: true });
    return () => s.removeEventListener('abort', onAbort);
  });
  return { signal: controller.signal, dispose: () => listeners.forEach((detach) => detach()) };
}

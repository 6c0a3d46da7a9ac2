import { linkedSignal } from '@chorus/runtime';
import { describe, expect, it } from 'vitest';

describe('linkedSignal', () => {
  it('aborts when any source aborts, with that source reason', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkedSignal(a.signal, b.signal);
    expect(linked.signal.aborted).toBe(false);
    const reason = new Error('interrupted');
    b.abort(reason);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe(reason);
    linked.dispose();
  });

  it('starts aborted when a source already is', () => {
    const a = new AbortController();
    a.abort('stopped');
    const linked = linkedSignal(new AbortController().signal, a.signal);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('stopped');
    linked.dispose();
  });

  it('after dispose() a source abort no longer reaches it', () => {
    const a = new AbortController();
    let calls = 0;
    const linked = linkedSignal(a.signal);
    linked.signal.addEventListener('abort', () => calls++);
    linked.dispose();
    a.abort();
    expect(linked.signal.aborted).toBe(false);
    expect(calls).toBe(0);
  });
});

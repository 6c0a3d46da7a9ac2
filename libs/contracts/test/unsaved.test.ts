import { describe, expect, it } from 'vitest';
import { decodeUnsaved, encodeUnsaved, type Message } from '../src/index.js';

const message = (id: string, content: string): Message => ({
  id,
  conversation_id: 'c1',
  role: 'assistant',
  name: 'Alice',
  character_id: 'alice',
  content,
  turn_id: 't1',
  interrupted: false,
  audio_end_ms: null,
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('the unsaved messages hash', () => {
  it('round-trips messages by id, and skips values that are not JSON messages', () => {
    const pairs = encodeUnsaved([message('m1', 'Hello.'), message('m2', 'Again.')]);
    expect(pairs.filter((_, i) => i % 2 === 0)).toEqual(['m1', 'm2']);
    const values = pairs.filter((_, i) => i % 2 === 1);
    expect(decodeUnsaved(['{not json', ...values, JSON.stringify({ id: 'm3' })])).toEqual([message('m1', 'Hello.'), message('m2', 'Again.')]);
  });
});
